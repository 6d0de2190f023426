from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "relais.accounts"
    label = "accounts"

    def ready(self):
        from relais.accounts import mail, signals  # noqa: F401  (registers them)
        from relais.lib import jobs

        jobs.register("account e-mails", mail.send_due, order=20)
