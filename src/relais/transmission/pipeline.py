"""Figures of the transmission pipeline for the platform administrators' page.

Only counts, ids, pharmacy names and our own error codes: never a patient's identity,
and never SI-DEP's free-text reasons (they may quote the record).
"""

import datetime

from django.conf import settings
from django.db.models import Count, Min
from django.db.models.functions import TruncMinute
from django.utils import timezone

from relais.lib import certificates
from relais.lib.clock import skew, skew_too_large
from relais.lib.queue import error_text
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


def tls_failures() -> list[dict]:
    """Messages held back by a failed TLS handshake with SI-DEP, per reason: a
    certificate to fix, not an outage. [{"text", "count"}], most frequent first."""
    rows = (
        Transmission.objects.filter(
            state__in=(*Transmission.WAITING_STATES, State.DEAD),
            last_error__in=Transmission.TLS_ERRORS,
        )
        .order_by()
        .values("last_error")
        .annotate(n=Count("pk"))
        .order_by("-n")
    )
    return [{"text": error_text(Transmission.Error, row["last_error"]), "count": row["n"]}
            for row in rows]  # fmt: skip


def client_certificate(now: datetime.datetime) -> dict:
    """When the SI-DEP client certificate expires, and whether to warn about it."""
    expires_at = certificates.expires_at(settings.SIDEP_CLIENT_CERT)
    return {
        "expires_at": expires_at,
        "expires_soon": expires_at is not None and certificates.expires_soon(expires_at, now),
        "expired": expires_at is not None and expires_at <= now,
        "warning_days": certificates.EXPIRY_WARNING.days,
    }


def clock_skew() -> dict:
    """This host's clock against the database's (purges refuse beyond the limit)."""
    gap = skew()
    return {"seconds": gap.total_seconds(), "too_large": skew_too_large(gap)}


def summary() -> dict:
    now = timezone.now()
    counts = counts_by_state()
    rate = throughput(now)
    return {
        "tls_failures": tls_failures(),
        "client_certificate": client_certificate(now),
        "clock_skew": clock_skew(),
        "counts": counts,
        "waiting": counts[State.PENDING] + counts[State.IN_FLIGHT],
        "oldest_waiting_age": oldest_waiting_age(now),
        "throughput": rate,
        "throughput_peak": max(row["count"] for row in rate),
        "dead_letters": list(dead_letters()),
        "now": now,
    }
