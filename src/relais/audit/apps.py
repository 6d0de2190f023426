from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "relais.audit"
    label = "audit"

    def ready(self):
        from relais import checks  # noqa: F401  (registers the deployment checks)
