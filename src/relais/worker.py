"""The background worker: one loop that runs each job in turn.

Each job claims due rows from the database, does a bounded amount of work and returns
how many rows it handled, so any number of workers can run side by side (healthchecks
style). A job that raises is logged and retried on the next round; it never stops the
loop.
"""

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def jobs() -> list[tuple[str, Callable[[], int]]]:
    """The jobs, in the order each round runs them. Apps add their entry here."""
    from relais.api.idempotency import purge_expired as purge_idempotency_keys
    from relais.audit.chain import chain_pending
    from relais.imports.bulk_import import purge_expired as purge_import_batches
    from relais.patient_access.notify import send_due_notifications
    from relais.screening.retention import purge_if_due
    from relais.transmission.worker import send_due

    return [
        ("transmission", send_due),
        ("patient notifications", send_due_notifications),
        ("audit chain", chain_pending),
        ("retention purge", purge_if_due),
        ("expired idempotency keys", purge_idempotency_keys),
        ("expired import batches", purge_import_batches),
    ]


def run_round() -> int:
    done = 0
    for name, job in jobs():
        try:
            done += job()
        except Exception:
            # The traceback names code, not data: jobs must not put personal data in errors.
            log.exception("worker job %s failed", name)
    return done


def run_forever(idle_seconds: float, should_stop: Callable[[], bool]) -> None:
    while not should_stop():
        if run_round() == 0:
            time.sleep(idle_seconds)
