"""A test is judged by its latest message: a result rejected once, then corrected and
acknowledged, counts as transmitted for the pages and for retention (issue 13, item 6)."""

import pytest

from relais.screening import retention
from relais.screening.models import ScreeningTest
from relais.transmission.models import Transmission
from relais.transmission.services import describe, not_acknowledged, resend_rejected
from tests.support.factories import old_patient

pytestmark = pytest.mark.django_db
State = Transmission.State


def reject(test) -> None:
    for row in test.transmissions.all():  # save(): ack_text is encrypted
        row.state, row.ack_code, row.ack_text = State.REJECTED, "AE", "refused"
        row.save()


def acknowledge_latest(test) -> None:
    latest = test.transmissions.order_by("-sequence")[0]
    Transmission.objects.filter(pk=latest.pk).update(state=State.ACKNOWLEDGED, ack_code="AA")


@pytest.fixture
def rejected_then_acknowledged(pharmacy, pharmacist):
    """An old patient whose only test was rejected by SI-DEP, resent by the pharmacist
    ("correct and resend") and then acknowledged."""
    patient, [test] = old_patient(pharmacy, pharmacist, 200, acknowledged=False)
    reject(test)
    assert resend_rejected(test)
    acknowledge_latest(test)
    return patient, test


def test_a_rejected_then_acknowledged_result_is_not_unsent(rejected_then_acknowledged):
    patient, test = rejected_then_acknowledged
    assert [row.state for row in test.transmissions.order_by("sequence")] == [
        State.REJECTED,
        State.ACKNOWLEDGED,
    ]
    assert not not_acknowledged(ScreeningTest.objects.filter(pk=test.pk)).exists()
    assert describe(test)["state"] == State.ACKNOWLEDGED


def test_retention_erases_it_and_does_not_report_it_unsent(rejected_then_acknowledged):
    patient, test = rejected_then_acknowledged
    report = retention.purge(dry_run=True)
    assert str(patient.pk) in report.erased_patient_ids
    assert str(test.pk) not in report.kept_unsent_test_ids


def test_an_acknowledged_result_with_a_waiting_correction_is_unsent(pharmacy, pharmacist):
    patient, [test] = old_patient(pharmacy, pharmacist, 200, acknowledged=True)
    Transmission.objects.create(test=test, pharmacy=pharmacy, sequence=2, kind="correction")
    assert list(not_acknowledged(ScreeningTest.objects.all())) == [test]
    report = retention.purge(dry_run=True)
    assert (report.erased_patient_ids, report.kept_unsent_test_ids) == ([], [str(test.pk)])


def test_a_rejection_after_an_acknowledgement_is_unsent(pharmacy, pharmacist):
    """The other way round: the latest message (a correction) rejected is what counts."""
    patient, [test] = old_patient(pharmacy, pharmacist, 200, acknowledged=True)
    Transmission.objects.create(
        test=test, pharmacy=pharmacy, sequence=2, kind="correction", state=State.REJECTED
    )
    assert list(not_acknowledged(ScreeningTest.objects.all())) == [test]
