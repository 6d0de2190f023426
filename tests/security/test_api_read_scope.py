"""A leaked API credential (pharmacy A's software) tries to learn what it never wrote:
tests recorded on the web pages, tests another credential of the same pharmacy recorded,
and the record of a person it knows only by name and birth date."""

import datetime

from tests.support.fictitious import api_submission, make_nir
from tests.support.live import PYTHON, api_client, run

READ_SCOPE = "API credential reads tests it did not record"
PATIENT_ID = "API credential learns a stored patient's id by name and birth date"
SOURCE = "127.0.0.41"


def second_credential(live) -> str:
    """Another LGO of pharmacy A, created the way an operator does it."""
    finess = live.spec["pharmacies"]["a"]["finess"]
    argv = [PYTHON, "-m", "relais", "api-credentials", "create", "--pharmacy", finess,
            "--name", "LGO second counter"]  # fmt: skip
    return run(argv, live.env, live.root / "run").strip()


def by_name_and_birth_date(data: dict) -> dict:
    """What someone who knows only a person's identity (no NIR) sends."""
    birth = datetime.date.fromisoformat(data["birth_date"])
    patient = {key: data[key] for key in ("birth_name", "given_names", "sex")}
    # A new sample: the person's stored tests may be recent (a possible duplicate is a 409).
    return api_submission({**patient, "birth_date": birth}, new_sample=True)


def listed(api) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/tests", params=params)
        assert page.status_code == 200, page.status_code
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def test_a_leaked_credential_reads_only_what_it_recorded(live, attacks):
    leaked = live.api("a", SOURCE)
    sibling = api_client(live, second_credential(live), SOURCE)
    birth = datetime.date(1990, 5, 17)
    theirs = sibling.post("/api/v1/tests", json=api_submission({
        "birth_name": "Ravanelle", "given_names": "Oriane", "sex": "F", "birth_date": birth,
        "nir": make_nir("F", birth, 733)}))  # fmt: skip
    assert theirs.status_code == 201, theirs.text[:300]
    targets = {
        "web test a1": live.seeded["tests"]["a1"],
        "web test a2": live.seeded["tests"]["a2"],
        "the other credential's test": theirs.json()["id"],
    }
    for what, test_id in targets.items():
        response = leaked.get(f"/api/v1/tests/{test_id}")
        attacks.attempt(READ_SCOPE, response.status_code != 404, f"{what}: {response.status_code}")
    for what, test_id in targets.items():
        # A correction answers with the test: it is a read too (and a write it never had).
        body = api_submission(result="positive")["test"]
        response = leaked.post(
            f"/api/v1/tests/{test_id}/correction", json=body, headers={"If-Match": '"1"'}
        )
        attacks.attempt(READ_SCOPE, response.status_code != 404, f"{what} corrected: "
                        f"{response.status_code}")  # fmt: skip
    seen = {item["id"] for item in listed(leaked)}
    for what, test_id in targets.items():
        attacks.attempt(READ_SCOPE, test_id in seen, f"{what} listed")
    # The other credential does read its own test: the 404s above are the scope.
    assert sibling.get(f"/api/v1/tests/{theirs.json()['id']}").status_code == 200
    attacks.assert_none(READ_SCOPE)


def test_a_name_and_birth_date_never_give_a_stored_patient_id(live, attacks):
    leaked = live.api("a", SOURCE)
    for key in ("a1", "a2"):
        stored_id = live.seeded["patients"][key]
        data = live.spec["patients"][key]["data"]
        created = leaked.post("/api/v1/tests", json=by_name_and_birth_date(data))
        assert created.status_code == 201, created.text[:300]
        assert created.json()["patient_created"] is False  # the stored patient was found
        attacks.attempt(PATIENT_ID, stored_id in created.text, f"{key}: in the create answer")
        read = leaked.get(f"/api/v1/tests/{created.json()['id']}")
        assert read.status_code == 200
        attacks.attempt(PATIENT_ID, stored_id in read.text, f"{key}: in the test's answer")
        listing = leaked.get("/api/v1/tests", params={"limit": "200"})
        attacks.attempt(PATIENT_ID, stored_id in listing.text, f"{key}: in the list")
    attacks.assert_none(PATIENT_ID)


def test_each_test_an_api_list_returns_is_audited_by_its_id(live):
    leaked = live.api("a", SOURCE)
    returned = {item["id"] for item in listed(leaked)}
    assert returned, "the credential recorded tests in the attacks above"
    audited = {
        row[0]
        for row in live.query(
            "SELECT target_id FROM audit_auditevent WHERE action = 'test.api_list'"
        )
    }
    assert returned <= audited
