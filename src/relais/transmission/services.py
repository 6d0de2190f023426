"""What the other apps may ask of transmission: the one module of it they import.

Everything else (the outbox rows, the HL7 encoder, the worker) stays inside transmission;
the domain reaches it otherwise only through screening's signals, which the outbox
receives (see `lint-imports`).

A test's transmission state, as the pharmacist (and the API) see it, is the one of the
test's latest message. Lists prefetch the rows with `with_transmissions(queryset)` so
describing each line costs no query.
"""

from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F, OuterRef, Prefetch, Q, QuerySet, Subquery, prefetch_related_objects
from django.db.models.functions import Coalesce, Greatest
from django.utils.translation import gettext_lazy as _

from relais.screening.models import Patient, ScreeningTest
from relais.transmission.models import Transmission
from relais.transmission.outbox import QUEUED_MESSAGE, enqueue, last_sequence, locked_rows

# What other apps receive from transmission, re-exported (see relais.transmission.signals).
from relais.transmission.signals import Settled as Settled
from relais.transmission.signals import transmissions_settled as transmissions_settled

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

State = Transmission.State
Kind = Transmission.Kind

NONE = "none"

LABELS: dict[str, "StrOrPromise"] = {
    NONE: _("Not transmitted"),
    State.PENDING: _("Waiting"),
    State.IN_FLIGHT: _("Waiting"),
    State.ACKNOWLEDGED: _("Transmitted"),
    State.REJECTED: _("Rejected"),
    State.DEAD: _("Failed permanently"),
    State.WITHDRAWN: _("Not transmitted (cancelled before sending)"),
}
ACKNOWLEDGED_LABELS: dict[str, "StrOrPromise"] = {
    Kind.CORRECTION: _("Correction transmitted"),
    Kind.CANCELLATION: _("Cancellation transmitted"),
}
WAITING_LABELS: dict[str, "StrOrPromise"] = {
    Kind.CORRECTION: _("Correction waiting"),
    Kind.CANCELLATION: _("Cancellation waiting"),
}
DEAD_REASON = _(
    "SI-DEP could not be reached after many attempts. The platform team has been alerted "
    "and will send it again."
)
# The last attempts were answered AR: SI-DEP could not process it (not about its content).
DEAD_AFTER_AR_REASON = _(
    "SI-DEP could not process it after many attempts. The platform team has been alerted "
    "and will send it again."
)


def with_transmissions(tests):
    """The tests queryset with their transmissions loaded in one extra query."""
    return tests.prefetch_related(
        Prefetch("transmissions", queryset=Transmission.objects.order_by("sequence"))
    )


def load_transmissions(tests: list[ScreeningTest]) -> None:
    """What `with_transmissions` does for tests already in hand: their transmissions in one
    query, unless they have them."""
    # (prefetch_related_objects would skip them too, but only after costly checks.)
    missing = [test for test in tests if "transmissions" not in prefetched(test)]
    # A test recorded in this request has one message, the one just queued: taken once,
    # as if read (the prefetch cache, filled as prefetch_related fills it).
    unread = []
    for test in missing:
        queued = test.__dict__.pop(QUEUED_MESSAGE, None)
        if queued is None:
            unread.append(test)
            continue
        held = test.transmissions.all()
        held._result_cache = [queued]
        # Django's prefetch internals (not in the stubs).
        held._prefetch_done = True  # type: ignore[attr-defined]
        test._prefetched_objects_cache = {**prefetched(test), "transmissions": held}  # type: ignore[attr-defined]
    prefetch_related_objects(
        unread, Prefetch("transmissions", queryset=Transmission.objects.order_by("sequence"))
    )


def prefetched(test: ScreeningTest) -> dict:
    return getattr(test, "_prefetched_objects_cache", {})


def latest_transmission(test: ScreeningTest) -> Transmission | None:
    # .all() uses the prefetched rows when there are some, so the list makes no query.
    rows = list(test.transmissions.all())
    return max(rows, key=lambda row: row.sequence) if rows else None


def describe(test: ScreeningTest) -> dict:
    """{"state", "label", "next_attempt_at", "reason"} for one test.

    state is one of none, pending, in_flight, acknowledged, rejected, dead, withdrawn;
    next_attempt_at is set while waiting; reason is SI-DEP's own words for a rejection,
    or what failed in the TLS handshake with SI-DEP while that keeps the result waiting.
    """
    row = latest_transmission(test)
    if row is None:
        return {"state": NONE, "label": LABELS[NONE], "next_attempt_at": None, "reason": ""}
    label = LABELS[row.state]
    if row.state == State.ACKNOWLEDGED:
        label = ACKNOWLEDGED_LABELS.get(row.kind, label)
    elif row.state in Transmission.WAITING_STATES:
        label = WAITING_LABELS.get(row.kind, label)
    reason = ""
    if row.last_error in Transmission.TLS_ERRORS and row.state != State.ACKNOWLEDGED:
        # "TLS handshake with SI-DEP failed: …": a certificate to fix, not an outage.
        reason = row.last_error_text
    elif row.state == State.REJECTED:
        reason = row.ack_text or row.last_error_text
    elif row.state == State.DEAD:
        application_reject = row.last_error == Transmission.Error.APPLICATION_REJECT
        reason = str(DEAD_AFTER_AR_REASON if application_reject else DEAD_REASON)
    waiting = row.state in Transmission.WAITING_STATES
    return {
        "state": row.state,
        "label": str(label),
        "next_attempt_at": row.next_attempt_at if waiting else None,
        "reason": reason,
    }


def may_have_reached_sidep(test: ScreeningTest) -> bool:
    """Whether SI-DEP may hold a version of this result (so a change must go as C or D)."""
    return any(row.may_have_reached_sidep for row in test.transmissions.all())


def patient_results_may_be_at_sidep(patient: Patient) -> bool:
    """Whether SI-DEP may hold a live result of this patient (so editing the patient
    corrects it there too)."""
    rows = Transmission.objects.filter(test__patient=patient, test__cancelled_at__isnull=True)
    return any(row.may_have_reached_sidep for row in rows)


@transaction.atomic
def resend_rejected(test: ScreeningTest) -> bool:
    """The pharmacist's "correct and resend" when the fix was elsewhere (the patient's
    identity): a rejected latest message goes out again, under a new MSH-10."""
    rows = locked_rows(test)
    if not rows or rows[-1].state != State.REJECTED:
        return False
    reached = any(row.may_have_reached_sidep for row in rows)
    enqueue([test], Kind.CORRECTION if reached else Kind.NEW, last=last_sequence(test, rows))
    return True


def not_acknowledged(tests: QuerySet[ScreeningTest]) -> QuerySet[ScreeningTest]:
    """Those of `tests` whose latest message SI-DEP has not acknowledged (waiting,
    rejected or failed).

    A test is judged by its latest message, as `describe` shows it: a result rejected
    once, then corrected and acknowledged, is at SI-DEP in its latest version (every
    message carries the whole record), so it is neither unsent nor kept from the purge.
    """
    done = (State.ACKNOWLEDGED, State.WITHDRAWN)
    latest_state = (
        Transmission.objects.filter(test=OuterRef("pk")).order_by("-sequence").values("state")[:1]
    )
    return (
        tests.alias(latest_state=Subquery(latest_state))
        .filter(latest_state__isnull=False)
        .exclude(latest_state__in=done)
    )


def last_state_change() -> Subquery:
    """A test's transmissions' latest state change, as a subquery (None without any)."""
    return Subquery(
        Transmission.objects.filter(test=OuterRef("pk"))
        .order_by("-state_changed_at")
        .values("state_changed_at")[:1]
    )


def changed_since(tests: QuerySet[ScreeningTest], pharmacy, after) -> QuerySet[ScreeningTest]:
    """Those of `tests` whose data, or whose transmission's state, changed at or after
    `after`, annotated with `changed`: the later of the two."""
    changed = Transmission.objects.filter(pharmacy=pharmacy, state_changed_at__gte=after).values(
        "test"
    )
    return tests.filter(Q(updated_at__gte=after) | Q(pk__in=changed)).annotate(
        changed=Greatest(F("updated_at"), Coalesce(last_state_change(), F("updated_at")))
    )
