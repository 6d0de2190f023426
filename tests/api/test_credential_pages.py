import pytest
from django.urls import reverse

from relais.accounts.models import Membership
from relais.api.credentials import authenticate_token, create_credential
from relais.api.models import ApiCredential
from relais.audit.models import AuditEvent
from tests.support.factories import log_in, make_member

pytestmark = pytest.mark.django_db

LIST = "/api-credentials/"


@pytest.fixture
def owner(pharmacy):
    return make_member(pharmacy, "owner@example.org", Membership.Role.OWNER)


@pytest.fixture
def owner_client(client, owner):
    return log_in(client, owner)


def test_owner_creates_a_credential_and_sees_it_once(owner_client, pharmacy, owner):
    response = owner_client.post(LIST, {"name": "  LGO   comptoir 1 "})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = response.context["new_token"]
    assert token.startswith("rl_") and token in response.content.decode()
    credential = ApiCredential.objects.get()
    assert credential.name == "LGO comptoir 1"
    assert credential.pharmacy == pharmacy and credential.created_by == owner
    assert token.split("_", 2)[2] not in credential.secret_hash
    assert authenticate_token(token) == credential
    assert AuditEvent.objects.filter(action="api_credential.create").exists()
    # Shown once: the list page never shows it again.
    assert token not in owner_client.get(LIST).content.decode()


def test_the_list_shows_last_use_and_prefix(owner_client, pharmacy):
    credential, token = create_credential(pharmacy, "LGO")
    authenticate_token(token)
    page = owner_client.get(LIST).content.decode()
    assert f"rl_{credential.prefix}_" in page
    assert "LGO" in page


def test_owner_revokes(owner_client, pharmacy):
    credential, token = create_credential(pharmacy, "LGO")
    response = owner_client.post(reverse("api_credentials:revoke", args=[credential.pk]))
    assert response.status_code == 302
    assert authenticate_token(token) is None
    credential.refresh_from_db()
    assert credential.revoked_at is not None


def test_name_is_required(owner_client):
    response = owner_client.post(LIST, {"name": "   "})
    assert response.context["form"].errors["name"]
    assert ApiCredential.objects.count() == 0


def test_another_pharmacy_credential_cannot_be_revoked(owner_client, other_pharmacy):
    theirs, token = create_credential(other_pharmacy, "Theirs")
    response = owner_client.post(reverse("api_credentials:revoke", args=[theirs.pk]))
    assert response.status_code == 404
    assert authenticate_token(token) == theirs


def test_another_pharmacy_credentials_are_not_listed(owner_client, other_pharmacy):
    create_credential(other_pharmacy, "Their secret LGO")
    assert "Their secret LGO" not in owner_client.get(LIST).content.decode()


def test_pharmacist_may_not_manage_credentials(pharmacist_client, pharmacy):
    credential, _ = create_credential(pharmacy, "LGO")
    assert pharmacist_client.get(LIST).status_code == 403
    assert pharmacist_client.post(LIST, {"name": "x"}).status_code == 403
    revoke = reverse("api_credentials:revoke", args=[credential.pk])
    assert pharmacist_client.post(revoke).status_code == 403
    scope = reverse("api_credentials:read_scope", args=[credential.pk])
    assert pharmacist_client.post(scope, {"read_all": "1"}).status_code == 403
    assert ApiCredential.objects.count() == 1
    assert not ApiCredential.objects.filter(read_all=True).exists()


def test_anonymous_is_sent_to_login(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert "/accounts/login" in response["Location"]


def test_revoke_is_post_only(owner_client, pharmacy):
    credential, _ = create_credential(pharmacy, "LGO")
    assert (
        owner_client.get(reverse("api_credentials:revoke", args=[credential.pk])).status_code == 405
    )


def test_service_account_cannot_log_in(pharmacy):
    credential, _ = create_credential(pharmacy, "LGO")
    assert not credential.service_user.is_active
    assert not credential.service_user.has_usable_password()


def test_menu_links(owner_client, pharmacist, client):
    page = owner_client.get("/").content.decode()
    assert LIST in page and "/imports/" in page
    owner_client.logout()
    page = log_in(client, pharmacist).get("/").content.decode()
    assert LIST not in page and "/imports/" in page


def test_owner_grants_and_withdraws_read_all_and_each_change_is_audited(owner_client, pharmacy):
    credential, _ = create_credential(pharmacy, "LGO")
    page = owner_client.get(LIST).content.decode()
    assert reverse("api_credentials:read_scope", args=[credential.pk]) in page
    scope = reverse("api_credentials:read_scope", args=[credential.pk])
    for read_all in (True, True, False):  # the repeated grant changes nothing
        assert owner_client.post(scope, {"read_all": "1" if read_all else "0"}).status_code == 302
        credential.refresh_from_db()
        assert credential.read_all is read_all
    changes = AuditEvent.objects.filter(
        action="api_credential.read_scope", target_id=str(credential.pk)
    ).order_by("id")
    assert [event.details["read_all"] for event in changes] == [True, False]


def test_another_pharmacy_credential_read_scope_cannot_be_changed(
    owner_client, pharmacy, other_pharmacy
):
    theirs, _ = create_credential(other_pharmacy, "Their LGO")
    url = reverse("api_credentials:read_scope", args=[theirs.pk])
    assert owner_client.post(url, {"read_all": "1"}).status_code == 404
    assert owner_client.get(url).status_code == 405
    assert not ApiCredential.objects.filter(read_all=True).exists()
