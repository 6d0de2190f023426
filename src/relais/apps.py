from django.apps import AppConfig
from django.db.backends.signals import connection_created


class RelaisConfig(AppConfig):
    """The project itself, for its project-wide commands (demo) and process-wide hooks."""

    name = "relais"
    label = "relais"

    def ready(self) -> None:
        from relais.lib.database import bound_statements

        # Every PostgreSQL statement of every process gets a client-side deadline.
        connection_created.connect(bound_statements, dispatch_uid="relais.bound_statements")
