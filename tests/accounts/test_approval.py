"""Approving a pharmacy: checks that mean something, shown with their reasons beside what
the directories hold, a confirmation step, and a failed check overridden only by two
different administrators. Everything goes through the real views."""

import pytest
from django.core.cache import cache
from django.test import Client

from relais.accounts.models import Pharmacy, PharmacyApplication, User
from relais.audit.models import AuditEvent
from relais.directory import importers
from tests.accounts.onboarding_helpers import (
    approve,
    delivered,
    import_sample_directory,
    link_in,
    nothing_delivered,
)
from tests.support.factories import log_in, make_member, make_pharmacy, make_platform_admin

# The tester's case: a laboratory's FINESS and a doctor's RPPS (three checks fail).
LAB_AND_DOCTOR = {
    "pharmacy_name": "Pharmacie des Analyses",
    "finess": "750000041",
    "owner_name": "Marc Médecin",
    "owner_rpps": "10000000004",
    "owner_email": "marc@example.org",
}
# An impostor with public data only: a real pharmacy's FINESS, the RPPS of a pharmacist
# salaried there (an adjoint), their own name and e-mail.
IMPOSTOR = {
    "pharmacy_name": "Pharmacie de la Gare",
    "finess": "750000017",
    "owner_name": "Jean Imposteur",
    "owner_rpps": "10000000002",
    "owner_email": "jean@example.org",
}
TITULAIRE = {**IMPOSTOR, "owner_name": "Claire Titulaire", "owner_rpps": "10000000001",
             "owner_email": "claire@example.org"}  # fmt: skip
OVERRIDE_REASON = "Dossier papier vérifié auprès de la délégation ARS le 12 novembre."


@pytest.fixture(autouse=True)
def directory(db, settings):
    settings.LANGUAGE_CODE = "en"  # the assertions read English messages
    cache.clear()  # rate-limit counters
    import_sample_directory()


@pytest.fixture
def first_admin(db):
    return log_in(Client(), make_platform_admin("first@relais.test"))


@pytest.fixture
def second_admin(db):
    return log_in(Client(), make_platform_admin("second@relais.test"))


def submit(data) -> PharmacyApplication:
    response = Client().post("/apply/", data)
    assert response.status_code == 302 and response["Location"] == "/apply/received/"
    return PharmacyApplication.objects.get(owner_email=data["owner_email"])


def url(application) -> str:
    return f"/platform/applications/{application.pk}/"


def failed(application) -> set[str]:
    application.refresh_from_db()
    return set(application.failed_checks)


def status(application) -> str:
    application.refresh_from_db()
    return application.status


def request_override(client, application, reason=OVERRIDE_REASON):
    data = {"decision": "approve", "confirmed": "1", "override_reason": reason}
    return client.post(url(application), data)


def confirm_override(client, application):
    page = client.post(url(application), {"decision": "confirm_override"})
    assert page.status_code == 200 and OVERRIDE_REASON.encode() in page.content
    return client.post(url(application), {"decision": "confirm_override", "confirmed": "1"})


def test_a_lab_and_a_doctor_need_a_reason_and_a_second_administrator(
    first_admin, second_admin, smtp_server
):
    application = submit(LAB_AND_DOCTOR)
    assert failed(application) == {
        "finess_is_officine", "rpps_is_pharmacist", "rpps_titulaire_at_finess",
    }  # fmt: skip
    review = first_admin.get(url(application))
    assert review.content.count(b"check--failed") == 3
    assert b"Category 611 (Laboratoire d&#x27;Analyses et de Biologie M\xc3\xa9dicale)" in (
        review.content
    )
    assert b"Profession 10 (M\xc3\xa9decin), not 21 (pharmacist)." in review.content

    # The approve button leads to a page asking why; without a reason nothing changes.
    page = first_admin.post(url(application), {"decision": "approve"})
    assert page.status_code == 200 and b"These checks failed" in page.content
    no_reason = request_override(first_admin, application, reason="   ")
    assert no_reason.status_code == 200 and b"field--error" in no_reason.content
    assert status(application) == PharmacyApplication.Status.PENDING

    # With a reason, it waits for another administrator: nothing is approved yet.
    response = request_override(first_admin, application)
    assert response.status_code == 302
    assert status(application) == PharmacyApplication.Status.PENDING_OVERRIDE
    assert application.pharmacy.status == Pharmacy.Status.PENDING
    assert not User.objects.filter(email=LAB_AND_DOCTOR["owner_email"]).exists()
    assert nothing_delivered(smtp_server)
    event = AuditEvent.objects.get(action="application.override_requested")
    assert set(event.details["failed_checks"]) == failed(application)
    assert "ARS" not in str(event.details)  # the reason stays with the application

    # The second administrator reads the reason, confirms, and only then is it approved.
    response = confirm_override(second_admin, application)
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == PharmacyApplication.Status.APPROVED
    assert application.override_requested_by.email == "first@relais.test"
    assert application.decided_by.email == "second@relais.test"
    assert application.pharmacy.status == Pharmacy.Status.ACTIVE
    actions = list(
        AuditEvent.objects.filter(action__startswith="application.o").values_list(
            "action", flat=True
        )
    )
    assert actions == ["application.override_requested", "application.override_confirmed"]
    assert AuditEvent.objects.filter(action="application.approved").count() == 1
    (message,) = delivered(smtp_server, 1)
    assert message["To"] == LAB_AND_DOCTOR["owner_email"] and "activate" in link_in(message)


def test_the_administrator_who_asked_for_an_override_cannot_confirm_it(first_admin, smtp_server):
    application = submit(LAB_AND_DOCTOR)
    request_override(first_admin, application)
    page = first_admin.get(url(application))
    assert b"another administrator must confirm it" in page.content
    assert b'value="confirm_override"' not in page.content
    response = first_admin.post(
        url(application), {"decision": "confirm_override", "confirmed": "1"}, follow=True
    )
    assert b"Another administrator must confirm this override" in response.content
    # Nor can the first step be repeated to approve it.
    request_override(first_admin, application)
    assert status(application) == PharmacyApplication.Status.PENDING_OVERRIDE
    assert not AuditEvent.objects.filter(action="application.approved").exists()
    assert nothing_delivered(smtp_server)


def test_a_failed_check_cannot_be_approved_in_one_step(first_admin):
    application = submit(LAB_AND_DOCTOR)
    for data in (
        {"decision": "approve"},
        {"decision": "approve", "confirmed": "1"},
        {"decision": "confirm_override", "confirmed": "1"},  # no override asked for
    ):
        first_admin.post(url(application), data)
        assert status(application) == PharmacyApplication.Status.PENDING


def test_an_impostor_with_a_salaried_pharmacists_rpps_fails_and_is_shown(first_admin):
    application = submit(IMPOSTOR)
    assert failed(application) == {"rpps_titulaire_at_finess", "owner_name_matches"}
    review = first_admin.get(url(application)).content.decode()
    # The directory's name for that RPPS, beside the one typed.
    assert "Jean Imposteur" in review and "PAUL PHARMACIEN" in review
    assert "At this establishment as Adjoint (FON-05, Salarié), not as titulaire" in review
    assert "Typed “Jean Imposteur”; the directory holds “PAUL PHARMACIEN”." in review
    assert "PHARMACIE DE LA GARE (DEMO)" in review and ">open</td>" in review


def test_every_check_passed_still_needs_the_confirmation_page(first_admin, smtp_server):
    application = submit(TITULAIRE)
    assert failed(application) == set()
    review = first_admin.get(url(application)).content.decode()
    assert review.count("check--passed") == 7
    assert "Claire Titulaire" in review and "CLAIRE TITULAIRE" in review
    assert "Titulaire d&#x27;officine (FON-03), Libéral" in review
    for data in ({"decision": "approve"}, {"decision": "approve", "confirmed": "0"}):
        page = first_admin.post(url(application), data)
        assert page.status_code == 200
        assert status(application) == PharmacyApplication.Status.PENDING
    assert approve(first_admin, application).status_code == 302
    assert status(application) == PharmacyApplication.Status.APPROVED
    assert delivered(smtp_server, 1)[0]["To"] == TITULAIRE["owner_email"]


def test_a_closed_pharmacy_fails(first_admin, tmp_path):
    from relais.directory import SAMPLES_DIR

    sample = (SAMPLES_DIR / "etalab-finess-demo.csv").read_text()
    extract = tmp_path / "finess.csv"
    extract.write_text("\n".join(line for line in sample.splitlines() if "750000025" not in line))
    importers.import_finess(extract)
    application = submit(
        {
            "pharmacy_name": "Pharmacie du Canal",
            "finess": "750000025",
            "owner_name": "Inès Officine",
            "owner_rpps": "10000000003",
            "owner_email": "ines@example.org",
        }
    )
    assert failed(application) == {"finess_open"}
    review = first_admin.get(url(application)).content.decode()
    assert "Closed: no longer in the FINESS extract since" in review
    assert "closed (since" in review


def test_a_refusal_during_an_override_reaches_the_applicant(first_admin, second_admin, smtp_server):
    application = submit(LAB_AND_DOCTOR)
    request_override(first_admin, application)
    reason = "Ce FINESS est celui d'un laboratoire, pas d'une officine."
    second_admin.post(url(application), {"decision": "refuse", "reason": reason})
    application.refresh_from_db()
    assert application.status == PharmacyApplication.Status.REFUSED
    assert application.pharmacy.status == Pharmacy.Status.REFUSED
    (message,) = delivered(smtp_server, 1)
    assert message["To"] == LAB_AND_DOCTOR["owner_email"] and reason in message.get_content()
    # Decided: neither step of the override applies any more.
    data = {"decision": "confirm_override", "confirmed": "1"}
    confirm = second_admin.post(url(application), data, follow=True)
    assert b"already been decided" in confirm.content
    assert status(application) == PharmacyApplication.Status.REFUSED


def test_people_who_are_not_platform_administrators_cannot_decide(first_admin):
    application = submit(LAB_AND_DOCTOR)
    request_override(first_admin, application)
    owner = make_member(make_pharmacy("Autre", "750000099"), "o@example.org", "owner")
    for data in (
        {"decision": "confirm_override", "confirmed": "1"},
        {"decision": "approve", "confirmed": "1", "override_reason": "moi"},
        {"decision": "refuse", "reason": "non"},
    ):
        assert log_in(Client(), owner).post(url(application), data).status_code == 403
        assert Client().post(url(application), data).status_code == 302  # to the login page
    assert status(application) == PharmacyApplication.Status.PENDING_OVERRIDE


def test_a_double_post_approves_once_and_sends_one_link(first_admin, second_admin, smtp_server):
    passing = submit(TITULAIRE)
    approve(first_admin, passing)
    again = first_admin.post(url(passing), {"decision": "approve", "confirmed": "1"}, follow=True)
    assert b"already been decided" in again.content
    overridden = submit(LAB_AND_DOCTOR)
    request_override(first_admin, overridden)
    confirm_override(second_admin, overridden)
    again = second_admin.post(
        url(overridden), {"decision": "confirm_override", "confirmed": "1"}, follow=True
    )
    assert b"already been decided" in again.content
    assert AuditEvent.objects.filter(action="application.approved").count() == 2
    assert len(delivered(smtp_server, 2)) == 2
    assert smtp_server.messages[2:] == []
