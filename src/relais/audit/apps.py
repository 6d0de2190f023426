from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "relais.audit"
    label = "audit"

    def ready(self):
        from relais import checks  # noqa: F401  (registers the deployment checks)
        from relais.audit.anchors import anchor_if_due
        from relais.audit.chain import chain_pending
        from relais.lib import jobs

        # Last: it links the events the round's other jobs have just written.
        jobs.register("audit chain", chain_pending, order=90)
        # After the chaining, so the anchor holds the current head.
        jobs.register("audit anchor", anchor_if_due, order=91, every=jobs.HOUSEKEEPING_SECONDS)
