from django.apps import AppConfig


class TransmissionConfig(AppConfig):
    name = "relais.transmission"
    label = "transmission"
