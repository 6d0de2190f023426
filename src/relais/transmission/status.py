"""A test's transmission state, as the pharmacist (and the API) see it.

The state shown is the one of the test's latest message. Lists prefetch the rows with
`with_transmissions(queryset)` so describing each line costs no query.
"""

from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _

from relais.transmission.models import Transmission

State = Transmission.State
Kind = Transmission.Kind

NONE = "none"

LABELS = {
    NONE: _("Not transmitted"),
    State.PENDING: _("Waiting"),
    State.IN_FLIGHT: _("Waiting"),
    State.ACKNOWLEDGED: _("Transmitted"),
    State.REJECTED: _("Rejected"),
    State.DEAD: _("Failed permanently"),
    State.WITHDRAWN: _("Not transmitted (cancelled before sending)"),
}
ACKNOWLEDGED_LABELS = {
    Kind.CORRECTION: _("Correction transmitted"),
    Kind.CANCELLATION: _("Cancellation transmitted"),
}
WAITING_LABELS = {
    Kind.CORRECTION: _("Correction waiting"),
    Kind.CANCELLATION: _("Cancellation waiting"),
}
DEAD_REASON = _(
    "SI-DEP could not be reached after many attempts. The platform team has been alerted "
    "and will send it again."
)


def with_transmissions(tests):
    """The tests queryset with their transmissions loaded in one extra query."""
    return tests.prefetch_related(
        Prefetch("transmissions", queryset=Transmission.objects.order_by("sequence"))
    )


def latest_transmission(test) -> Transmission | None:
    # .all() uses the prefetched rows when there are some, so the list makes no query.
    rows = list(test.transmissions.all())
    return max(rows, key=lambda row: row.sequence) if rows else None


def describe(test) -> dict:
    """{"state", "label", "next_attempt_at", "reason"} for one test.

    state is one of none, pending, in_flight, acknowledged, rejected, dead, withdrawn;
    next_attempt_at is set while waiting; reason is SI-DEP's own words for a rejection.
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
    if row.state == State.REJECTED:
        reason = row.ack_text or row.last_error_text
    elif row.state == State.DEAD:
        reason = str(DEAD_REASON)
    waiting = row.state in Transmission.WAITING_STATES
    return {
        "state": row.state,
        "label": str(label),
        "next_attempt_at": row.next_attempt_at if waiting else None,
        "reason": reason,
    }
