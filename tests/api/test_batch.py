"""POST /api/v1/tests/batch: many results in one request, one transaction, one outcome per
result, by the same submission service and idempotency keys as POST /tests."""

import json
from functools import partial

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from relais.api.models import IdempotencyKey
from relais.audit.models import AuditEvent
from relais.patient_access.models import ResultLink
from relais.screening.models import Patient, ScreeningTest
from relais.transmission.models import Transmission
from tests.support.concurrency import at_once
from tests.support.factories import ApiClient
from tests.support.fictitious import OTHER_PERFORMER_RPPS, api_submission, numbered_patient

pytestmark = pytest.mark.django_db


def result(number: int, key: str | None = None, **test_overrides) -> dict:
    """A result of patient `number`, with an idempotency key if given."""
    patient = {**numbered_patient(number), "phone": "0612345678"}
    item = api_submission(patient, **test_overrides)
    return {**item, "idempotency_key": key} if key is not None else item


def send(api, items: list[dict]):
    return api.post("/tests/batch", {"items": items})


def statuses(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["status"] for item in response.json()["items"]]


def test_each_result_gets_the_answer_post_tests_would_give(api):
    bad_nir = result(2)
    bad_nir["patient"]["nir"] = bad_nir["patient"]["nir"][:-2] + "00"
    response = send(api, [result(1), bad_nir, result(1), result(3)])
    assert statuses(response) == [201, 422, 409, 201]
    recorded, invalid, duplicate, other = response.json()["items"]
    assert recorded["problem"] is None and recorded["test"]["patient_created"] is True
    assert invalid["test"] is None
    assert invalid["problem"]["type"].endswith("#problem-validation")
    assert [error["field"] for error in invalid["problem"]["errors"]] == ["/items/1/patient/nir"]
    # The second copy of result 0 in the same batch is asked about, like a second POST.
    assert duplicate["problem"]["type"].endswith("#problem-possible-duplicate-test")
    assert duplicate["problem"]["errors"][0]["field"] == "/items/2/test/new_sample"
    assert other["test"]["id"] != recorded["test"]["id"]
    assert ScreeningTest.objects.count() == 2


def test_a_recorded_result_has_everything_a_single_post_gives_it(api, credential):
    response = send(api, [result(1, notify_by="sms"), result(2, notify_by="sms")])
    assert statuses(response) == [201, 201]
    alone = api.post("/tests", result(3, notify_by="sms"))
    assert alone.status_code == 201
    batched = response.json()["items"][0]["test"]
    assert set(batched) == set(alone.json())
    assert batched["transmission"]["state"] == alone.json()["transmission"]["state"] == "pending"
    for test in ScreeningTest.objects.all():
        assert Transmission.objects.filter(test=test).count() == 1
        assert ResultLink.objects.filter(test=test).count() == 1
        events = AuditEvent.objects.filter(action="test.create", target_id=str(test.pk))
        assert [event.details["credential"] for event in events] == [credential.prefix]
    assert AuditEvent.objects.filter(action="patient.create").count() == 3


def test_a_retried_batch_gets_the_first_answers_and_records_nothing_twice(api):
    items = [result(1, key="order-1"), result(2, key="order-2"), result(3)]
    first = send(api, items)
    again = send(api, items)
    assert statuses(first) == [201, 201, 201]
    # Results with a key replay their answer; the one without is asked about.
    assert statuses(again) == [201, 201, 409]
    assert again.json()["items"][:2] == first.json()["items"][:2]
    assert ScreeningTest.objects.count() == 3


def test_keys_are_shared_with_post_tests(api):
    first, second = result(1), result(2)
    alone = api.post("/tests", first, headers={"Idempotency-Key": "order-1"})
    batch = send(
        api, [{**first, "idempotency_key": "order-1"}, {**second, "idempotency_key": "order-2"}]
    )
    assert statuses(batch) == [201, 201]
    assert batch.json()["items"][0]["test"] == alone.json()
    later = api.post("/tests", second, headers={"Idempotency-Key": "order-2"})
    assert later.json() == batch.json()["items"][1]["test"]
    assert ScreeningTest.objects.count() == 2


def test_a_key_reused_for_another_result_is_refused_for_that_result_only(api):
    send(api, [result(1, key="order-1")])
    response = send(api, [result(2, key="order-1"), result(3, key="order-3")])
    assert statuses(response) == [422, 201]
    problem = response.json()["items"][0]["problem"]
    assert problem["type"].endswith("#problem-idempotency-key-reused")
    assert problem["errors"][0]["field"] == "/items/0/idempotency_key"
    assert ScreeningTest.objects.count() == 2


def test_a_key_repeated_in_one_batch(api):
    first = result(1, key="k")
    response = send(api, [first, first, result(2, key="k")])
    assert statuses(response) == [201, 201, 422]
    first, same, other = response.json()["items"]
    assert same == first
    assert other["problem"]["errors"][0]["field"] == "/items/2/idempotency_key"
    assert ScreeningTest.objects.count() == 1


def test_a_refused_result_repeated_with_its_key_is_refused_at_its_own_place(api):
    bad_nir = result(1, key="k")
    bad_nir["patient"]["nir"] = bad_nir["patient"]["nir"][:-2] + "00"
    response = send(api, [bad_nir, bad_nir])
    assert statuses(response) == [422, 422]
    fields = [item["problem"]["errors"][0]["field"] for item in response.json()["items"]]
    assert fields == ["/items/0/patient/nir", "/items/1/patient/nir"]
    assert not IdempotencyKey.objects.exists()


def test_a_refused_result_gives_its_key_back(api):
    wrong_performer = result(2, key="order-2", performer_rpps=OTHER_PERFORMER_RPPS)
    bad_nir = result(1, key="order-1")
    bad_nir["patient"]["nir"] = bad_nir["patient"]["nir"][:-2] + "00"
    response = send(api, [bad_nir, wrong_performer])
    assert statuses(response) == [422, 422]
    assert response.json()["items"][1]["problem"]["errors"][0] == {
        "field": "/items/1/test/performer_rpps",
        "code": "unknown_performer",
        "message": response.json()["items"][1]["problem"]["errors"][0]["message"],
    }
    assert not IdempotencyKey.objects.exists()
    fixed = send(api, [result(1, key="order-1"), result(2, key="order-2")])
    assert statuses(fixed) == [201, 201]


def test_a_body_the_schema_refuses_is_refused_whole(api):
    unknown_field = result(2)
    unknown_field["test"]["colour"] = "blue"
    response = send(api, [result(1), unknown_field])
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    fields = [error["field"] for error in response.json()["errors"]]
    assert fields == ["/items/1/test/colour"]
    assert ScreeningTest.objects.count() == 0


@pytest.mark.parametrize("count", [0, 501])
def test_one_to_five_hundred_results(api, count):
    response = send(api, [result(1)] * count)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "/items"
    assert ScreeningTest.objects.count() == 0


@override_settings(API_MAX_BODY_BYTES=1024)
def test_a_batch_has_its_own_body_limit(api):
    items = [result(number) for number in range(1, 11)]
    size = len(json.dumps({"items": items}))
    assert size > 1024  # more than a single POST may send
    assert statuses(send(api, items)) == [201] * 10
    with override_settings(API_MAX_BATCH_BYTES=size - 1):
        response = send(api, [result(number) for number in range(11, 21)])
    assert response.status_code == 413
    assert ScreeningTest.objects.count() == 10


def test_the_rate_limit_counts_each_result(api):
    with override_settings(API_RATE_LIMIT=10):
        assert statuses(send(api, [result(n) for n in range(1, 9)])) == [201] * 8
        refused = send(api, [result(n) for n in range(9, 12)])
        assert refused.status_code == 429
        assert int(refused["Retry-After"]) >= 1
    assert ScreeningTest.objects.count() == 8


def test_another_pharmacys_patient_is_never_reused(api, other_api):
    theirs = send(other_api, [result(1, performer_rpps=OTHER_PERFORMER_RPPS)])
    mine = send(api, [result(1)])
    assert statuses(theirs) == statuses(mine) == [201]
    assert mine.json()["items"][0]["test"]["patient_created"] is True
    assert Patient.objects.count() == 2


def test_statements_do_not_grow_with_the_results(api):
    def statements(first: int, count: int) -> int:
        items = [result(n, key=f"order-{n}") for n in range(first, first + count)]
        with CaptureQueriesContext(connection) as queries:
            assert statuses(send(api, items)) == [201] * count
        return len(queries)

    statements(200, 1)  # once per credential and minute: its "last used" time
    # (SQLite splits an insert of 100 audit events in two: its limit of parameters.)
    assert 0 <= statements(100, 50) - statements(1, 5) <= 1


def test_methods_other_than_post_are_problems(api):
    response = api.get("/tests/batch")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_a_batch_record_each_result_once(credential_and_token):
    token = credential_and_token[1]
    items = [result(number, key=f"order-{number}") for number in range(1, 21)]
    retries = 4
    apis = [ApiClient(Client(), token) for _ in range(retries)]
    answers = at_once([partial(send, api, items) for api in apis])
    assert len(answers) == retries
    assert {tuple(statuses(answer)) for answer in answers} == {(201,) * 20}
    assert len({answer.content for answer in answers}) == 1
    assert ScreeningTest.objects.count() == 20


def test_a_result_against_the_document_refuses_the_batch(api):
    """The document lists notify_by's values: a batch breaking it is the software's fault
    (refused whole), unlike a NIR's key, which only its result answers."""
    bad_nir = result(2)
    bad_nir["patient"]["nir"] = bad_nir["patient"]["nir"][:-2] + "00"
    response = send(api, [result(1), bad_nir, result(3, notify_by="pigeon")])
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["/items/2/test/notify_by"]
    assert ScreeningTest.objects.count() == 0
    assert not IdempotencyKey.objects.exists()


def test_a_sampling_time_of_another_shape_refuses_the_batch(api):
    """A day past its month's end has the documented shape (refused for its result only);
    a text of another shape is against the document (the batch is refused)."""
    no_such_day = send(api, [result(1, sampled_at="2026-02-30T09:30:00+01:00"), result(2)])
    assert statuses(no_such_day) == [422, 201]
    other_shape = send(api, [result(3, sampled_at="2026-11-27T09:30:00+01:00*"), result(4)])
    assert other_shape.status_code == 422
    assert other_shape.json()["errors"][0]["field"] == "/items/0/test/sampled_at"
    assert ScreeningTest.objects.count() == 1
