from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "relais.accounts"
    label = "accounts"

    def ready(self):
        from relais.accounts import signals  # noqa: F401  (registers them)
