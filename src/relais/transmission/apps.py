from django.apps import AppConfig


class TransmissionConfig(AppConfig):
    name = "relais.transmission"
    label = "transmission"

    def ready(self):
        from relais.lib import jobs
        from relais.screening import signals
        from relais.transmission import outbox
        from relais.transmission.alerts import alert_new_dead_letters
        from relais.transmission.worker import send_due

        jobs.register("transmission", send_due, order=0)  # first: SI-DEP is a legal duty
        # Before the account e-mails (20), so the alert leaves in the same round.
        jobs.register("dead-letter alerts", alert_new_dead_letters, order=15)

        signals.tests_validated.connect(outbox.on_tests_validated, dispatch_uid="transmission.new")
        signals.test_corrected.connect(
            outbox.on_test_corrected, dispatch_uid="transmission.correction"
        )
        signals.test_cancelled.connect(
            outbox.on_test_cancelled, dispatch_uid="transmission.cancellation"
        )
        signals.patient_corrected.connect(
            outbox.on_patient_corrected, dispatch_uid="transmission.patient_correction"
        )
        signals.patients_purged.connect(
            outbox.on_patients_purged, dispatch_uid="transmission.purge"
        )
