"""GET /api/v1/tests?updated_since=: tests whose data or transmission state changed."""

import datetime

import pytest

from relais.lib.clock import database_now
from relais.screening import services
from relais.screening.models import ScreeningTest
from relais.transmission.models import Transmission
from relais.transmission.worker import Outcome, claim, record
from tests.support.factories import make_patient, make_test

pytestmark = pytest.mark.django_db

State = Transmission.State


def backdate(*tests, days=2):
    """As if the tests and their transmissions had last changed `days` ago."""
    then = database_now() - datetime.timedelta(days=days)
    ids = [test.pk for test in tests]
    ScreeningTest.objects.filter(pk__in=ids).update(updated_at=then)
    Transmission.objects.filter(test__in=ids).update(state_changed_at=then)


def since(days=1) -> str:
    return (database_now() - datetime.timedelta(days=days)).isoformat(timespec="seconds")


def answer_sidep(outcome: Outcome) -> None:
    """The worker claims the due messages and records SI-DEP's answer to each."""
    token = claim(10, database_now())
    rows = list(Transmission.objects.filter(claim_token=token))
    record(token, rows, {row.pk: outcome for row in rows})


def listed(api, **params) -> list[dict]:
    response = api.get("/tests", **params)
    assert response.status_code == 200, response.content
    return response.json()["items"]


def test_lists_tests_whose_transmission_was_rejected_or_data_changed(
    api, patient, credential, other_pharmacy, other_pharmacist
):
    user = credential.service_user
    untouched, rejected, corrected = (make_test(patient, user) for _ in range(3))
    theirs = make_test(make_patient(other_pharmacy, other_pharmacist), other_pharmacist)
    backdate(untouched, rejected, corrected, theirs)
    Transmission.objects.exclude(test=rejected).update(state=State.ACKNOWLEDGED)
    answer_sidep(Outcome(State.REJECTED, ack_code="AE", ack_text="PID-7 invalide"))
    services.correct_test(
        corrected, user, {"result": "positive"}, services.BuiltFrom(corrected.version)
    )
    items = listed(api, updated_since=since())
    assert [item["id"] for item in items] == [str(rejected.pk), str(corrected.pk)]
    assert items[0]["transmission"]["state"] == "rejected"
    assert items[0]["changed_at"] > items[0]["updated_at"]
    assert items[1]["result"] == "positive"
    assert listed(api, updated_since=since(days=3)) and len(listed(api)) == 3


def test_acknowledgement_is_a_change(api, patient, credential):
    test = make_test(patient, credential.service_user)
    backdate(test)
    assert listed(api, updated_since=since()) == []
    answer_sidep(Outcome(State.ACKNOWLEDGED, ack_code="AA"))
    [item] = listed(api, updated_since=since())
    assert item["transmission"]["state"] == "acknowledged"


def test_pages_through_changes_once_each_with_a_stable_cursor(api, patient, credential):
    tests = [make_test(patient, credential.service_user) for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"updated_since": since(), "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get("/tests", **params).json()
        seen += [item["id"] for item in page["items"]]
        times = [item["changed_at"] for item in page["items"]]
        assert times == sorted(times)
        if (cursor := page["next_cursor"]) is None:
            break
    assert sorted(seen) == sorted(str(test.pk) for test in tests)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    "params",
    [
        {"updated_since": "yesterday"},
        {"updated_since": "2026-11-27"},
        {"updated_since": "2026-13-45T00:00:00Z"},
    ],
)
def test_refuses_a_bad_time(api, params):
    response = api.get("/tests", **params)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "updated_since"


def test_a_cursor_of_another_listing_is_refused(api, patient, credential):
    for _ in range(2):
        make_test(patient, credential.service_user)
    cursor = api.get("/tests", limit="1").json()["next_cursor"]
    response = api.get("/tests", updated_since=since(), cursor=cursor)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "cursor"


def test_the_worker_records_when_it_takes_a_message(patient, credential):
    test = make_test(patient, credential.service_user)
    backdate(test)
    before = Transmission.objects.get(test=test).state_changed_at
    claim(10, database_now())
    row = Transmission.objects.get(test=test)
    assert row.state == State.IN_FLIGHT and row.state_changed_at > before
