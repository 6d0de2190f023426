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

_jobs: dict[str, tuple[int, Job, float]] = {}

# Housekeeping (purges, anchors) runs at most this often per worker process: while the
# outbox is busy a round follows a round, and these need not follow every batch.
HOUSEKEEPING_SECONDS = 60.0


def register(name: str, job: Job, *, order: int, every: float = 0.0) -> None:
    """Adds a job, run at every round, or at most once every `every` seconds; registering
    the same name again replaces it (ready() may run twice)."""
    _jobs[name] = (order, job, every)


def registered() -> list[tuple[str, Job]]:
    ranked = sorted(_jobs.items(), key=lambda item: (item[1][0], item[0]))
    return [(name, job) for name, (_order, job, _every) in ranked]


def interval(name: str) -> float:
    """The least time between two runs of the job in one process (0: every round)."""
    return _jobs[name][2]
