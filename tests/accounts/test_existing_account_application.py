"""An application whose owner e-mail already has an account (a pharmacist of another
pharmacy applying for their own, or a stranger typing someone's address): approval joins
that account to nothing. Its holder signs in and proves the application (Pro Santé
Connect's RPPS, or the letter posted to the pharmacy) before being its owner."""

import pytest
from django.test import Client

from relais.accounts import ownership, psc
from relais.accounts.models import Membership, PharmacyApplication
from tests.accounts.onboarding_helpers import approve, delivered, import_sample_directory
from tests.accounts.test_activation_letter import print_letter
from tests.accounts.test_psc import APPLICATION, OWNER_RPPS
from tests.support.factories import (
    PASSWORD,
    log_in,
    make_member,
    make_pharmacy,
    make_platform_admin,
    totp_code,
)


@pytest.fixture(autouse=True)
def setup(db, settings):
    settings.LANGUAGE_CODE = "en"
    settings.PSC_ISSUER = ""
    import_sample_directory()


@pytest.fixture
def admin():
    return log_in(Client(), make_platform_admin())


@pytest.fixture
def existing():
    """The owner e-mail's account: a pharmacist of another pharmacy, who can sign in."""
    elsewhere = make_pharmacy("Pharmacie d'ailleurs", "750000099")
    return make_member(elsewhere, APPLICATION["owner_email"], full_name="Claire Titulaire")


@pytest.fixture
def approved(admin, existing, smtp_server):
    Client().post("/apply/", APPLICATION)
    application = PharmacyApplication.objects.get()
    assert approve(admin, application).status_code == 302
    return application


def signed_in(user) -> Client:
    client = Client()
    response = client.post(
        "/accounts/login/",
        {"email": user.email, "password": PASSWORD, "otp_token": totp_code(user)},
    )
    assert response.status_code == 302
    return client, response["Location"]


def test_approval_joins_an_existing_account_to_nothing_until_it_proves(
    approved, existing, smtp_server, admin
):
    pharmacy = approved.pharmacy
    assert not Membership.objects.filter(pharmacy=pharmacy).exists()
    [message] = delivered(smtp_server)
    assert "prove the application is yours" in message.get_content()
    assert "/accounts/prove/" in message.get_content()

    client, landing = signed_in(existing)
    assert landing == "/accounts/prove/"
    page = client.get(landing).content.decode()
    assert "Prove your application" in page and APPLICATION["finess"] in page
    # Acting for the pharmacy is refused until the proof.
    assert client.post("/accounts/pharmacy/", {"pharmacy": str(pharmacy.pk)}).status_code == 404

    wrong = client.post("/accounts/prove/", {"code": "AAAA-BBBB-CCCC"})
    assert b"This code is not valid" in wrong.content
    assert not Membership.objects.filter(pharmacy=pharmacy).exists()

    code = print_letter(admin, approved)
    assert client.post("/accounts/prove/", {"code": code}).status_code == 302
    membership = Membership.objects.get(pharmacy=pharmacy)
    assert (membership.user, membership.role) == (existing, Membership.Role.OWNER)
    assert client.post("/accounts/pharmacy/", {"pharmacy": str(pharmacy.pk)}).status_code == 302
    assert b"No approved application" in client.get("/accounts/prove/").content  # done


def identity(rpps: str) -> psc.Identity:
    return psc.Identity(sub="s", rpps=rpps, given_name="C", family_name="T",
                        professions=("21",), acr="eidas1")  # fmt: skip


def test_pro_sante_connect_proves_with_the_owner_rpps_only(approved, existing):
    assert not ownership.prove_by_psc(existing, identity("10000000003"), None)
    assert not Membership.objects.filter(pharmacy=approved.pharmacy).exists()
    assert ownership.prove_by_psc(existing, identity(OWNER_RPPS), None)
    assert Membership.objects.get(pharmacy=approved.pharmacy).user == existing


def test_a_new_account_still_activates_through_its_link(admin, smtp_server):
    Client().post("/apply/", APPLICATION)
    application = PharmacyApplication.objects.get()
    approve(admin, application)
    # No account could sign in: the owner membership waits behind the activation's proof.
    membership = Membership.objects.get(pharmacy=application.pharmacy)
    assert membership.role == Membership.Role.OWNER
    assert "activate" in delivered(smtp_server)[0].get_content()
