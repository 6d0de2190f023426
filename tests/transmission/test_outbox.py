import pytest
from django.db import transaction
from django.utils import translation

from relais.screening.models import ScreeningTest
from relais.transmission.models import Transmission
from relais.transmission.services import describe, load_transmissions, with_transmissions
from tests.support.factories import make_test

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


class Boom(Exception):
    pass


def test_recording_a_test_queues_its_message(patient, pharmacist):
    test = make_test(patient, pharmacist)
    row = Transmission.objects.get(test=test)
    assert (row.kind, row.state, row.sequence, row.attempts) == ("new", "pending", 1, 0)
    assert row.pharmacy_id == test.pharmacy_id
    assert row.result_status == "F"
    assert len(row.message_id) == 20  # MSH-10 allows 20


def test_a_failure_after_the_test_is_saved_rolls_back_the_test_and_its_message(patient, pharmacist):
    with pytest.raises(Boom), transaction.atomic():
        make_test(patient, pharmacist)
        assert Transmission.objects.count() == 1
        raise Boom
    assert ScreeningTest.objects.count() == 0
    assert Transmission.objects.count() == 0


def test_tests_without_the_information_box_ticked_are_still_transmitted(patient, pharmacist):
    # SI-DEP reporting is a legal duty: the patient is informed, consent is not a gate.
    test = make_test(patient, pharmacist, consent_transmission=False)
    assert Transmission.objects.filter(test=test, state="pending").exists()


def test_each_message_gets_its_own_stable_id(patient, pharmacist):
    ids = {make_test(patient, pharmacist).transmissions.get().message_id for _ in range(5)}
    assert len(ids) == 5


def test_describe_a_waiting_test(screening_test):
    status = describe(screening_test)
    assert status["state"] == "pending"
    assert status["label"] == "Waiting"
    assert status["next_attempt_at"] is not None
    assert status["reason"] == ""


def test_describe_a_rejected_test_gives_sidep_reason(screening_test):
    row = screening_test.transmissions.get()
    row.state, row.ack_code, row.ack_text = "rejected", "AE", "Code LOINC inconnu"
    row.save()
    status = describe(screening_test)
    assert (status["state"], status["label"], status["reason"]) == (
        "rejected",
        "Rejected",
        "Code LOINC inconnu",
    )
    assert status["next_attempt_at"] is None


def test_describe_acknowledged_and_dead(screening_test):
    screening_test.transmissions.update(state="acknowledged", ack_code="AA")
    assert describe(screening_test)["label"] == "Transmitted"
    screening_test.transmissions.update(state="dead")
    dead = describe(screening_test)
    assert dead["label"] == "Failed permanently"
    assert "platform team" in dead["reason"]


def test_describe_without_any_message(screening_test):
    screening_test.transmissions.all().delete()
    assert describe(screening_test)["state"] == "none"


def test_describing_a_list_costs_no_query_per_line(patient, pharmacist, django_assert_num_queries):
    for _ in range(5):
        make_test(patient, pharmacist)
    with django_assert_num_queries(2):
        tests = list(with_transmissions(ScreeningTest.objects.all()))
        states = [describe(test)["state"] for test in tests]
    assert states == ["pending"] * 5


def test_the_answer_to_a_recording_describes_the_message_just_queued_without_a_query(
    patient, pharmacist, django_assert_num_queries
):
    test = make_test(patient, pharmacist)
    with django_assert_num_queries(0):
        load_transmissions([test])
        assert describe(test)["state"] == "pending"
    assert [row.pk for row in test.transmissions.all()] == [Transmission.objects.get().pk]


def test_a_recorded_test_described_later_reads_its_message_as_it_is(patient, pharmacist):
    """The queued message is only for the answer that loads it: a recorded test described
    without loading reads the row as it is now."""
    test = make_test(patient, pharmacist)
    Transmission.objects.filter(test=test).update(state="acknowledged")
    assert describe(test)["state"] == "acknowledged"
    again = ScreeningTest.objects.get(pk=test.pk)
    load_transmissions([again])
    assert describe(again)["state"] == "acknowledged"
