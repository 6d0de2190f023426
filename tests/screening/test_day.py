import datetime

from django.urls import reverse
from django.utils import timezone

from relais.audit.models import AuditEvent
from tests.support.factories import make_patient, make_test

DAY = reverse("screening:day")


def test_anonymous_is_sent_to_login(client, db):
    response = client.get(DAY)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_lists_todays_tests_of_the_pharmacy_only(
    pharmacist_client, screening_test, other_pharmacy, other_pharmacist
):
    foreign = make_test(make_patient(other_pharmacy, other_pharmacist), other_pharmacist)
    response = pharmacist_client.get(DAY)
    assert response.status_code == 200
    assert list(response.context["tests"]) == [screening_test]
    assert foreign not in response.context["tests"]
    assert "LEFÈVRE" in response.content.decode() or "MARTIN" in response.content.decode()
    assert AuditEvent.objects.filter(action="test.list").exists()


def test_another_day(pharmacist_client, patient, pharmacist):
    yesterday = timezone.now() - datetime.timedelta(days=1)
    old = make_test(patient, pharmacist, sampled_at=yesterday)
    date = timezone.localtime(yesterday).date().isoformat()
    assert list(pharmacist_client.get(DAY, {"date": date}).context["tests"]) == [old]
    assert list(pharmacist_client.get(DAY).context["tests"]) == []


def test_malformed_date_falls_back_to_today(pharmacist_client):
    response = pharmacist_client.get(DAY, {"date": "'; DROP TABLE x;--"})
    assert response.status_code == 200
    assert response.context["date"] == timezone.localdate()
