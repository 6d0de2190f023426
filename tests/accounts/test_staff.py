"""The owner's staff page: invitations, last login, removal ending sessions at once."""

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts.models import AccountToken, Invitation, Membership, User, UserSession
from relais.audit.models import AuditEvent
from tests.accounts.onboarding_helpers import (
    NEW_PASSWORD,
    activate,
    delivered,
    link_in,
    login,
    nothing_delivered,
    path_of,
)
from tests.support.factories import log_in, make_member, next_totp_code

CONFIRMED = {"confirmed": "1"}


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def owner(pharmacy):
    return make_member(pharmacy, "owner@example.org", Membership.Role.OWNER)


@pytest.fixture
def owner_client(owner):
    return log_in(Client(), owner)


def invite(client, email="new@example.org", role="assistant"):
    return client.post(
        "/accounts/staff/", {"email": email, "full_name": "Nouvelle Recrue", "role": role}
    )


def test_invited_member_activates_and_logs_in_with_their_role(owner_client, pharmacy, smtp_server):
    response = invite(owner_client, "New@Example.org", "assistant")
    assert response.status_code == 302
    member = User.objects.get(email="new@example.org")
    # Not a member before the activation: the page shows the address and "invitation sent".
    assert not Membership.objects.filter(user=member).exists()
    assert b"invitation sent" in owner_client.get("/accounts/staff/").content
    (message,) = delivered(smtp_server, 1)
    assert message["To"] == "new@example.org"
    activate(Client(), link_in(message))
    assert Membership.objects.get(user=member).role == Membership.Role.ASSISTANT
    assert Invitation.objects.get(user=member).state == Invitation.State.ACCEPTED
    member_client = Client()
    device = TOTPDevice.objects.get(user=member)
    response = login(member_client, "new@example.org", NEW_PASSWORD, next_totp_code(device))
    assert response.status_code == 302 and response["Location"] == "/"
    # An assistant does not manage staff.
    assert member_client.get("/accounts/staff/").status_code == 403
    page = owner_client.get("/accounts/staff/").content
    assert b"invitation sent" not in page and b"never" not in page.split(b"new@example")[1]
    assert AuditEvent.objects.filter(action="staff.invited").count() == 1
    assert AuditEvent.objects.filter(action="staff.invitation_accepted").count() == 1


def test_invite_input_is_validated_and_nothing_is_saved(owner_client, smtp_server):
    response = owner_client.post(
        "/accounts/staff/", {"email": "nope", "full_name": "", "role": "owner"}
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"email", "full_name", "role"}
    assert Membership.objects.count() == 1
    assert nothing_delivered(smtp_server)


def test_inviting_an_existing_member_is_refused(owner_client, owner):
    response = invite(owner_client, owner.email, "pharmacist")
    assert response.status_code == 200
    assert "already a member" in str(response.context["form"].errors["email"])


def test_only_the_owner_manages_staff(client, pharmacy, pharmacist):
    log_in(client, pharmacist)
    assert client.get("/accounts/staff/").status_code == 403
    assert invite(client).status_code == 403
    assert not User.objects.filter(email="new@example.org").exists()


def test_removing_a_member_ends_their_open_session_at_once(owner_client, pharmacy):
    member = make_member(pharmacy, "leaving@example.org", Membership.Role.PHARMACIST)
    member_client = log_in(Client(), member)
    assert member_client.get("/").status_code == 200
    assert UserSession.objects.filter(user=member).count() == 1
    membership = Membership.objects.get(user=member)

    response = owner_client.post(f"/accounts/staff/{membership.pk}/remove/", CONFIRMED)
    assert response.status_code == 302
    assert not Membership.objects.filter(user=member).exists()
    member_keys = [
        s.session_key
        for s in Session.objects.all()
        if s.get_decoded().get("_auth_user_id") == str(member.pk)
    ]
    assert member_keys == []
    after = member_client.get("/")
    assert after.status_code == 302 and after["Location"].startswith("/accounts/login/")
    member.refresh_from_db()
    assert not member.is_active
    # The owner's own session is untouched.
    assert owner_client.get("/accounts/staff/").status_code == 200
    event = AuditEvent.objects.get(action="staff.removed")
    assert event.details == {"role": "pharmacist", "user": str(member.pk)}


def test_a_withdrawn_invitations_link_stops_working(owner_client, smtp_server):
    invite(owner_client)
    link = link_in(delivered(smtp_server, 1)[0])
    invitation = Invitation.objects.get(email="new@example.org")
    response = owner_client.post(f"/accounts/staff/invitations/{invitation.pk}/cancel/")
    assert response.status_code == 302
    assert Client().get(path_of(link)).status_code == 404
    assert not AccountToken.objects.filter(used_at__isnull=True).exists()
    assert b"new@example.org" not in owner_client.get("/accounts/staff/").content
    assert not Membership.objects.filter(user__email="new@example.org").exists()


def test_owner_cannot_be_removed_and_other_pharmacies_members_are_not_found(
    owner_client, owner, other_pharmacy
):
    own = Membership.objects.get(user=owner)
    owner_client.post(f"/accounts/staff/{own.pk}/remove/", CONFIRMED)
    assert Membership.objects.filter(pk=own.pk).exists()
    stranger = make_member(other_pharmacy, "stranger@example.org")
    theirs = Membership.objects.get(user=stranger)
    assert owner_client.post(f"/accounts/staff/{theirs.pk}/remove/", CONFIRMED).status_code == 404
    assert Membership.objects.filter(pk=theirs.pk).exists()


def test_staff_page_shows_last_login(owner_client, pharmacy):
    member = make_member(pharmacy, "seen@example.org")
    log_in(Client(), member)  # force_login sets last_login
    member.refresh_from_db()
    assert member.last_login is not None
    page = owner_client.get("/accounts/staff/").content.decode()
    row = page.split("seen@example.org")[1].split("</tr>")[0]
    assert "never" not in row and "pending" not in row


def test_a_former_member_invited_again_starts_afresh(owner_client, pharmacy, smtp_server):
    member = make_member(pharmacy, "back@example.org")
    membership = Membership.objects.get(user=member)
    owner_client.post(f"/accounts/staff/{membership.pk}/remove/", CONFIRMED)
    invite(owner_client, "back@example.org", "pharmacist")
    member.refresh_from_db()
    assert member.is_active and not member.has_usable_password()
    assert not TOTPDevice.objects.filter(user=member).exists()
    link = link_in(delivered(smtp_server, 1)[0])
    assert "activate" in link
    activate(Client(), link)
    assert Membership.objects.get(user=member).role == Membership.Role.PHARMACIST


# --- Removal goes through a page that spells out what it does --------------------------------


def test_the_removal_page_spells_out_the_consequence_and_changes_nothing(owner_client, pharmacy):
    member = make_member(pharmacy, "leaving@example.org", Membership.Role.ASSISTANT)
    member_client = log_in(Client(), member)
    membership = Membership.objects.get(user=member)
    url = f"/accounts/staff/{membership.pk}/remove/"
    staff_page = owner_client.get("/accounts/staff/").content.decode()
    assert f'href="{url}"' in staff_page  # a link to the page, no button that removes

    page = owner_client.get(url).content.decode()
    assert "leaving@example.org" in page
    assert "will lose access to this pharmacy at once" in page
    assert "their open sessions in this pharmacy end now" in page
    assert "the results they recorded stay" in page
    assert 'name="confirmed" value="1"' in page
    # Neither the page nor a POST without the confirmation removes anyone.
    assert owner_client.post(url).status_code == 200
    assert owner_client.post(url, {"confirmed": "yes"}).status_code == 200
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert member_client.get("/").status_code == 200
    assert not AuditEvent.objects.filter(action="staff.removed").exists()


def test_the_removal_page_of_another_pharmacys_member_or_the_owner_is_refused(
    owner_client, owner, other_pharmacy
):
    stranger = make_member(other_pharmacy, "stranger@example.org")
    theirs = Membership.objects.get(user=stranger)
    assert owner_client.get(f"/accounts/staff/{theirs.pk}/remove/").status_code == 404
    own = Membership.objects.get(user=owner)
    response = owner_client.get(f"/accounts/staff/{own.pk}/remove/", follow=True)
    assert "cannot be removed" in response.content.decode()
    assert Membership.objects.filter(pk=own.pk).exists()


def test_a_pharmacist_cannot_open_the_removal_page(pharmacy, owner):
    pharmacist = make_member(pharmacy, "colleague@example.org")
    membership = Membership.objects.get(user=owner)
    response = log_in(Client(), pharmacist).get(f"/accounts/staff/{membership.pk}/remove/")
    assert response.status_code == 403
