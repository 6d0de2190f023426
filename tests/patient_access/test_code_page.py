"""The short-code page (/r/code/): a printed slip's code and the date of birth, together."""

import datetime
import hashlib

import pytest
from django.conf import settings
from django.utils import timezone

from relais.audit.models import AuditEvent
from relais.patient_access import codes, links
from relais.patient_access.models import ResultLink
from relais.patient_access.views import CODE_TRIES
from tests.support.factories import make_test
from tests.support.fictitious import date_fields
from tests.support.patient_pages import BIRTH_DATE, in_english

CODE_PATH = "/r/code/"
WRONG_DATE = datetime.date(1990, 1, 1)
UNIFORM = "The code or the date of birth is not right."


@pytest.fixture
def slip(patient, pharmacist):
    """(test, link, code as printed) of a validated test whose slip was printed."""
    test = make_test(patient, pharmacist, result="positive")
    link, token, code = links.issue_slip_link(test)
    return test, link, codes.grouped(code)


def send_code(client, code: str, date: datetime.date, **extra):
    return in_english(client).post(CODE_PATH, {"code": code, **date_fields(date)}, **extra)


def a_stranger_code() -> str:
    return codes.grouped(codes.new_code())


def test_the_page_asks_for_the_code_and_the_date_together(client):
    response = in_english(client).get(CODE_PATH)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="code"' in page and 'name="day"' in page and 'method="post"' in page
    assert client.get("/r/code")["Location"] == CODE_PATH


def test_the_right_code_and_date_open_the_result(client, slip):
    test, link, code = slip
    response = send_code(client, code, BIRTH_DATE)
    assert response.status_code == 302 and response["Location"] == "/r/result/"
    page = in_english(client).get("/r/result/").content.decode()
    assert "MARTIN Élodie Anne" in page and "Positive" in page
    event = AuditEvent.objects.get(action="patient_link.opened", target_id=str(test.pk))
    assert event.details == {"via": "code"}


@pytest.mark.parametrize("typed", ["lower", "spaces", "confusables"])
def test_the_code_is_read_as_people_type_it(client, slip, typed):
    test, link, code = slip
    variants = {
        "lower": code.lower(),
        "spaces": " " + code.replace("-", " ") + " ",
        "confusables": code.replace("0", "O").replace("1", "l"),
    }
    assert send_code(client, variants[typed], BIRTH_DATE)["Location"] == "/r/result/"


def test_a_wrong_code_a_wrong_date_and_a_closed_code_read_the_same(client, slip, pharmacist):
    """Before the date is right too, nothing tells whether a code exists."""
    test, link, code = slip
    expired_test = make_test(test.patient, pharmacist)
    expired, _token, expired_code = links.issue_slip_link(expired_test)
    ResultLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    answers = [
        send_code(client, a_stranger_code(), BIRTH_DATE),  # no such code
        send_code(client, code, WRONG_DATE),  # a live code, the wrong date
        send_code(client, codes.grouped(expired_code), WRONG_DATE),  # a closed code
    ]
    bodies = set()
    for response in answers:
        assert response.status_code == 403
        page = response.content.decode()
        assert UNIFORM in page
        assert "try left" not in page and "tries left" not in page
        assert "Pharmacie Test" not in page  # not even whose pharmacy
        bodies.add(page.split("<main")[1])
    assert len(bodies) == 1
    assert client.get("/r/result/").status_code == 403


def test_a_malformed_code_is_a_form_error_that_looks_nothing_up(client, slip):
    test, link, code = slip
    response = send_code(client, "ABCD-EFGH-JKM", BIRTH_DATE)
    assert response.status_code == 400
    assert "A code has 12 letters and digits" in response.content.decode()
    assert send_code(client, "UUUU-UUUU-UUUU", BIRTH_DATE).status_code == 400
    link.refresh_from_db()
    assert link.failures == 0


def test_wrong_dates_count_against_the_link_and_lock_it(client, slip):
    test, link, code = slip
    for _ in range(settings.PATIENT_LINK_MAX_TRIES):
        assert send_code(client, code, WRONG_DATE).status_code == 403
    link.refresh_from_db()
    assert link.locked_at is not None
    # Now even the right date is refused, and only then is the lock told.
    response = send_code(client, code, BIRTH_DATE)
    assert response.status_code == 403 and response.context["reason"] == "locked"
    assert client.get("/r/result/").status_code == 403


def test_an_expired_code_is_closed_and_says_so_only_to_the_right_date(client, slip):
    test, link, code = slip
    ResultLink.objects.filter(pk=link.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    wrong = send_code(client, code, WRONG_DATE)
    assert wrong.status_code == 403 and UNIFORM in wrong.content.decode()
    right = send_code(client, code, BIRTH_DATE)
    assert right.status_code == 403 and right.context["reason"] == "expired"
    assert "This link has expired." in right.content.decode()
    assert client.get("/r/result/").status_code == 403


def test_the_code_expires_with_its_link(slip):
    test, link, code = slip
    assert link.expires_at - link.created_at == datetime.timedelta(days=settings.PATIENT_LINK_DAYS)


def test_guessing_codes_is_limited_per_address(client, slip):
    test, link, code = slip
    for _ in range(CODE_TRIES):
        assert send_code(client, a_stranger_code(), BIRTH_DATE).status_code == 403
    # The limit holds even for the right code: a guesser cannot tell a hit.
    response = send_code(client, code, BIRTH_DATE)
    assert response.status_code == 429 and "Retry-After" in response
    assert client.get("/r/result/").status_code == 403
    # Another address is counted on its own.
    other = type(client)(REMOTE_ADDR="192.0.2.77")
    assert send_code(other, code, BIRTH_DATE)["Location"] == "/r/result/"


def test_the_code_is_stored_only_as_a_keyed_digest(slip):
    test, link, code = slip
    plain = codes.normalise(code)
    stored = ResultLink.objects.filter(pk=link.pk).values_list("code_digest", flat=True).get()
    assert plain not in stored and code not in stored
    assert stored != hashlib.sha256(plain.encode()).hexdigest()
    assert stored == codes.digest(plain)


def test_codes_have_60_random_bits_in_crockford_base32():
    drawn = {codes.new_code() for _ in range(200)}
    assert len(drawn) == 200
    for code in drawn:
        assert len(code) == 12 and set(code) <= set(codes.ALPHABET)
        assert codes.normalise(codes.grouped(code)) == code
    assert not set("ILOU") & set(codes.ALPHABET)
    assert len(codes.ALPHABET) ** codes.LENGTH == 2**60


def test_the_code_never_reaches_a_url_or_the_audit_log(client, slip):
    test, link, code = slip
    response = send_code(client, code, BIRTH_DATE)
    assert code not in response["Location"]
    send_code(type(client)(), code, WRONG_DATE)
    for event in AuditEvent.objects.filter(target_id=str(test.pk)):
        assert code not in str(event.details) and codes.normalise(code) not in str(event.details)
