from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "relais.api"
    label = "api"

    def ready(self):
        from relais.api.idempotency import purge_expired
        from relais.api.models import IdempotencyKey
        from relais.crypto.rotation import DigestColumn, register_digest_column
        from relais.lib import jobs

        jobs.register(
            "expired idempotency keys", purge_expired, order=60, every=jobs.HOUSEKEEPING_SECONDS
        )
        # Request digests are keyed with the blind-index PRF and cannot be recomputed:
        # `keys drop-old` keeps their key until they expire.
        register_digest_column(
            DigestColumn(IdempotencyKey, "request_hash", expiry="24 hours after the request")
        )
