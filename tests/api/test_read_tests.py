import datetime

import pytest
from django.utils import timezone

from relais.api.credentials import create_credential, set_read_all
from relais.audit.models import AuditEvent
from relais.transmission.models import Transmission
from tests.support.factories import ApiClient, make_test

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_test(patient, credential):
    """A test recorded through the credential (its service user performed it)."""
    return make_test(patient, credential.service_user)


def test_get_one_test_with_its_transmission(api, own_test):
    row = Transmission.objects.get(test=own_test)
    row.state, row.ack_text = Transmission.State.REJECTED, "PID-3 invalide"
    row.save()
    response = api.get(f"/tests/{own_test.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(own_test.pk)
    assert body["result"] == "negative"
    assert body["transmission"]["state"] == "rejected"
    assert body["transmission"]["reason"] == "PID-3 invalide"
    assert "birth_name" not in body  # no identity in test answers
    assert "patient_id" not in body  # nor the patient's id
    assert AuditEvent.objects.filter(action="test.view", target_id=str(own_test.pk)).count() == 1


def test_list_pages_through_every_test_once(api, patient, credential):
    created = [make_test(patient, credential.service_user) for _ in range(7)]
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


def test_list_since(api, patient, credential):
    old = make_test(patient, credential.service_user)
    old_time = timezone.now() - datetime.timedelta(days=2)
    type(old).objects.filter(pk=old.pk).update(created_at=old_time)
    recent = make_test(patient, credential.service_user)
    since = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    items = api.get("/tests", since=since).json()["items"]
    assert [item["id"] for item in items] == [str(recent.pk)]


def test_list_is_empty_for_a_new_pharmacy(api):
    assert api.get("/tests").json() == {"items": [], "next_cursor": None}


def test_list_refuses_an_unknown_parameter(api):
    response = api.get("/tests", sinse="2026-01-01T00:00:00+01:00")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] in ("sinse", "/sinse")


def test_a_credential_reads_only_what_it_recorded_until_granted_read_all(
    client, api, credential, own_test, patient, pharmacist, pharmacy
):
    web_test = make_test(patient, pharmacist)
    sibling, _ = create_credential(pharmacy, "Other LGO of the same pharmacy")
    sibling_test = make_test(patient, sibling.service_user)
    others = [web_test, sibling_test]
    assert [item["id"] for item in api.get("/tests").json()["items"]] == [str(own_test.pk)]
    for test in others:  # answered like a missing test
        assert api.get(f"/tests/{test.pk}").status_code == 404
    set_read_all(credential, True)
    listed = {item["id"] for item in api.get("/tests").json()["items"]}
    assert listed == {str(test.pk) for test in [own_test, *others]}
    for test in others:
        assert api.get(f"/tests/{test.pk}").status_code == 200
    set_read_all(credential, False)
    assert api.get(f"/tests/{web_test.pk}").status_code == 404


def test_every_listed_test_is_audited_by_its_id(api, credential, patient):
    created = [make_test(patient, credential.service_user) for _ in range(3)]
    api.get("/tests", limit="2")
    events = AuditEvent.objects.filter(action="test.api_list")
    listed = sorted(created, key=lambda test: (test.created_at, str(test.pk)))[:2]
    assert sorted(events.values_list("target_id", flat=True)) == sorted(
        str(test.pk) for test in listed
    )
    for audit_event in events:
        assert audit_event.actor_id == credential.service_user.pk
        assert audit_event.details["credential"] == credential.prefix


def test_another_pharmacy_test_stays_unreadable_even_with_read_all(
    client, other_pharmacy, own_test
):
    _, token = create_credential(other_pharmacy, "Their LGO", read_all=True)
    their_api = ApiClient(client, token)
    assert their_api.get(f"/tests/{own_test.pk}").status_code == 404
    assert their_api.get("/tests").json()["items"] == []
