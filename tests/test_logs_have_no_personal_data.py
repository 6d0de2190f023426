"""Run the real flows with every logger at DEBUG and look for personal data in the logs.

The flows: failed and successful logins (wrong password, wrong code, unknown address
that is a patient's e-mail), registering a patient (valid and invalid), searches by
NIR and by name, viewing and editing, recording a test (valid and invalid), another
pharmacy's patient, a broken request, and the worker's jobs (chain, purge).
"""

import logging

import pytest
from django.urls import reverse

from relais.lib.logging import PersonalDataFilter, scrub
from relais.screening.models import Patient
from relais.worker import run_round
from tests.support.factories import (
    form_guards,
    log_in,
    make_member,
    make_pharmacy,
    screening_test_form,
    totp_code,
)

IDENTITY = {
    "birth_name": "Quenouille",
    "used_name": "Brindacier",
    "given_names": "Philomène",
    "birth_date": "1979-11-23",
    "sex": "F",
    "birthplace_code": "75056",
    "nir": "2 79 11 75 056 101 62",
    "address": "7 impasse des Glycines",
    "postal_code": "75020",
    "city": "Paris",
    "phone": "06 98 76 54 32",
    "email": "philomene.quenouille@example.net",
}
NEEDLES = [
    "Quenouille", "QUENOUILLE", "Brindacier", "BRINDACIER", "Philomène", "Philomene",
    "1979-11-23", "23/11/1979", "23.11.1979", "19791123",
    "279117505610162", "2 79 11 75 056 101 62",
    "0698765432", "06 98 76 54 32", "+33698765432", "698765432",
    "philomene.quenouille", "Glycines",
]  # fmt: skip


@pytest.fixture
def every_log_line(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def run_flows(client, pharmacy, pharmacist, intruder):
    login = reverse("accounts:login")
    client.post(login, {"email": pharmacist.email, "password": "wrong", "otp_token": "123456"})
    client.post(login, {"email": IDENTITY["email"], "password": "x", "otp_token": "000000"})
    client.post(login, {"email": pharmacist.email, "password": "correct horse battery staple 42",
                        "otp_token": "000000"})  # fmt: skip
    client.post(login, {"email": pharmacist.email, "password": "correct horse battery staple 42",
                        "otp_token": totp_code(pharmacist)})  # fmt: skip
    log_in(client, pharmacist)
    new = reverse("screening:patient_new")
    client.post(
        new, {**IDENTITY, "nir": "2 79 11 75 056 101 99", "email": "philomene@", **form_guards()}
    )
    assert client.post(new, {**IDENTITY, **form_guards()}).status_code == 302
    patient = Patient.objects.get(pharmacy=pharmacy)
    search = reverse("screening:patient_search")
    client.post(search, {"nir": IDENTITY["nir"]}, follow=True)
    client.post(
        search,
        {"birth_name": IDENTITY["birth_name"], "birth_date": IDENTITY["birth_date"]},
        follow=True,
    )
    client.post(search, {"nir": "279117505610199"})
    client.get(reverse("screening:patient_detail", args=[patient.pk]))
    edit = reverse("screening:patient_edit", args=[patient.pk])
    client.post(edit, {**IDENTITY, "birth_date": "2999-01-01", **form_guards(patient)})
    client.post(edit, {**IDENTITY, "city": "Lyon", "postal_code": "69001", **form_guards(patient)})
    test_new = reverse("screening:test_new", args=[patient.pk])
    client.post(test_new, screening_test_form(sampled_at="1970-01-01T10:00"))
    client.post(test_new, screening_test_form())
    client.get(reverse("screening:day"))
    client.get(f"/patients/{patient.pk}/?nir={IDENTITY['nir']}&email={IDENTITY['email']}")
    client.post(reverse("accounts:logout"))
    log_in(client, intruder)
    assert client.get(reverse("screening:patient_detail", args=[patient.pk])).status_code == 404
    client.post(edit, {**IDENTITY, **form_guards(patient)})
    client.get("/patients/not-a-uuid/")
    client.post(login, {"email": IDENTITY["email"] * 50, "password": IDENTITY["nir"]})
    run_round()


def test_flows_log_no_personal_data(client, every_log_line, transactional_db):
    pharmacy = make_pharmacy()
    pharmacist = make_member(pharmacy, "pharmacien@example.org")
    intruder = make_member(make_pharmacy("Autre", "750000002"), "intrus@example.org")
    run_flows(client, pharmacy, pharmacist, intruder)
    records = every_log_line.records
    assert len(records) >= 3, "the flows log nothing: the test would prove nothing"
    assert any(r.name == "django.request" for r in records)  # 404s and 403s were logged
    for record in records:
        text = logging.Formatter().format(record) + " " + repr(record.args)
        for needle in NEEDLES:
            assert needle.lower() not in text.lower(), f"{record.name}: {needle!r} in a log line"


def test_filter_masks_what_slips_through():
    record = logging.LogRecord(
        "relais", logging.ERROR, __file__, 1,
        "patient %s %s reached at %s, NIR %s", ("x", "philomene.quenouille@example.net",
                                                 "+33 6 98 76 54 32", "2 79 11 75 056 101 62"),
        None,
    )  # fmt: skip
    assert PersonalDataFilter().filter(record)
    message = record.getMessage()
    assert "quenouille" not in message and "98 76" not in message and "056" not in message
    assert message.count("[redacted]") == 3


def test_filter_masks_tracebacks():
    try:
        raise ValueError("bad NIR 279117505610162 for philomene@example.net")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "relais", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    PersonalDataFilter().filter(record)
    assert "279117505610162" not in record.exc_text and "philomene@" not in record.exc_text
    assert "ValueError" in record.exc_text


def test_filter_leaves_ordinary_lines_alone():
    line = "worker job transmission handled 12 row(s) in 0.53 s; request a1b2c3d4e5f60718 id 42"
    assert scrub(line) == line
    assert scrub("GET /patients/3f2a4c1e-1111-2222-3333-444455556666/ 200") == (
        "GET /patients/3f2a4c1e-1111-2222-3333-444455556666/ 200"
    )


def test_every_configured_handler_has_the_filter(settings):
    for name, handler in settings.LOGGING["handlers"].items():
        assert "personal_data" in handler.get("filters", []), name
    for handler in logging.getLogger().handlers:
        if not type(handler).__module__.startswith("_pytest"):
            assert any(isinstance(f, PersonalDataFilter) for f in handler.filters)
