"""Retention: identifying data is erased once every test of a patient is past the period.

A test sampled on local date D is kept while today - D <= RELAIS_RETENTION_DAYS (so
with 90 days, a test of 90 days ago is kept and one of 91 days ago is purged). A
patient's identity (every encrypted field and both blind indexes) is erased when none
of their tests is within the period and the record itself is older than it. The tests
keep their de-identified fields (kind, result, sampling date, pharmacy...) for the
statistics. A result SI-DEP has not acknowledged is never purged silently: its
patient is kept and the test is reported, in the command output and the audit log.

"Today" is the database's, never this host's: a worker whose clock jumped 100 days ahead
would otherwise erase every current patient. Belt and braces, the query itself keeps any
patient registered, or with a test created, within the period by the database's clock
(`Now()`), and the purge refuses to run at all while this host's clock is more than
SKEW_LIMIT away from the database's. Each batch's erasure and its audit event commit in
one transaction, so a purge killed between batches leaves no erasure unrecorded.
"""

import datetime
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Now
from django.utils import timezone

from relais.audit.events import record
from relais.audit.models import AuditEvent
from relais.crypto.fields import EncryptedField
from relais.lib.clock import SKEW_LIMIT, database_now, skew, skew_too_large
from relais.lib.dates import local_day_bounds
from relais.screening.models import Patient, ScreeningTest
from relais.screening.signals import patients_purged
from relais.transmission.services import not_acknowledged

PURGE_ACTION = "retention.purge"
ERASED_ACTION = "retention.patients_erased"
# One batch is one transaction and one audit event naming its patients.
BATCH_SIZE = 500
IDS_PER_EVENT = 500

logger = logging.getLogger(__name__)


class ClockSkewRefusal(ValueError):
    """The purge will not run while this host's clock disagrees with the database's."""


@dataclass
class PurgeReport:
    cutoff: datetime.date
    erased_patient_ids: list[str] = field(default_factory=list)
    deidentified_tests: int = 0
    kept_unsent_test_ids: list[str] = field(default_factory=list)


def cutoff_date(today: datetime.date | None = None) -> datetime.date:
    """Tests sampled before this local date are past retention; today is the database's."""
    today = today or timezone.localdate(database_now())
    return today - datetime.timedelta(days=settings.RETENTION_DAYS)


class _SkewGuard:
    """Refuses while the clocks disagree, logging the error once per episode (the worker
    asks every round) and again only after the clocks agreed in between."""

    def __init__(self):
        self.reported = False

    def check(self) -> None:
        gap = skew()
        if not skew_too_large(gap):
            self.reported = False
            return
        message = (
            f"purge refused: this host's clock is {gap.total_seconds():+.0f} s away from the "
            f"database's (limit {SKEW_LIMIT.total_seconds():.0f} s); fix the host's time "
            "synchronisation, nothing was erased"
        )
        if not self.reported:
            logger.error(message)
            self.reported = True
        raise ClockSkewRefusal(message)


_skew_guard = _SkewGuard()


def _unsent_tests():
    """Tests with a message SI-DEP has not acknowledged (waiting, rejected or failed)."""
    return not_acknowledged(ScreeningTest.objects.all())


def purgeable_patients(cutoff: datetime.datetime):
    # The period by the database's clock, in the query itself: whatever `cutoff` says,
    # a patient registered or tested (record creation time) within it is kept.
    period_start = Now() - datetime.timedelta(days=settings.RETENTION_DAYS)
    recent = ScreeningTest.objects.filter(patient=OuterRef("pk")).filter(
        Q(sampled_at__gte=cutoff) | Q(created_at__gte=period_start)
    )
    unsent = _unsent_tests().filter(patient=OuterRef("pk"))
    return (
        Patient.objects.exclude(identity_index="")
        .filter(created_at__lt=cutoff)
        .filter(created_at__lt=period_start)
        .exclude(Exists(recent))
        .exclude(Exists(unsent))
    )


def _erased_values() -> dict[str, str | None]:
    values: dict[str, str | None] = {
        f.attname: None for f in Patient._meta.concrete_fields if isinstance(f, EncryptedField)
    }
    values.update(nir_index="", identity_index="")
    return values


def purge(today: datetime.date | None = None, dry_run: bool = False) -> PurgeReport:
    if settings.RETENTION_DAYS <= 0:
        raise ValueError("retention is off (RELAIS_RETENTION_DAYS <= 0): nothing is purged")
    _skew_guard.check()
    report = PurgeReport(cutoff=cutoff_date(today))
    cutoff = local_day_bounds(report.cutoff)[0]
    report.kept_unsent_test_ids = [
        str(pk)
        for pk in _unsent_tests()
        .filter(sampled_at__lt=cutoff, patient__identity_index__gt="")
        .order_by("sampled_at")
        .values_list("pk", flat=True)
    ]
    if dry_run:
        would = purgeable_patients(cutoff)
        report.erased_patient_ids = [str(pk) for pk in would.values_list("pk", flat=True)]
        report.deidentified_tests = ScreeningTest.objects.filter(patient__in=would).count()
        return report
    while True:
        with transaction.atomic():
            batch = list(purgeable_patients(cutoff).values_list("pk", flat=True)[:BATCH_SIZE])
            if not batch:
                break
            report.deidentified_tests += ScreeningTest.objects.filter(patient__in=batch).count()
            Patient.objects.filter(pk__in=batch).update(**_erased_values())
            patients_purged.send(sender=Patient, patient_ids=batch)
            erased = [str(pk) for pk in batch]
            # In the batch's transaction: no erasure without its event, whatever happens next.
            _record_ids(ERASED_ACTION, "patient_ids", erased, report.cutoff.isoformat())
            report.erased_patient_ids += erased
    _record(report)
    return report


def _record(report: PurgeReport) -> None:
    """Counts and ids only: what was removed is, by definition, no longer anywhere.
    The erased patients' ids were recorded batch by batch."""
    cutoff = report.cutoff.isoformat()
    summary = {
        "cutoff": cutoff,
        "retention_days": settings.RETENTION_DAYS,
        "patients_erased": len(report.erased_patient_ids),
        "tests_deidentified": report.deidentified_tests,
        "unsent_kept": len(report.kept_unsent_test_ids),
    }
    record(PURGE_ACTION, details=summary)
    _record_ids("retention.unsent_kept", "test_ids", report.kept_unsent_test_ids, cutoff)


def _record_ids(action: str, key: str, ids: list[str], cutoff: str) -> None:
    """The ids under `key`, IDS_PER_EVENT to an event, so no event grows unbounded."""
    for start in range(0, len(ids), IDS_PER_EVENT):
        record(action, details={"cutoff": cutoff, key: ids[start : start + IDS_PER_EVENT]})


def purge_if_due() -> int:
    """Worker job: purge once a day (the audit log says when the last purge ran)."""
    if settings.RETENTION_DAYS <= 0:
        return 0
    since = database_now() - datetime.timedelta(hours=24)
    if AuditEvent.objects.filter(action=PURGE_ACTION, created_at__gte=since).exists():
        return 0
    try:
        return len(purge().erased_patient_ids)
    except ClockSkewRefusal:
        return 0  # logged once by the guard; retried next round, once the clocks agree
