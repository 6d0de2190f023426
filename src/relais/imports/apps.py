from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "relais.imports"
    label = "imports"

    def ready(self):
        from relais.imports.bulk_import import purge_expired
        from relais.lib import jobs

        jobs.register("expired import batches", purge_expired, order=60)
