"""services.record_tests, the one way tests are saved (one from the web form or the API,
many from a file): outbox rows, result links and notifications, all or nothing."""

import pytest
from django.db import transaction

from relais.bulk_insert import insert_all
from relais.patient_access.links import find_link, issue_links
from relais.patient_access.models import Notification, ResultLink
from relais.screening import services
from relais.screening.models import Patient, ScreeningTest
from relais.transmission import outbox
from relais.transmission.models import Transmission
from tests.support.factories import make_patient, make_test, new_test_data
from tests.support.fictitious import PATIENT_DATA

pytestmark = pytest.mark.django_db


def outcome(test: ScreeningTest) -> tuple:
    """What the receivers of the validation left for one test."""
    rows = [(t.sequence, t.kind, t.state) for t in test.transmissions.order_by("sequence")]
    links = ResultLink.objects.filter(test=test)
    channels = sorted(
        Notification.objects.filter(link__test=test).values_list("channel", flat=True)
    )
    return rows, links.count(), channels


def test_each_test_gets_its_message_and_the_links_its_patient_can_receive(pharmacy, pharmacist):
    with_phone = make_patient(pharmacy, pharmacist)
    no_contact = make_patient(pharmacy, pharmacist, nir="", phone="", email="")
    choices = [("sms", with_phone), ("both", with_phone), ("none", with_phone), ("sms", no_contact)]
    one_by_one = [make_test(p, pharmacist, notify_by=notify_by) for notify_by, p in choices]
    together = services.record_tests(
        pharmacist, [(p, new_test_data(notify_by=notify_by)) for notify_by, p in choices]
    )
    assert [outcome(t) for t in together] == [outcome(t) for t in one_by_one]
    assert outcome(together[0]) == ([(1, "new", "pending")], 1, ["sms"])
    assert outcome(together[1]) == ([(1, "new", "pending")], 1, ["email", "sms"])
    assert outcome(together[2]) == ([(1, "new", "pending")], 0, [])
    assert outcome(together[3]) == ([(1, "new", "pending")], 0, [])
    assert all(t.pharmacy_id == pharmacy.pk for t in Transmission.objects.all())


def test_notification_token_is_encrypted_and_opens_its_link(pharmacy, pharmacist):
    patient = make_patient(pharmacy, pharmacist)
    [test] = services.record_tests(pharmacist, [(patient, new_test_data(notify_by="sms"))])
    notification = Notification.objects.get(link__test=test)
    assert find_link(notification.token).test == test  # decrypts under its own row id
    stored = Notification.objects.values_list("token", flat=True).get(pk=notification.pk)
    assert notification.token.encode() not in bytes(stored)


def test_new_patients_are_stored_encrypted_and_found_again(pharmacy, pharmacist):
    patients = insert_all([services.new_patient(pharmacy, pharmacist, PATIENT_DATA)])
    stored = Patient.objects.get(pk=patients[0].pk)
    assert stored.birth_name == PATIENT_DATA["birth_name"]
    assert stored.birth_date == PATIENT_DATA["birth_date"]
    raw = Patient.objects.values_list("birth_name", flat=True).get(pk=stored.pk)
    assert PATIENT_DATA["birth_name"].encode() not in bytes(raw)
    found = services.find_patients(pharmacy, nir=PATIENT_DATA["nir"])
    assert list(found) == [stored]
    assert stored.created_at is not None and stored.created_by == pharmacist


def test_insert_all_takes_one_model_at_a_time(pharmacy, pharmacist, screening_test):
    patient = services.new_patient(pharmacy, pharmacist, PATIENT_DATA)
    with pytest.raises(ValueError):
        insert_all([patient, screening_test])
    assert not Patient.objects.filter(pk=patient.pk).exists()


def test_enqueue_follows_each_tests_existing_messages(screening_test, pharmacist, patient):
    other = make_test(patient, pharmacist)
    outbox.enqueue([screening_test], Transmission.Kind.CORRECTION)
    rows = outbox.enqueue([screening_test, other], Transmission.Kind.CORRECTION)
    assert [(row.test_id, row.sequence) for row in rows] == [
        (screening_test.pk, 3),
        (other.pk, 2),
    ]
    message_ids = Transmission.objects.values_list("message_id", flat=True)
    assert len(set(message_ids)) == Transmission.objects.count() == 5


def test_issue_links_closes_older_links(screening_test):
    [(old, _)] = issue_links([(screening_test, ["sms"])])
    [(new, token)] = issue_links([(screening_test, ["sms"])])
    old.refresh_from_db()
    assert old.revoked_at is not None
    assert ResultLink.objects.get(pk=new.pk).revoked_at is None
    assert find_link(token) == new


def test_a_failure_leaves_nothing(pharmacy, pharmacist):
    patient = make_patient(pharmacy, pharmacist)
    rows = [(patient, new_test_data(notify_by="sms")), (patient, new_test_data(kind=None))]
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017 (the database's own error)
        services.record_tests(pharmacist, rows)
    assert ScreeningTest.objects.count() == 0
    assert Transmission.objects.count() == ResultLink.objects.count() == 0
