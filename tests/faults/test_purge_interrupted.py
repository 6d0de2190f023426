"""Issue 13, item 6: a purge that dies between batches leaves no erased identity without
its audit event (each batch's erasure and its event commit together)."""

import pytest

from relais.audit.models import AuditEvent
from relais.screening import retention
from relais.screening.models import Patient
from relais.screening.signals import patients_purged
from tests.support.factories import old_patient


class Crash(Exception):
    """Stands for the process dying in the middle of the second batch."""


def erased_ids() -> set[str]:
    return {
        str(pk) for pk in Patient.objects.filter(identity_index="").values_list("pk", flat=True)
    }


def audited_ids() -> set[str]:
    recorded = AuditEvent.objects.filter(action=retention.ERASED_ACTION)
    return {
        pk
        for details in recorded.values_list("details", flat=True)
        for pk in details["patient_ids"]
    }


def test_a_purge_killed_in_its_second_batch_left_every_erasure_audited(
    pharmacy, pharmacist, monkeypatch
):
    monkeypatch.setattr(retention, "BATCH_SIZE", 2)
    for number in range(5):
        old_patient(pharmacy, pharmacist, 100, nir="", birth_name=f"ANCIEN{chr(65 + number)}")
    batches = []

    def crash_in_second_batch(sender, patient_ids, **kwargs):
        batches.append(patient_ids)
        if len(batches) == 2:
            raise Crash

    patients_purged.connect(crash_in_second_batch, dispatch_uid="test.crash")
    try:
        with pytest.raises(Crash):
            retention.purge()
    finally:
        patients_purged.disconnect(dispatch_uid="test.crash")
    assert len(erased_ids()) == 2  # the first batch, committed
    assert erased_ids() == audited_ids()
    # The next run finishes the job, still with an event for every erasure.
    assert len(retention.purge().erased_patient_ids) == 3
    assert len(erased_ids()) == 5 and erased_ids() == audited_ids()
