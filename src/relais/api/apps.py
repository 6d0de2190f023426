from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "relais.api"
    label = "api"

    def ready(self):
        from relais.api import webhooks
        from relais.api.idempotency import purge_expired
        from relais.api.models import IdempotencyKey
        from relais.crypto.rotation import DigestColumn, register_digest_column
        from relais.lib import jobs
        from relais.transmission.services import transmissions_settled

        jobs.register(
            "expired idempotency keys", purge_expired, order=60, every=jobs.HOUSEKEEPING_SECONDS
        )
        # After the SI-DEP batch (0), so an acknowledgement is announced in the same round.
        jobs.register("webhooks", webhooks.deliver_due, order=30)
        jobs.register(
            "old webhook deliveries",
            webhooks.purge_done,
            order=60,
            every=jobs.HOUSEKEEPING_SECONDS,
        )
        transmissions_settled.connect(
            webhooks.on_transmissions_settled, dispatch_uid="api.webhooks"
        )
        # Request digests are keyed with the blind-index PRF and cannot be recomputed:
        # `keys drop-old` keeps their key until they expire.
        register_digest_column(
            DigestColumn(IdempotencyKey, "request_hash", expiry="24 hours after the request")
        )
