"""The link page's and the date check's look-up (relais.patient_access.links.link_state):
one statement reading the columns the pages use, on the tables that hold them, with no
ORDER BY (a token is unique), and the same answers as the full link had."""

import datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from relais.audit.models import AuditEvent
from relais.lib.tokens import token_digest
from relais.patient_access import links
from relais.patient_access.models import ResultLink
from relais.screening.models import Patient
from tests.support.fictitious import date_fields
from tests.support.patient_pages import BIRTH_DATE, OPEN_PATH, follow_link, post_date

WRONG_DATE = datetime.date(1985, 3, 15)


def link_selects(queries) -> list[str]:
    return [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT") and '"patient_access_resultlink"' in query["sql"]
    ]


def test_the_link_page_reads_one_lean_row(client, linked_test):
    test, token = linked_test
    client.get(f"/r/{token}")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(OPEN_PATH)
    assert response.status_code == 200
    (select,) = link_selects(queries)
    assert "ORDER BY" not in select
    # Neither the patient nor the performer: the page names the pharmacy only.
    assert "screening_patient" not in select and "accounts_user" not in select
    assert '"screening_screeningtest"."result"' not in select


def test_the_date_check_reads_one_lean_row_locked_for_update(client, linked_test):
    test, token = linked_test
    client.get(f"/r/{token}")
    with CaptureQueriesContext(connection) as queries:
        response = client.post(OPEN_PATH, date_fields(BIRTH_DATE))
    assert response.status_code == 302
    (select,) = link_selects(queries)
    assert "ORDER BY" not in select and "accounts_user" not in select
    if connection.vendor == "postgresql":
        assert select.endswith('FOR UPDATE OF "patient_access_resultlink"')


def test_a_link_state_holds_what_the_pages_show(linked_test):
    test, token = linked_test
    test.pharmacy.phone = "01 23 45 67 89"
    test.pharmacy.save()
    state = links.find_link_by_hash(token_digest(token))
    assert state is not None
    link = ResultLink.objects.get(test=test)
    assert (state.pk, state.test_id, state.failures) == (link.pk, test.pk, 0)
    assert state.expires_at == link.expires_at and state.closed_reason() == ""
    pharmacy = state.pharmacy
    assert (pharmacy.pk, pharmacy.name, pharmacy.phone) == (
        test.pharmacy.pk,
        test.pharmacy.name,
        "01 23 45 67 89",
    )
    assert state.birth_date_ciphertext is None  # read by the date check only
    assert links.find_link_by_hash(token_digest(token + "x")) is None


def test_the_date_check_decrypts_the_patient_birth_date_under_its_own_row(linked_test):
    test, token = linked_test
    result = links.check_birth_date(token_digest(token), BIRTH_DATE)
    assert result.opened and result.link is not None
    assert result.link.patient_id == test.patient_id
    assert links.birth_date_of(result.link) == BIRTH_DATE


def test_audit_events_name_the_test_and_its_pharmacy(client, linked_test):
    test, token = linked_test
    follow_link(client, token)
    post_date(client, token, WRONG_DATE)
    events = AuditEvent.objects.filter(action__in=["patient_link.view", "patient_link.refused"])
    assert {(e.action, e.target_type, e.target_id, e.pharmacy_id) for e in events} == {
        ("patient_link.view", "screening.screeningtest", str(test.pk), test.pharmacy_id),
        ("patient_link.refused", "screening.screeningtest", str(test.pk), test.pharmacy_id),
    }
    refused = events.get(action="patient_link.refused")
    assert refused.details == {"reason": "wrong_date", "failures": 1}


def test_a_cancelled_test_closes_its_link(client, linked_test):
    test, token = linked_test
    test.cancelled_at = timezone.now()
    test.save(update_fields=["cancelled_at"])
    assert follow_link(client, token).context["reason"] == "revoked"
    response = post_date(client, token, BIRTH_DATE)
    assert response.status_code == 403 and response.context["reason"] == "revoked"


def test_the_last_wrong_date_locks_the_row_and_the_answer(linked_test, settings):
    test, token = linked_test
    ResultLink.objects.filter(test=test).update(failures=settings.PATIENT_LINK_MAX_TRIES - 1)
    result = links.check_birth_date(token_digest(token), WRONG_DATE)
    assert (result.opened, result.reason, result.tries_left) == (False, "locked", 0)
    assert result.link is not None and result.link.closed_reason() == "locked"
    link = ResultLink.objects.get(test=test)
    assert link.locked_at is not None
    assert link.failures == settings.PATIENT_LINK_MAX_TRIES
    # The right date no longer opens it, and counts no more failures.
    result = links.check_birth_date(token_digest(token), BIRTH_DATE)
    assert (result.opened, result.reason, result.date_matched) == (False, "locked", True)
    assert ResultLink.objects.get(test=test).failures == settings.PATIENT_LINK_MAX_TRIES


def test_a_patient_without_a_birth_date_opens_with_no_date(linked_test):
    """Not even the dummy date an unknown token is compared with."""
    test, token = linked_test
    Patient.objects.filter(pk=test.patient_id).update(birth_date=None)
    for typed in (links.DUMMY_BIRTH_DATE, BIRTH_DATE):
        result = links.check_birth_date(token_digest(token), typed)
        assert (result.opened, result.reason) == (False, "wrong_date")


def test_a_link_read_without_its_birth_date_matches_no_date(linked_test):
    test, token = linked_test
    assert links.birth_date_of(links.find_link_by_hash(token_digest(token))) is None
    assert links.birth_date_of(None) == links.DUMMY_BIRTH_DATE
