from django.apps import AppConfig


class BackupConfig(AppConfig):
    name = "relais.backup"
    label = "backup"
