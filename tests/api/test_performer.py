"""The API names the test's performer by RPPS: a pharmacist or the owner of the
credential's pharmacy; SI-DEP gets that pharmacist (ORC-12, OBR-16, OBX-25)."""

import pytest
from django.utils import timezone

from relais.accounts.models import Membership
from relais.screening.models import ScreeningTest
from relais.transmission.hl7 import build_oru_r01
from tests.support.factories import make_member
from tests.support.fictitious import OTHER_PERFORMER_RPPS, PERFORMER_RPPS, api_submission

pytestmark = pytest.mark.django_db

OWNER_RPPS = "10005555555"


def create(api, rpps):
    return api.post("/tests", api_submission(performer_rpps=rpps))


def segment_fields(message: str, name: str) -> list[str]:
    [segment] = [line for line in message.split("\r") if line.startswith(name + "|")]
    return segment.split("|")


def test_the_named_pharmacist_is_the_performer_sent_to_sidep(api, credential, pharmacist):
    response = create(api, PERFORMER_RPPS)
    assert response.status_code == 201, response.content
    test = ScreeningTest.objects.get(pk=response.json()["id"])
    assert (test.performed_by, test.recorded_by) == (pharmacist, credential.service_user)
    message = build_oru_r01(test, message_id="M1", result_status="F", created_at=timezone.now())
    assert segment_fields(message, "ORC")[12].startswith(PERFORMER_RPPS + "^")
    assert segment_fields(message, "OBR")[16].startswith(PERFORMER_RPPS + "^")
    # The result OBX names who did the test (the symptom question OBX that follow do not).
    first_obx = next(s.split("|") for s in message.split("\r") if s.startswith("OBX|"))
    assert first_obx[25].startswith(PERFORMER_RPPS + "^")
    # The credential still reads what it recorded.
    assert api.get(f"/tests/{test.pk}").status_code == 200


def test_the_owner_may_be_the_performer(api, pharmacy):
    owner = make_member(pharmacy, "owner2@example.org", Membership.Role.OWNER, rpps=OWNER_RPPS)
    response = create(api, OWNER_RPPS)
    assert response.status_code == 201, response.content
    assert ScreeningTest.objects.get(pk=response.json()["id"]).performed_by == owner


@pytest.mark.parametrize("who", ["assistant", "other_pharmacy", "unknown", "inactive", "empty"])
def test_anyone_else_is_refused(api, pharmacy, pharmacist, other_pharmacist, who):
    rpps = {
        "other_pharmacy": OTHER_PERFORMER_RPPS,
        "unknown": "19999999999",
        "empty": "",
    }.get(who, "10007777777")
    if who == "assistant":
        make_member(pharmacy, "assistant@example.org", Membership.Role.ASSISTANT, rpps=rpps)
    if who == "inactive":
        gone = make_member(pharmacy, "gone@example.org", rpps=rpps)
        gone.is_active = False
        gone.save()
    count = ScreeningTest.objects.count()
    response = create(api, rpps)
    assert response.status_code == 422, response.content
    [error] = response.json()["errors"]
    # An empty RPPS is not of the documented shape: refused by the schema.
    code = "string_pattern_mismatch" if who == "empty" else "unknown_performer"
    assert (error["field"], error["code"]) == ("/test/performer_rpps", code)
    assert ScreeningTest.objects.count() == count


def test_the_rpps_is_required(api):
    body = api_submission()
    del body["test"]["performer_rpps"]
    response = api.post("/tests", body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "/test/performer_rpps"


def test_a_correction_may_name_another_performer(api, pharmacy, screening_test):
    owner = make_member(pharmacy, "owner2@example.org", Membership.Role.OWNER, rpps=OWNER_RPPS)
    body = api_submission(performer_rpps=OWNER_RPPS)["test"]
    response = api.post(f"/tests/{screening_test.pk}/correction", body, headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.content
    assert "performer_rpps" in response.json()["changed_fields"]
    assert ScreeningTest.objects.get(pk=screening_test.pk).performed_by == owner
