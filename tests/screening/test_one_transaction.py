"""A form's POST reads, audits and saves in one transaction (screening.views
post_in_one_transaction): one durable commit per recorded test, and a request that fails
part-way leaves nothing of it, its audit events included, and a chain that verifies."""

import pytest
from django.db import OperationalError, transaction
from django.db.transaction import TransactionManagementError
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from relais.audit import chain
from relais.audit.events import record
from relais.audit.models import AuditEvent
from relais.screening import submissions, views
from relais.screening.models import FormToken, ScreeningTest
from tests.support.commits import Commits
from tests.support.factories import screening_test_form

# Real commits and rollbacks, not the savepoints of a test wrapped in a transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def new_test(patient) -> str:
    return reverse("screening:test_new", args=[patient.pk])


def test_recording_a_test_at_the_counter_commits_once(pharmacist_client, patient):
    with Commits() as commits:
        response = pharmacist_client.post(new_test(patient), screening_test_form())
    assert response.status_code == 302 and response["Location"] == reverse("screening:day")
    test = ScreeningTest.objects.get()
    assert commits.count == 1
    # Its events (the patient read, the test created) came with it.
    events = AuditEvent.objects.filter(request_id=response["X-Request-Id"])
    assert sorted(events.values_list("action", flat=True)) == ["patient.view", "test.create"]
    assert events.get(action="test.create").target_id == str(test.pk)


def test_a_plain_page_view_commits_its_audit_event_alone(pharmacist_client, patient):
    with Commits() as commits:
        response = pharmacist_client.get(reverse("screening:patient_detail", args=[patient.pk]))
    assert response.status_code == 200
    assert commits.count == 1
    assert AuditEvent.objects.filter(
        action="patient.view", request_id=response["X-Request-Id"]
    ).exists()


def test_the_database_failing_mid_request_leaves_nothing_and_the_chain_verifies(
    pharmacist_client, patient, monkeypatch
):
    assert pharmacist_client.get(new_test(patient)).status_code == 200
    assert chain.chain_all() == 1  # the form's read
    written = submissions.record_many

    def then_the_connection_drops(events):
        written(events)  # the test and its events are inserted...
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(submissions, "record_many", then_the_connection_drops)
    pharmacist_client.raise_request_exception = False
    failed = pharmacist_client.post(new_test(patient), screening_test_form())
    assert failed.status_code == 503 and "Traceback" not in failed.content.decode()
    assert not ScreeningTest.objects.exists() and not FormToken.objects.exists()
    assert not AuditEvent.objects.filter(request_id=failed["X-Request-Id"]).exists()
    assert chain.chain_all() == 0 and chain.verify_chain().ok

    monkeypatch.setattr(submissions, "record_many", written)
    saved = pharmacist_client.post(new_test(patient), screening_test_form())
    assert saved.status_code == 302 and ScreeningTest.objects.count() == 1
    assert chain.chain_all() == 2
    verification = chain.verify_chain()
    assert verification.ok and verification.checked == 3
    positions = AuditEvent.objects.order_by("chain_seq").values_list("chain_seq", flat=True)
    assert list(positions) == [1, 2, 3]


def test_a_post_whose_transaction_would_roll_back_fails_instead_of_answering(pharmacist, db):
    """A view that read (and audited) and then left its transaction marked for rollback
    must not answer: its page would go out while its audit event is rolled back."""

    @views.post_in_one_transaction
    def swallowing_view(request):
        record("patient.view", request=request)
        transaction.set_rollback(True)
        return HttpResponse("patient data")

    request = RequestFactory().post("/")
    request.user = pharmacist
    with pytest.raises(TransactionManagementError):
        swallowing_view(request)
    assert not AuditEvent.objects.exists()
