"""The worker's jobs, registered by the app that owns each one (in its AppConfig.ready),
so the worker imports no app.

A job takes no argument, does a bounded amount of work and returns how many rows it
handled (0 when there was nothing to do). The worker runs them by `order`, then name,
so every process runs them in the same order whatever the import order: messages owed
to others first (SI-DEP at 0), housekeeping after, the audit chain last (it then links
the events the other jobs of the round wrote).
"""

from collections.abc import Callable

Job = Callable[[], int]

_jobs: dict[str, tuple[int, Job]] = {}


def register(name: str, job: Job, *, order: int) -> None:
    """Adds a job; registering the same name again replaces it (ready() may run twice)."""
    _jobs[name] = (order, job)


def registered() -> list[tuple[str, Job]]:
    ranked = sorted(_jobs.items(), key=lambda item: (item[1][0], item[0]))
    return [(name, job) for name, (order, job) in ranked]
