import datetime

import pytest
from django.utils import timezone

from relais.transmission.models import Transmission
from tests.support.factories import make_patient, make_test

pytestmark = pytest.mark.django_db


def test_get_one_test_with_its_transmission(api, screening_test):
    row = Transmission.objects.get(test=screening_test)
    row.state, row.ack_text = Transmission.State.REJECTED, "PID-3 invalide"
    row.save()
    response = api.get(f"/tests/{screening_test.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(screening_test.pk)
    assert body["result"] == "negative"
    assert body["transmission"]["state"] == "rejected"
    assert body["transmission"]["reason"] == "PID-3 invalide"
    assert "birth_name" not in body  # no identity in test answers


def test_list_pages_through_every_test_once(api, pharmacy, pharmacist):
    patient = make_patient(pharmacy, pharmacist)
    created = [make_test(patient, pharmacist) for _ in range(7)]
    seen, cursor = [], None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = api.get("/tests", **params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = sorted(created, key=lambda test: (test.created_at, str(test.pk)))
    assert seen == [str(test.pk) for test in expected]


def test_list_since(api, pharmacy, pharmacist):
    patient = make_patient(pharmacy, pharmacist)
    old = make_test(patient, pharmacist)
    old_time = timezone.now() - datetime.timedelta(days=2)
    type(old).objects.filter(pk=old.pk).update(created_at=old_time)
    recent = make_test(patient, pharmacist)
    since = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    items = api.get("/tests", since=since).json()["items"]
    assert [item["id"] for item in items] == [str(recent.pk)]


def test_list_is_empty_for_a_new_pharmacy(api):
    assert api.get("/tests").json() == {"items": [], "next_cursor": None}


def test_list_refuses_an_unknown_parameter(api):
    response = api.get("/tests", sinse="2026-01-01T00:00:00+01:00")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] in ("sinse", "/sinse")
