from django.apps import AppConfig


class PatientAccessConfig(AppConfig):
    name = "relais.patient_access"
    label = "patient_access"

    def ready(self):
        from relais.crypto.rotation import DigestColumn, register_digest_column
        from relais.lib import jobs
        from relais.patient_access.links import (
            forget_purged_patients,
            notify_on_correction,
            notify_on_validation,
        )
        from relais.patient_access.models import ResultLink
        from relais.patient_access.notify import send_due_notifications
        from relais.screening.signals import (
            patients_purged,
            test_corrected,
            tests_validated,
        )

        tests_validated.connect(notify_on_validation, dispatch_uid="patient_access.notify")
        test_corrected.connect(notify_on_correction, dispatch_uid="patient_access.correction")
        patients_purged.connect(forget_purged_patients, dispatch_uid="patient_access.purge")
        jobs.register("patient notifications", send_due_notifications, order=10)
        # Slip codes are keyed with the blind-index PRF and cannot be recomputed: `keys
        # drop-old` keeps their key while the links live.
        register_digest_column(
            DigestColumn(
                ResultLink, "code_digest", expiry="RELAIS_PATIENT_LINK_DAYS after the slip"
            )
        )
