from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "relais.screening"
    label = "screening"

    def ready(self):
        from relais.lib import jobs
        from relais.screening.retention import purge_if_due

        jobs.register("retention purge", purge_if_due, order=50, every=jobs.HOUSEKEEPING_SECONDS)
