import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

from relais.audit.models import AuditEvent
from relais.transmission.models import Transmission
from tests.support.factories import log_in, make_platform_admin, make_test
from tests.support.fictitious import PATIENT_DATA

pytestmark = pytest.mark.django_db
URL = "/operations/transmissions/"
State = Transmission.State


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def admin_client(client):
    return log_in(client, make_platform_admin())


@pytest.fixture
def dead_row(screening_test):
    row = screening_test.transmissions.get()
    Transmission.objects.filter(pk=row.pk).update(
        state=State.DEAD, attempts=40, last_error=Transmission.Error.UNREACHABLE
    )
    row.refresh_from_db()
    return row


def test_the_page_lives_at_its_documented_address():
    assert reverse("transmission:operations") == URL


def test_anonymous_is_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_pharmacy_staff_are_refused_with_403(client, pharmacist):
    assert log_in(client, pharmacist).get(URL).status_code == 403


def test_platform_admin_without_second_factor_is_sent_to_login(client):
    client.force_login(make_platform_admin())
    response = client.get(URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_the_page_shows_the_pipeline_without_patient_identity(
    admin_client, patient, pharmacist, dead_row
):
    acknowledged = make_test(patient, pharmacist).transmissions.get()
    Transmission.objects.filter(pk=acknowledged.pk).update(
        state=State.ACKNOWLEDGED, acknowledged_at=timezone.now() - datetime.timedelta(minutes=2)
    )
    make_test(patient, pharmacist)  # waiting
    response = admin_client.get(URL)
    assert response.status_code == 200
    context = response.context
    assert context["counts"][State.DEAD] == 1
    assert context["counts"][State.ACKNOWLEDGED] == 1
    assert context["counts"][State.PENDING] == 1
    assert context["oldest_waiting_age"] >= datetime.timedelta(0)
    assert len(context["throughput"]) == 15
    assert sum(row["count"] for row in context["throughput"]) == 1
    html = response.content.decode()
    assert str(dead_row.pk) in html and "Pharmacie Test" in html
    assert escape("SI-DEP n'a pas pu être joint") in html  # the code, worded in French
    for value in ("Lef", "Martin", "285037505612306", PATIENT_DATA["email"], "Élodie"):
        assert value not in html


def test_retry_queues_a_dead_row_again_and_is_audited(admin_client, dead_row):
    response = admin_client.post(reverse("transmission:retry", args=[dead_row.pk]))
    assert response.status_code == 302
    dead_row.refresh_from_db()
    assert (dead_row.state, dead_row.attempts) == (State.PENDING, 0)
    assert dead_row.next_attempt_at <= timezone.now()
    event = AuditEvent.objects.get(action="transmission.retry")
    assert event.target_id == str(dead_row.pk)


def test_retry_all(admin_client, dead_row):
    admin_client.post(reverse("transmission:retry_all"))
    dead_row.refresh_from_db()
    assert dead_row.state == State.PENDING


def test_retry_of_a_row_that_is_not_dead_changes_nothing(admin_client, screening_test):
    row = screening_test.transmissions.get()
    Transmission.objects.filter(pk=row.pk).update(state=State.ACKNOWLEDGED)
    admin_client.post(reverse("transmission:retry", args=[row.pk]))
    row.refresh_from_db()
    assert row.state == State.ACKNOWLEDGED


def test_retry_refuses_get_unknown_ids_and_missing_csrf(admin_client, dead_row):
    url = reverse("transmission:retry", args=[dead_row.pk])
    assert admin_client.get(url).status_code == 405
    unknown = reverse("transmission:retry", args=["6c1f6b1e-0000-4000-8000-000000000000"])
    assert admin_client.post(unknown).status_code == 404
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = admin_client.cookies
    assert strict.post(url).status_code == 403
    dead_row.refresh_from_db()
    assert dead_row.state == State.DEAD


def test_pharmacy_staff_cannot_retry(client, pharmacist, dead_row):
    response = log_in(client, pharmacist).post(reverse("transmission:retry", args=[dead_row.pk]))
    assert response.status_code == 403  # not allowed: the one refusal policy
    dead_row.refresh_from_db()
    assert dead_row.state == State.DEAD
