"""Pharmacy B's owner, and strangers, try pharmacy A's ids, random ids and
sequential-looking ids on every URL pattern that takes an id, web and API."""

import uuid

from tests.support import routes
from tests.support.fictitious import api_submission
from tests.support.live import api_client, identity

OTHER_PHARMACY = "another pharmacy's ids on every id route"
GUESSED_IDS = "guessed and sequential ids"
LISTS = "another pharmacy's data in lists"
ANONYMOUS = "anonymous requests on every id route"

SEQUENTIAL = ["00000000-0000-0000-0000-000000000001", "00000000-0000-4000-8000-000000000000"]
NOT_UUIDS = ["1", "1%20OR%201=1"]
LOGIN = "/accounts/login/"


def id_routes() -> list[str]:
    return sorted(
        route
        for route in routes.routes()
        if routes.id_names(route) and not routes.is_patient_page(route)
    )


def reached(response, secrets: list[str]) -> str:
    """Why the response gave the attacker something, or ""."""
    if response.status_code == 302 and response.headers["location"].startswith(LOGIN):
        return ""
    if response.status_code < 400:
        return f"{response.status_code}"
    leaked = [value for value in secrets if value and value in response.text]
    return f"{response.status_code} shows {leaked}" if leaked else ""


def a_secrets(live) -> list[str]:
    data = live.personal_data[0]
    return [data["birth_name"], data["nir"], data["email"], data["given_names"]]


def request_both(live, route, path, browser, api):
    """GET, and a POST that would pass every check but the pharmacy scope."""
    if routes.is_api(route):
        yield api.get(path)
        yield api.post(path, json=api_submission()["test"])
    else:
        yield browser.get(path)
        yield browser.post_form(path, {"reason": "duplicate", "status": "suspended"})


def test_another_pharmacy_gets_nothing_on_any_id_route(live, attacks, ids_of_a):
    browser, api = live.login("b_owner"), live.api("b")
    found = id_routes()
    assert len(found) >= 12, found
    for route in found:
        path = routes.fill(route, ids_of_a)
        for response in request_both(live, route, path, browser, api):
            why = reached(response, a_secrets(live))
            attacks.attempt(OTHER_PHARMACY, bool(why), f"{response.request.method} {path}: {why}")
    attacks.assert_none(OTHER_PHARMACY)
    # A itself reaches its objects there, so the refusals above come from the scope.
    own = live.login("a_owner").get(routes.fill("tests/<uuid:test_id>/", ids_of_a))
    assert own.status_code == 200


def test_guessed_ids_find_nothing(live, attacks):
    browser, api = live.login("b_owner"), live.api("b")
    for route in id_routes():
        guesses = [*SEQUENTIAL, str(uuid.uuid4())]
        paths = [routes.fill(route, dict.fromkeys(routes.id_names(route), g)) for g in guesses]
        for guess in NOT_UUIDS:
            paths.append(routes.fill(route, dict.fromkeys(routes.id_names(route), guess)))
        for path in paths:
            for response in request_both(live, route, path, browser, api):
                why = reached(response, a_secrets(live))
                attacks.attempt(GUESSED_IDS, bool(why), f"{path}: {why}")
                assert response.status_code < 500, f"{path}: {response.status_code}"
    attacks.assert_none(GUESSED_IDS)


def test_strangers_get_nothing_on_any_id_route(live, attacks, ids_of_a):
    stranger = live.browser("127.0.0.3")
    no_credential = api_client(live, None, "127.0.0.3")
    forged = api_client(live, "rl_abcdefgh_" + "x" * 43, "127.0.0.3")
    for route in id_routes():
        path = routes.fill(route, ids_of_a)
        for api in (no_credential, forged):
            for response in request_both(live, route, path, stranger, api):
                why = reached(response, a_secrets(live))
                attacks.attempt(ANONYMOUS, bool(why), f"{path}: {why}")
    attacks.assert_none(ANONYMOUS)


def test_lists_show_only_the_callers_pharmacy(live, attacks, ids_of_a):
    browser, api = live.login("b_owner"), live.api("b")
    a_data = live.personal_data[0]
    a_values = [*a_secrets(live), ids_of_a["test_id"], ids_of_a["patient_id"]]
    answers = [(page, browser.get(page)) for page in ("/", "/api-credentials/", "/accounts/staff/")]
    answers.append(("/api/v1/tests", api.get("/api/v1/tests")))
    by_identity = {"birth_name": a_data["birth_name"], "birth_date": a_data["birth_date"]}
    for criteria in ({"nir": a_data["nir"]}, by_identity):
        answers.append((f"search {sorted(criteria)}", browser.search_patients(criteria)))
    for page, response in answers:
        assert response.status_code == 200, f"{page}: {response.status_code}"
        # What the caller typed comes back in the search form: not a leak.
        shown = response.text
        for typed in (a_data["nir"], a_data["birth_name"]):
            shown = shown.replace(f'value="{typed}"', "")
        leaked = [value for value in a_values if value in shown]
        attacks.attempt(LISTS, bool(leaked), f"{page} shows {leaked}")
    attacks.assert_none(LISTS)


IDEMPOTENCY = "another pharmacy's idempotency key"
KEYED_PATIENT = identity("Pellegrinaud", "", "Maëlys", "2001-04-09", "F", 129, "+33633445561",
                        "maelys.pellegrinaud@example.org", "3 chemin des Loriots")  # fmt: skip


def test_an_idempotency_key_never_replays_another_pharmacys_answer(live, attacks):
    live.personal_data.append(KEYED_PATIENT)
    key = f"attack-{uuid.uuid4()}"
    body = {"patient": KEYED_PATIENT, "test": api_submission()["test"]}
    first = live.api("a").post("/api/v1/tests", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    other = {"patient": KEYED_PATIENT, "test": dict(body["test"], result="positive")}
    for attempt in (body, other):
        second = live.api("b").post("/api/v1/tests", json=attempt, headers={"Idempotency-Key": key})
        replayed = first.json()["id"] in second.text
        attacks.attempt(IDEMPOTENCY, replayed, f"B got A's answer: {second.status_code}")
        assert second.status_code in (201, 409, 422), second.text
    attacks.assert_none(IDEMPOTENCY)
