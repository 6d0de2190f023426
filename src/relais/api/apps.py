from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "relais.api"
    label = "api"

    def ready(self):
        from relais.api.idempotency import purge_expired
        from relais.lib import jobs

        jobs.register("expired idempotency keys", purge_expired, order=60)
