from django.apps import AppConfig


class CryptoConfig(AppConfig):
    name = "relais.crypto"
    label = "crypto"
