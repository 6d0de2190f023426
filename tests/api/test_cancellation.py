"""POST /api/v1/tests/{id}/cancellation: scoped, versioned, idempotent, audited."""

import pytest

from relais.audit.models import AuditEvent
from relais.screening import services
from relais.screening.models import ScreeningTest
from relais.transmission.models import Transmission
from tests.support.factories import make_patient, make_test

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def cancel(api, test, reason="entered_in_error", version=1, headers=None):
    headers = {"If-Match": f'"{version}"', **(headers or {})}
    return api.post(f"/tests/{test.pk}/cancellation", {"reason": reason}, headers=headers)


def test_cancels_a_sent_test_and_tells_sidep(api, screening_test):
    Transmission.objects.filter(test=screening_test).update(state=Transmission.State.ACKNOWLEDGED)
    response = cancel(api, screening_test, reason="wrong_patient")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cancelled_at"] is not None
    assert body["version"] == 2 and response["ETag"] == '"2"'
    screening_test.refresh_from_db()
    assert screening_test.cancelled_at is not None
    kinds = list(Transmission.objects.filter(test=screening_test).values_list("kind", flat=True))
    assert kinds == ["new", "cancellation"]
    event = AuditEvent.objects.get(action="test.cancel")
    assert event.target_id == str(screening_test.pk)
    assert event.details["reason"] == "wrong_patient"
    assert event.details["via"] == "api"


def test_cancelling_again_is_a_conflict(api, screening_test):
    assert cancel(api, screening_test).status_code == 200
    again = cancel(api, screening_test, version=2)
    assert again.status_code == 409
    assert again["Content-Type"] == PROBLEM
    assert again.json()["type"].endswith("#problem-test-cancelled")
    assert AuditEvent.objects.filter(action="test.cancel").count() == 1


def test_a_retry_with_the_same_key_gets_the_first_answer(api, screening_test):
    key = {"Idempotency-Key": "cancel-1"}
    first = cancel(api, screening_test, headers=key)
    retry = cancel(api, screening_test, headers=key)
    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json()
    assert Transmission.objects.filter(test=screening_test, kind="cancellation").count() <= 1
    assert AuditEvent.objects.filter(action="test.cancel").count() == 1


def test_if_match_is_required_and_checked(api, screening_test):
    path = f"/tests/{screening_test.pk}/cancellation"
    missing = api.post(path, {"reason": "entered_in_error"})
    assert missing.status_code == 428
    stale = cancel(api, screening_test, version=7)
    assert stale.status_code == 412 and stale["ETag"] == '"1"'
    screening_test.refresh_from_db()
    assert screening_test.cancelled_at is None


@pytest.mark.parametrize(
    "body",
    [{}, {"reason": "bored"}, {"reason": 3}, {"reason": "wrong_patient", "note": "x"}],
)
def test_a_reason_from_the_list_is_required(api, screening_test, body):
    response = api.post(
        f"/tests/{screening_test.pk}/cancellation", body, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["field"].startswith("/")
    screening_test.refresh_from_db()
    assert screening_test.cancelled_at is None


def test_another_pharmacy_test_is_not_found(api, other_pharmacy, other_pharmacist):
    theirs = make_test(make_patient(other_pharmacy, other_pharmacist), other_pharmacist)
    response = cancel(api, theirs)
    assert response.status_code == 404
    assert ScreeningTest.objects.get(pk=theirs.pk).cancelled_at is None


def test_a_web_test_needs_read_all(api, patient, pharmacist):
    web_test = make_test(patient, pharmacist)
    assert cancel(api, web_test).status_code == 404
    assert ScreeningTest.objects.get(pk=web_test.pk).cancelled_at is None


def test_cancelled_on_the_web_meanwhile(api, screening_test, pharmacist):
    services.cancel_test(screening_test, pharmacist, "duplicate")
    assert cancel(api, screening_test, version=2).status_code == 409
