from django.apps import AppConfig


class PatientAccessConfig(AppConfig):
    name = "relais.patient_access"
    label = "patient_access"
