from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "relais.accounts"
    label = "accounts"

    def ready(self):
        from relais.accounts import drafts, mail, signals  # noqa: F401  (registers them)
        from relais.accounts.models import FormDraft
        from relais.crypto.rotation import BlobColumn, register_blob_column
        from relais.lib import jobs

        jobs.register("account e-mails", mail.send_due, order=20)
        jobs.register(
            "expired form drafts", drafts.purge_expired, order=60, every=jobs.HOUSEKEEPING_SECONDS
        )
        # Drafts wait encrypted under the data keys: `keys rotate` re-encrypts them and
        # `keys drop-old` keeps their key while one waits.
        register_blob_column(BlobColumn(FormDraft, "content", drafts.draft_row_ad))
