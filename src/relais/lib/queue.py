"""A work queue kept in a database table: claim due rows under a lease, retry with
backoff, dead-letter after too many attempts.

A worker claims rows in one short transaction: it sets their state to "claimed", a
claim token and a lease end (claimed_until), and counts the attempt. On PostgreSQL the
claim query uses FOR UPDATE SKIP LOCKED, so any number of workers share a queue without
ever holding the same row; on SQLite the claim transaction takes the database's single
write lock, which serialises claims the same way. The work itself happens outside any
transaction; its outcome is written only to rows still held under the claim's token. A
worker that dies loses its rows when the lease passes: they are claimed again (a new
attempt) or, if that was their last attempt, dead-lettered.

Each model inherits `QueuedRow` (the engine's fields), keeps its own `state` field and
choices, and describes itself with a `Queue` (its state names, limits and timings).
`last_error` holds a stable code from the model's `Error` choices, never a sentence and
never an exception's text (which could quote personal data); it is worded when shown.

Every `now` given to this module is the database's clock (relais.lib.clock.database_now(),
read once per claim and once per outcome), never the host's: what is due, when a lease
lapses and when a retry falls due must not move when one worker's clock jumps.
"""

import datetime
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

log = logging.getLogger(__name__)

# The code every queue uses for a row whose worker died holding it on its last attempt
# (each model's Error choices include it, with this wording).
LEASE_LOST = "lease_lost"
LEASE_LOST_TEXT = gettext_lazy("A worker stopped while handling it too many times")


class QueuedRow(models.Model):
    """The fields the engine reads and writes. Subclasses add `state` and `Error`."""

    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Lease: a worker that dies holding a row loses it when this time passes.
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    # A code from the model's Error choices (never personal data), and the HTTP status
    # that came with it, if any.
    last_error = models.CharField(max_length=200, blank=True)
    last_error_status = models.PositiveSmallIntegerField(null=True, blank=True)

    Error: type[models.TextChoices]
    state: str  # each model's own field, with its own choices

    class Meta:
        abstract = True

    @property
    def last_error_text(self) -> str:
        return error_text(self.Error, self.last_error, self.last_error_status)


def error_text(errors: type[models.TextChoices], code: str, status: int | None = None) -> str:
    """The reader's wording of an error code ("" for none; an unknown code as it is)."""
    if not code:
        return ""
    text = str(errors(code).label) if code in errors.values else code
    if status is not None:
        return gettext("%(error)s (HTTP %(status)s)") % {"error": text, "status": status}
    return text


@dataclass(frozen=True)
class Queue:
    model: type[QueuedRow]
    waiting: str  # the state of a row waiting for its next attempt
    claimed: str  # the state of a row a worker holds under a lease
    dead: str  # the state of a row given up on
    max_attempts: int
    lease: datetime.timedelta
    backoff_base_seconds: float
    backoff_max_seconds: float
    # Narrows the rows a worker may take (e.g. per-test ordering); all of them by default.
    eligible: Callable[[models.QuerySet], models.QuerySet] = lambda rows: rows
    # Columns (secrets, personal data) set to None once a row leaves the queue.
    erase_when_done: tuple[str, ...] = ()
    # A time column set to now whenever the engine changes a row's state (claims, dead
    # letters), so readers can list what changed since a time; none by default.
    state_changed_field: str | None = None
    # Called with `now` inside the claim's transaction when rows whose worker died were
    # just dead-lettered (those rows have `state_changed_field` = now); none by default.
    on_lapsed_dead: Callable[[datetime.datetime], None] | None = None

    def is_done(self, state: str) -> bool:
        return state not in (self.waiting, self.claimed)

    def erased(self) -> dict:
        return dict.fromkeys(self.erase_when_done)

    def state_changed(self, now: datetime.datetime) -> dict:
        return {self.state_changed_field: now} if self.state_changed_field else {}

    @property
    def rows(self) -> models.QuerySet:
        return self.model._default_manager.all()


def backoff_seconds(attempts: int, *, base: float, cap: float, rng=random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(n-1))]
    after the n-th failed attempt, so a crowd of rows does not retry in step."""
    exponent = min(max(attempts - 1, 0), 62)  # 2**62 seconds is past any cap
    return rng.uniform(0, min(cap, base * 2**exponent))


def lock_free(rows: models.QuerySet, limit: int) -> list:
    """Up to `limit` primary keys of `rows`, skipping rows another worker is claiming."""
    if limit <= 0:
        return []
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    return list(rows.values_list("pk", flat=True)[:limit])


def due_ids(queue: Queue, now: datetime.datetime, limit: int) -> list:
    """Up to `limit` rows to work on now (inside the claim's transaction): rows whose
    worker died (lapsed lease) first, then waiting rows in the order they fell due.
    Two queries rather than one with OR, so each can walk a (state, next_attempt_at)
    index in order and stop at `limit`."""
    lapsed = queue.rows.filter(state=queue.claimed, claimed_until__lt=now)
    lapsed_ids = lock_free(queue.eligible(lapsed), limit)
    waiting = queue.rows.filter(state=queue.waiting, next_attempt_at__lte=now)
    waiting = queue.eligible(waiting).order_by("next_attempt_at")
    return lapsed_ids + lock_free(waiting, limit - len(lapsed_ids))


def dead_letter_lapsed(queue: Queue, now: datetime.datetime) -> int:
    """Rows whose worker died during their last attempt are not tried again."""
    given_up = queue.rows.filter(
        state=queue.claimed, claimed_until__lt=now, attempts__gte=queue.max_attempts
    ).update(
        state=queue.dead,
        last_error=LEASE_LOST,
        last_error_status=None,
        claimed_until=None,
        claim_token=None,
        **queue.erased(),
        **queue.state_changed(now),
    )
    if given_up:
        log.error("%s: %d rows dead-lettered (lease lost)", queue.model._meta.label, given_up)
        if queue.on_lapsed_dead is not None:
            queue.on_lapsed_dead(now)
    return given_up


def claim(queue: Queue, limit: int, now: datetime.datetime, **also) -> uuid.UUID | None:
    """Claims up to `limit` due rows; returns the claim's token, or None if none was due.
    `also`: further column updates made in the same statement."""
    token = uuid.uuid4()
    with transaction.atomic():
        dead_letter_lapsed(queue, now)
        ids = due_ids(queue, now, limit)
        if not ids:
            return None
        queue.rows.filter(pk__in=ids).update(
            state=queue.claimed,
            claimed_until=now + queue.lease,
            claim_token=token,
            attempts=F("attempts") + 1,
            **queue.state_changed(now),
            **also,
        )
    return token


def release(row: QueuedRow) -> None:
    row.claimed_until = None
    row.claim_token = None


def succeed(row: QueuedRow, state: str) -> None:
    """The attempt worked: the row leaves the queue in `state`."""
    release(row)
    row.state = state
    row.last_error, row.last_error_status = "", None


def retry_later(queue: Queue, row: QueuedRow, now: datetime.datetime) -> None:
    """After a failed attempt: waiting again after a backoff, or dead after the last one."""
    release(row)
    if row.attempts >= queue.max_attempts:
        row.state = queue.dead
        log.error("%s %s dead-lettered after %d attempts", queue.model._meta.label, row.pk,
                  row.attempts)  # fmt: skip
        return
    row.state = queue.waiting
    delay = backoff_seconds(
        row.attempts, base=queue.backoff_base_seconds, cap=queue.backoff_max_seconds
    )
    row.next_attempt_at = now + datetime.timedelta(seconds=delay)


def fail(queue: Queue, row: QueuedRow, now: datetime.datetime, code: str, status=None) -> None:
    row.last_error, row.last_error_status = code, status
    retry_later(queue, row, now)


def record(queue: Queue, token: uuid.UUID, rows: list, fields: list[str]) -> int:
    """Writes `fields` of each row, only where the row is still held under this claim (a
    row whose lease lapsed belongs to whoever claimed it since), and erases the queue's
    `erase_when_done` columns of rows that left the queue. One UPDATE per distinct set of
    values, so a whole successful batch is one statement. Returns how many rows were
    written."""
    groups: dict[tuple, list] = {}
    # Each value as save() would write it (pre_save): an encrypted field's ciphertext,
    # bound to its own row, so such a row goes in a group of its own.
    model_fields = [queue.model._meta.get_field(name) for name in fields]
    for row in rows:
        values = tuple(field.pre_save(row, False) for field in model_fields)  # type: ignore[union-attr]
        groups.setdefault(values, []).append(row)
    updated = 0
    with transaction.atomic():
        for values, group in groups.items():
            changes = dict(zip(fields, values, strict=True))
            if queue.is_done(group[0].state):
                changes.update(queue.erased())
            held = queue.rows.filter(
                pk__in=[row.pk for row in group], claim_token=token, state=queue.claimed
            )
            updated += held.update(**changes)
    if updated != len(rows):
        log.warning("%s: %d of %d rows had lost their lease", queue.model._meta.label,
                    len(rows) - updated, len(rows))  # fmt: skip
    return updated
