from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "relais.accounts"
    label = "accounts"

    def ready(self):
        from relais.accounts import drafts, mail, signals  # noqa: F401  (registers them)
        from relais.lib import jobs

        jobs.register("account e-mails", mail.send_due, order=20)
        jobs.register("expired form drafts", drafts.purge_expired, order=60)
