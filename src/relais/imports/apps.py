from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "relais.imports"
    label = "imports"

    def ready(self):
        from relais.crypto.rotation import BlobColumn, register_blob_column
        from relais.imports.bulk_import import check_next, chunk_row_ad, import_next, purge_expired
        from relais.imports.models import ImportChunk
        from relais.lib import jobs

        # After the messages owed to others (SI-DEP, e-mails, webhooks), before the
        # housekeeping.
        jobs.register("import checks", check_next, order=35)
        jobs.register("imports", import_next, order=36)
        jobs.register(
            "expired import batches", purge_expired, order=60, every=jobs.HOUSEKEEPING_SECONDS
        )
        # Checked rows wait encrypted under the data keys: `keys rotate` re-encrypts them
        # and `keys drop-old` keeps their key while a batch waits.
        register_blob_column(BlobColumn(ImportChunk, "content", chunk_row_ad))
