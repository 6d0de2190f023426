"""The background worker: one loop that runs each job in turn.

Each app registers its own jobs (relais.lib.jobs, from its AppConfig.ready), so this
module imports no app. Each job claims due rows from the database, does a bounded amount
of work and returns how many rows it handled, so any number of workers can run side by
side (healthchecks style). A job that raises is logged and retried on the next round; it
never stops the loop.
"""

import logging
import time
from collections.abc import Callable

from relais.lib import jobs

log = logging.getLogger(__name__)


def run_round() -> int:
    done = 0
    for name, job in jobs.registered():
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
