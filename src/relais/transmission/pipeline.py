"""Figures of the transmission pipeline for the platform administrators' page.

Only counts, ids, pharmacy names and our own error codes: never a patient's identity,
and never SI-DEP's free-text reasons (they may quote the record).
"""

import datetime

from django.db.models import Count, Min
from django.db.models.functions import TruncMinute
from django.utils import timezone

from relais.transmission.models import Transmission

State = Transmission.State
THROUGHPUT_MINUTES = 15
DEAD_LIST_LIMIT = 200


def counts_by_state() -> dict[str, int]:
    counts = dict.fromkeys(State.values, 0)
    for row in Transmission.objects.order_by().values("state").annotate(n=Count("pk")):
        counts[row["state"]] = row["n"]
    return counts


def oldest_waiting_age(now: datetime.datetime) -> datetime.timedelta | None:
    oldest = Transmission.objects.filter(state__in=Transmission.WAITING_STATES).aggregate(
        oldest=Min("created_at")
    )["oldest"]
    return now - oldest if oldest else None


def throughput(now: datetime.datetime, minutes: int = THROUGHPUT_MINUTES) -> list[dict]:
    """Messages acknowledged in each of the last `minutes` whole minutes, oldest first
    (the current minute, still running, comes last)."""
    current = now.replace(second=0, microsecond=0)
    start = current - datetime.timedelta(minutes=minutes - 1)
    per_minute = {
        row["minute"]: row["n"]
        for row in Transmission.objects.filter(acknowledged_at__gte=start)
        .annotate(minute=TruncMinute("acknowledged_at", tzinfo=datetime.UTC))
        .order_by()
        .values("minute")
        .annotate(n=Count("pk"))
    }
    minutes_list = [start + datetime.timedelta(minutes=i) for i in range(minutes)]
    return [{"minute": minute, "count": per_minute.get(minute, 0)} for minute in minutes_list]


def dead_letters():
    return (
        Transmission.objects.filter(state=State.DEAD)
        .select_related("pharmacy")
        .only(
            "id",
            "test_id",
            "kind",
            "attempts",
            "last_error",
            "last_error_status",
            "created_at",
            "sent_at",
            "pharmacy__name",
        )  # fmt: skip
        .order_by("created_at")[:DEAD_LIST_LIMIT]
    )


def summary() -> dict:
    now = timezone.now()
    counts = counts_by_state()
    rate = throughput(now)
    return {
        "counts": counts,
        "waiting": counts[State.PENDING] + counts[State.IN_FLIGHT],
        "oldest_waiting_age": oldest_waiting_age(now),
        "throughput": rate,
        "throughput_peak": max(row["count"] for row in rate),
        "dead_letters": list(dead_letters()),
        "now": now,
    }
