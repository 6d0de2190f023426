"""Memberships with consent, several pharmacies per person, and the owner's tools (roles,
second-factor reset, the pharmacy's access log), through the real views."""

import re

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts.models import FormDraft, Invitation, Membership, User, UserSession
from relais.audit.models import AuditEvent
from relais.screening.models import ScreeningTest
from tests.accounts.onboarding_helpers import RECOVERY_RE, delivered, login
from tests.support.factories import (
    PASSWORD,
    device_code,
    log_in,
    make_member,
    make_patient,
    make_pharmacy,
    make_platform_admin,
    next_totp_code,
    screening_test_form,
)

CONFIRMED = {"confirmed": "1"}
STAFF = "/accounts/staff/"
CHOOSER = "/accounts/pharmacy/"


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def owner(pharmacy):
    return make_member(pharmacy, "owner@example.org", Membership.Role.OWNER, full_name="Olga Owner")


@pytest.fixture
def owner_client(owner):
    return log_in(Client(), owner)


@pytest.fixture
def other_owner(other_pharmacy):
    return make_member(other_pharmacy, "owner-b@example.org", Membership.Role.OWNER)


def invite(client, email, role="pharmacist", full_name="Typed By Owner"):
    return client.post(STAFF, {"email": email, "full_name": full_name, "role": role})


def real_login(user) -> tuple[Client, object]:
    """A client logged in through the login page (password and TOTP code)."""
    client = Client()
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return client, login(client, user.email, PASSWORD, next_totp_code(device))


def invitations_table(page: str) -> str:
    return page.split("<h2>Invitations</h2>")[1].split("</table>")[0]


def act_for(client, pharmacy):
    return client.post(CHOOSER, {"pharmacy": str(pharmacy.pk)})


# --- Consent ---------------------------------------------------------------------------------


def test_an_existing_account_joins_only_once_its_holder_accepts(
    owner_client, pharmacy, other_pharmacy, smtp_server
):
    elsewhere = make_member(other_pharmacy, "busy@example.org", full_name="Bérénice Réelle")
    log_in(Client(), elsewhere)  # a last login the owner must not see
    response = invite(owner_client, "busy@example.org")
    assert response.status_code == 302
    assert not Membership.objects.filter(user=elsewhere, pharmacy=pharmacy).exists()
    page = owner_client.get(STAFF).content.decode()
    row = invitations_table(page)
    assert "busy@example.org" in row and "invitation sent" in row
    assert "Bérénice" not in page and "Réelle" not in page
    assert "Typed By Owner" not in page
    (message,) = delivered(smtp_server, 1)
    assert message["To"] == "busy@example.org"
    assert "?t=" not in message.get_content() and CHOOSER in message.get_content()

    client, response = real_login(elsewhere)
    assert response["Location"] == CHOOSER  # pending invitations come first
    chooser = client.get(CHOOSER).content.decode()
    assert pharmacy.name in chooser and "Accept" in chooser
    invitation = Invitation.objects.get(user=elsewhere)
    response = client.post(f"/accounts/invitations/{invitation.pk}/", {"answer": "accept"})
    assert response.status_code == 302
    membership = Membership.objects.get(user=elsewhere, pharmacy=pharmacy)
    assert membership.role == Membership.Role.PHARMACIST
    event = AuditEvent.objects.get(action="staff.invitation_accepted")
    assert event.actor_id == elsewhere.pk and event.pharmacy_id == pharmacy.pk
    page = owner_client.get(STAFF).content.decode()
    assert "Bérénice Réelle" in page and "<h2>Invitations</h2>" not in page


def rendered_invitation(client, email, invitation) -> tuple[str, str]:
    """The flash message and the invitation's row, with the address and the id blanked."""
    response = invite(client, email)
    follow = client.get(response["Location"]).content.decode()
    message = re.search(r'<p class="message[^"]*">(.*?)</p>', follow).group(1)
    row = [r for r in invitations_table(follow).split("<tr>") if email in r][0]
    row = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", row.split("</tr>")[0])
    return message, row.replace(email, "ADDRESS").replace(str(invitation(email).pk), "ID")


def test_the_owner_sees_the_same_for_any_address(owner_client, other_pharmacy, smtp_server):
    make_member(other_pharmacy, "exists@example.org")
    make_platform_admin("admin@example.org")

    def invitation(email):
        return Invitation.objects.get(email=email)

    answers = [
        rendered_invitation(owner_client, email, invitation)
        for email in ("nobody@example.org", "exists@example.org", "admin@example.org")
    ]
    assert answers[0] == answers[1] == answers[2]
    assert "Invitation sent" in answers[0][0]


def test_a_platform_account_can_never_join_a_pharmacy(owner_client, pharmacy, smtp_server):
    admin = make_platform_admin("admin@example.org")
    invite(owner_client, "admin@example.org")
    (message,) = delivered(smtp_server, 1)
    assert message["To"] == "admin@example.org" and "platform account" in message.get_content()
    invitation = Invitation.objects.get(email="admin@example.org")
    admin_client = log_in(Client(), admin)
    assert "Accept" not in admin_client.get(CHOOSER).content.decode()
    url = f"/accounts/invitations/{invitation.pk}/"
    assert admin_client.post(url, {"answer": "accept"}).status_code == 404
    assert not Membership.objects.filter(user=admin).exists()


def test_a_declined_invitation_adds_no_one_and_tells_the_owner_nothing(
    owner_client, pharmacy, other_pharmacy, smtp_server
):
    person = make_member(other_pharmacy, "nope@example.org")
    invite(owner_client, "nope@example.org")
    invitation = Invitation.objects.get(user=person)
    client = log_in(Client(), person)
    response = client.post(f"/accounts/invitations/{invitation.pk}/", {"answer": "decline"})
    assert response.status_code == 302
    assert not Membership.objects.filter(user=person, pharmacy=pharmacy).exists()
    assert "invitation sent" in invitations_table(owner_client.get(STAFF).content.decode())
    # Answered once: a second answer finds nothing.
    assert (
        client.post(f"/accounts/invitations/{invitation.pk}/", {"answer": "accept"}).status_code
        == 404
    )
    again = invite(owner_client, "nope@example.org")
    assert again.status_code == 200 and "already waiting" in again.content.decode()
    assert AuditEvent.objects.filter(action="staff.invitation_declined").count() == 1


def test_nobody_answers_someone_elses_invitation(owner_client, pharmacy, other_pharmacy):
    invitee = make_member(other_pharmacy, "invitee@example.org")
    intruder = make_member(other_pharmacy, "intruder@example.org")
    invite(owner_client, "invitee@example.org")
    invitation = Invitation.objects.get(user=invitee)
    client = log_in(Client(), intruder)
    for answer in ("accept", "decline"):
        url = f"/accounts/invitations/{invitation.pk}/"
        assert client.post(url, {"answer": answer}).status_code == 404
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.PENDING
    assert not Membership.objects.filter(pharmacy=pharmacy, user__in=[invitee, intruder]).exists()


# --- Several pharmacies -----------------------------------------------------------------------


@pytest.fixture
def both(pharmacy, other_pharmacy):
    """A pharmacist of both pharmacies."""
    user = make_member(pharmacy, "both@example.org")
    Membership.objects.create(user=user, pharmacy=other_pharmacy, role=Membership.Role.ASSISTANT)
    return user


def test_a_person_of_two_pharmacies_chooses_and_sees_only_the_chosen_ones_data(
    both, pharmacy, other_pharmacy
):
    client, response = real_login(both)
    assert response["Location"] == CHOOSER
    assert client.get("/").status_code == 403  # acting for no pharmacy yet
    act_for(client, pharmacy)
    patient = make_patient(pharmacy, both)
    response = client.post(f"/patients/{patient.pk}/tests/new/", screening_test_form())
    assert response.status_code == 302  # recorded through the page, acting for A
    test = ScreeningTest.objects.get(patient=patient)
    assert test.pharmacy_id == pharmacy.pk
    assert client.get(f"/tests/{test.pk}/").status_code == 200
    assert "MARTIN" in client.get("/").content.decode()
    # The header's switch leads to the chooser; switching drops A's session state.
    assert f'href="{CHOOSER}"' in client.get("/").content.decode()
    session = client.session
    session["patient_searches"] = {"k": {"at": "2026-01-01T00:00:00+00:00", "blob": ""}}
    session.save()
    assert act_for(client, other_pharmacy).status_code == 302
    assert "patient_searches" not in client.session
    assert client.get(f"/tests/{test.pk}/").status_code == 404
    assert client.get(f"/patients/{test.patient_id}/").status_code == 404
    assert "MARTIN" not in client.get("/").content.decode()
    assert AuditEvent.objects.filter(action="pharmacy.chosen").count() == 2


def test_nobody_acts_for_a_pharmacy_they_do_not_belong_to(both, pharmacy):
    stranger = make_member(make_pharmacy("Pharmacie C", "750000003"), "c@example.org")
    client = log_in(Client(), stranger)
    assert act_for(client, pharmacy).status_code == 404
    assert pharmacy.name not in client.get("/").content.decode()


def test_removal_from_one_pharmacy_leaves_the_other_untouched(
    both, owner_client, pharmacy, other_pharmacy
):
    in_a = log_in(Client(), both)
    act_for(in_a, pharmacy)
    in_b = log_in(Client(), both)
    act_for(in_b, other_pharmacy)
    assert in_a.get("/").status_code == in_b.get("/").status_code == 200
    for where in (pharmacy, other_pharmacy):
        FormDraft.objects.create(
            user=both, pharmacy=where, path="/patients/", content=b"x",
            created_at="2026-01-01T00:00Z", expires_at="2099-01-01T00:00Z",
        )  # fmt: skip
    membership = Membership.objects.get(user=both, pharmacy=pharmacy)
    assert owner_client.post(f"{STAFF}{membership.pk}/remove/", CONFIRMED).status_code == 302

    after = in_a.get("/")
    assert after.status_code == 302 and after["Location"].startswith("/accounts/login/")
    assert in_b.get("/").status_code == 200  # still working in B
    both.refresh_from_db()
    assert both.is_active
    assert UserSession.objects.filter(user=both).count() == 1
    assert list(FormDraft.objects.filter(user=both).values_list("pharmacy", flat=True)) == [
        other_pharmacy.pk
    ]
    live = [s.get_decoded().get("pharmacy_id") for s in Session.objects.all()]
    assert str(pharmacy.pk) in live  # the owner's own session
    assert live.count(str(other_pharmacy.pk)) == 1


# --- Roles -------------------------------------------------------------------------------------


def test_the_owner_changes_roles_but_the_pharmacy_keeps_an_owner(owner_client, owner, pharmacy):
    member = make_member(pharmacy, "member@example.org")
    membership = Membership.objects.get(user=member)
    url = f"{STAFF}{membership.pk}/role/"
    assert owner_client.post(url, {"role": "assistant"}).status_code == 302
    membership.refresh_from_db()
    assert membership.role == Membership.Role.ASSISTANT
    event = AuditEvent.objects.get(action="staff.role_changed")
    assert event.details == {"from": "pharmacist", "to": "assistant", "user": str(member.pk)}
    # An assistant is not made an owner; the last owner keeps the role.
    assert owner_client.post(url, {"role": "owner"}).status_code == 200
    own = Membership.objects.get(user=owner)
    response = owner_client.post(f"{STAFF}{own.pk}/role/", {"role": "pharmacist"})
    assert response.status_code == 200 and "only owner" in response.content.decode()
    own.refresh_from_db()
    assert own.role == Membership.Role.OWNER
    # With a second owner, the first may step down.
    owner_client.post(url, {"role": "pharmacist"})
    assert owner_client.post(url, {"role": "owner"}).status_code == 302
    assert owner_client.post(f"{STAFF}{own.pk}/role/", {"role": "pharmacist"}).status_code == 302
    assert owner_client.get(STAFF).status_code == 403  # no longer manages staff


# --- Second factor reset -------------------------------------------------------------------------


def test_a_reset_second_factor_is_set_up_again_at_the_next_login(
    owner_client, pharmacy, smtp_server
):
    member = make_member(pharmacy, "lost@example.org")
    old_device = TOTPDevice.objects.get(user=member)
    member_client = log_in(Client(), member)
    membership = Membership.objects.get(user=member)
    url = f"{STAFF}{membership.pk}/second-factor/"
    assert "stop working now" in owner_client.get(url).content.decode()
    assert owner_client.post(url, CONFIRMED).status_code == 302
    assert not TOTPDevice.objects.filter(user=member).exists()
    assert not StaticDevice.objects.filter(user=member).exists()
    assert member_client.get("/").status_code == 302  # session ended
    event = AuditEvent.objects.get(action="staff.second_factor_reset")
    assert event.details == {"user": str(member.pk)}
    (message,) = delivered(smtp_server, 1)
    assert "/accounts/enrol/" in message.get_content() and "?t=" not in message.get_content()
    # The old code no longer logs in.
    client = Client()
    assert login(client, member.email, PASSWORD, device_code(old_device)).status_code == 200

    wrong = client.post("/accounts/enrol/", {"email": member.email, "password": "wrong one"})
    assert "is incorrect" in wrong.content.decode()
    step = client.post("/accounts/enrol/", {"email": member.email, "password": PASSWORD})
    assert step.status_code == 302
    page = client.get("/accounts/enrol/")
    assert b"<svg" in page.content
    device = TOTPDevice.objects.get(user=member, confirmed=False)
    done = client.post("/accounts/enrol/", {"otp_token": device_code(device)})
    assert len(RECOVERY_RE.findall(done.content.decode())) == 10
    assert AuditEvent.objects.filter(action="second_factor.enrolled", actor_id=member.pk).exists()
    # Nothing more to set up: the page asks for the password again, and the login works.
    assert (
        client.post("/accounts/enrol/", {"email": member.email, "password": PASSWORD}).status_code
        == 200
    )
    device.refresh_from_db()
    response = login(Client(), member.email, PASSWORD, next_totp_code(device))
    assert response.status_code == 302 and response["Location"] == "/"


def test_no_reset_for_a_member_of_another_pharmacy_or_for_oneself(owner_client, owner, both):
    for membership in (
        Membership.objects.get(user=both, pharmacy__memberships__user=owner),
        Membership.objects.get(user=owner),
    ):
        url = f"{STAFF}{membership.pk}/second-factor/"
        assert "platform support" in owner_client.get(url).content.decode()
        owner_client.post(url, CONFIRMED)
        assert TOTPDevice.objects.filter(user=membership.user).exists()
    assert not AuditEvent.objects.filter(action="staff.second_factor_reset").exists()


# --- The pharmacy's access log -------------------------------------------------------------------


def test_the_access_log_names_patients_to_this_pharmacys_owner_only(
    owner_client, pharmacy, pharmacist_client, pharmacist, other_owner, other_pharmacy
):
    patient = make_patient(pharmacy, pharmacist)
    assert pharmacist_client.get(f"/patients/{patient.pk}/").status_code == 200
    page = owner_client.get("/access-log/").content.decode()
    row = page.split("Patient record viewed")[0].rsplit("<tr>", 1)[1]
    assert "pharmacist" in row and "MARTIN Élodie Anne" in page
    event = AuditEvent.objects.filter(action="audit.pharmacy_view").get()
    assert event.pharmacy_id == pharmacy.pk and event.details["patient_ids"] == [str(patient.pk)]
    # Anyone else: refused, or their own pharmacy's (empty) log.
    assert pharmacist_client.get("/access-log/").status_code == 403
    theirs = log_in(Client(), other_owner).get("/access-log/").content.decode()
    assert "MARTIN" not in theirs
    # The platform's audit log keeps ids only.
    admin = log_in(Client(), make_platform_admin())
    assert "MARTIN" not in admin.get("/audit/").content.decode()


def test_the_access_log_is_paginated(owner_client, pharmacy, pharmacist):
    patient = make_patient(pharmacy, pharmacist)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            pharmacy_id=pharmacy.pk, actor_id=pharmacist.pk, action="patient.view",
            target_type="screening.patient", target_id=str(patient.pk),
        )
        for _ in range(60)
    )  # fmt: skip
    first = owner_client.get("/access-log/").content.decode()
    assert "Page 1 of 2" in first and "?page=2" in first
    assert "Page 2 of 2" in owner_client.get("/access-log/?page=2").content.decode()


# --- Hostile cases ------------------------------------------------------------------------------


def test_an_assistant_reaches_no_owner_tool(pharmacy, owner):
    assistant = make_member(pharmacy, "assistant@example.org", Membership.Role.ASSISTANT)
    client = log_in(Client(), assistant)
    own = Membership.objects.get(user=assistant)
    owners = Membership.objects.get(user=owner)
    for url, data in (
        (f"{STAFF}{own.pk}/role/", {"role": "owner"}),
        (f"{STAFF}{owners.pk}/second-factor/", CONFIRMED),
        ("/access-log/", {}),
    ):
        assert client.post(url, data).status_code in (403, 405)
        assert client.get(url).status_code == 403
    own.refresh_from_db()
    assert own.role == Membership.Role.ASSISTANT
    assert TOTPDevice.objects.filter(user=owner).exists()


def test_the_owner_of_b_cannot_act_on_a_memberships_or_invitations(
    owner_client, pharmacy, other_owner
):
    member = make_member(pharmacy, "member@example.org")
    membership = Membership.objects.get(user=member)
    invite(owner_client, "someone@example.org")
    invitation = Invitation.objects.get(email="someone@example.org")
    client = log_in(Client(), other_owner)
    assert client.post(f"{STAFF}{membership.pk}/role/", {"role": "assistant"}).status_code == 404
    assert client.post(f"{STAFF}{membership.pk}/second-factor/", CONFIRMED).status_code == 404
    assert client.post(f"{STAFF}{membership.pk}/remove/", CONFIRMED).status_code == 404
    assert client.post(f"{STAFF}invitations/{invitation.pk}/cancel/").status_code == 404
    membership.refresh_from_db()
    invitation.refresh_from_db()
    assert membership.role == Membership.Role.PHARMACIST
    assert invitation.state == Invitation.State.PENDING
    assert TOTPDevice.objects.filter(user=member).exists()
    assert User.objects.get(pk=member.pk).is_active
