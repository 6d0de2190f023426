from django.apps import AppConfig


class RelaisConfig(AppConfig):
    """The project itself, for its project-wide commands (demo)."""

    name = "relais"
    label = "relais"
