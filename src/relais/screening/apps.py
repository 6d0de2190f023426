from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "relais.screening"
    label = "screening"
