"""A retried POST with the same Idempotency-Key gets the first answer, even when the
retries arrive at the same time (threads with their own database connections)."""

import datetime
from functools import partial

import pytest
from django.test import Client
from django.utils import timezone

from relais.api.idempotency import DIGEST_PURPOSE, canonical_request, purge_expired, replay
from relais.api.models import IdempotencyKey
from relais.crypto.blind_index import blind_index, index_key_id
from relais.crypto.blobs import data_key_ids
from relais.lib.jobs import registered
from relais.screening.models import Patient, ScreeningTest
from tests.support.concurrency import at_once
from tests.support.factories import ApiClient
from tests.support.fictitious import OTHER_PERFORMER_RPPS, api_submission


def with_key(api, body, key, path="/tests", **headers):
    return api.post(path, body, headers={"Idempotency-Key": key, **headers})


@pytest.mark.django_db
def test_a_retry_gets_the_first_answer(api):
    body = api_submission()
    first = with_key(api, body, "order-1")
    again = with_key(api, body, "order-1")
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    assert ScreeningTest.objects.count() == 1


@pytest.mark.django_db
def test_same_key_with_another_body_is_refused(api):
    with_key(api, api_submission(), "order-1")
    response = with_key(api, api_submission(result="positive"), "order-1")
    assert response.status_code == 422
    assert response.json()["type"].endswith("idempotency-key-reused")
    assert ScreeningTest.objects.count() == 1


@pytest.mark.django_db
def test_keys_belong_to_one_pharmacy(api, other_api):
    body = api_submission()
    mine = with_key(api, body, "order-1")
    theirs_body = {**body, "test": {**body["test"], "performer_rpps": OTHER_PERFORMER_RPPS}}
    theirs = with_key(other_api, theirs_body, "order-1")
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]


@pytest.mark.django_db
def test_a_refused_request_can_be_fixed_and_sent_with_the_same_key(api):
    bad = api_submission(result="maybe")
    assert with_key(api, bad, "order-1").status_code == 422
    assert with_key(api, api_submission(), "order-1").status_code == 201


@pytest.mark.django_db
def test_correction_retries(api, screening_test):
    body = api_submission(result="positive", sampled_at=screening_test.sampled_at.isoformat())[
        "test"
    ]
    path = f"/tests/{screening_test.pk}/correction"
    first = with_key(api, body, "fix-1", path, **{"If-Match": '"1"'})
    # The retry still names version 1, though the first one made version 2: it gets the
    # first answer, not a 412.
    again = with_key(api, body, "fix-1", path, **{"If-Match": '"1"'})
    assert first.content == again.content
    assert first["ETag"] == again["ETag"] == '"2"'
    assert first.json()["changed_fields"] == ["result"]


@pytest.mark.django_db
def test_keys_expire_after_a_day(api, pharmacy):
    body = api_submission()
    first = with_key(api, body, "order-1")
    IdempotencyKey.objects.update(created_at=timezone.now() - datetime.timedelta(hours=25))
    later = with_key(api, body, "order-1")
    # Run again, not replayed: and the same test again is a possible duplicate.
    assert later.status_code == 409
    assert later.json()["earlier_test_id"] == first.json()["id"]
    IdempotencyKey.objects.update(created_at=timezone.now() - datetime.timedelta(hours=25))
    assert dict(registered())["expired idempotency keys"] is purge_expired
    assert purge_expired() == 1


@pytest.mark.django_db
def test_a_key_without_its_answer_is_not_replayed_as_a_none_status(pharmacy):
    # Key and answer are saved in one transaction, so only a hand-edited database holds
    # such a row; replaying it must fail loudly, not answer with status None.
    IdempotencyKey.objects.create(
        pharmacy=pharmacy,
        key="order-1",
        request_hash=blind_index(DIGEST_PURPOSE, str(pharmacy.pk), "the request"),
        created_at=timezone.now(),
    )
    with pytest.raises(RuntimeError, match="without its answer"):
        replay(pharmacy, "order-1", "the request")


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", " ", "x" * 256, "tab\there"])
def test_invalid_keys(api, key):
    response = with_key(api, api_submission(), key)
    assert response.status_code == 422
    assert ScreeningTest.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_make_exactly_one_test(credential_and_token):
    token = credential_and_token[1]
    body = api_submission()
    retries = 6
    apis = [ApiClient(Client(), token) for _ in range(retries)]
    responses = at_once([partial(with_key, api, body, "same-order") for api in apis])
    answers = [(response.status_code, response.content) for response in responses]
    assert len(answers) == retries
    assert {status for status, _ in answers} == {201}
    assert len({content for _, content in answers}) == 1
    assert ScreeningTest.objects.count() == 1
    assert Patient.objects.count() == 1


@pytest.mark.django_db
def test_the_stored_request_is_a_keyed_digest_not_a_plain_hash(api, pharmacy):
    """Issue 13, item 6: the request holds a NIR and a name; an unsalted hash of it would
    be found by hashing guessed identities. The row holds a PRF digest (data keys)."""
    assert with_key(api, api_submission(), "order-1").status_code == 201
    stored = IdempotencyKey.objects.get(key="order-1").request_hash
    assert index_key_id(stored) in data_key_ids()["prf"]
    # Keyed and scoped: the same request gives unrelated digests in two pharmacies.
    guessed = canonical_request("POST", "/api/v1/tests", api_submission())
    assert blind_index(DIGEST_PURPOSE, str(pharmacy.pk), guessed) != blind_index(
        DIGEST_PURPOSE, "another pharmacy", guessed
    )
