"""Pro Santé Connect against a real OpenID Connect provider (npm's oidc-provider on
127.0.0.1, with accounts whose claims have PSC's shape).

Relais is driven through Django's test client; the provider's pages through HTTP, as a
browser would; Relais talks to the provider (discovery, token, JWKS, userinfo) over real
HTTP on loopback, allowed by the test-only RELAIS_PSC_INSECURE_LOOPBACK."""

import secrets
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts import psc, tokens
from relais.accounts.models import (
    AccountToken,
    PharmacyApplication,
    ProSanteConnectDevice,
    User,
)
from relais.audit.models import AuditEvent
from tests.accounts import psc_provider
from tests.accounts.onboarding_helpers import (
    NEW_PASSWORD,
    RECOVERY_RE,
    approve,
    import_sample_directory,
)
from tests.support.factories import (
    device_code,
    log_in,
    make_member,
    make_pharmacy,
    make_platform_admin,
)

OWNER_RPPS = "10000000001"
APPLICATION = {
    "pharmacy_name": "Pharmacie de la Gare",
    "finess": "750000017",
    "owner_name": "Claire Titulaire",
    "owner_rpps": OWNER_RPPS,
    "owner_email": "claire@pharmacie-gare.test",
}
ACCOUNTS = {
    # SubjectNameID: "8" + RPPS, as PSC sends it.
    "claire": {"SubjectNameID": "8" + OWNER_RPPS, "given_name": "Claire", "family_name": "T"},
    "someone-else": {"SubjectNameID": "810000000003", "given_name": "Paul", "family_name": "A"},
}
CLIENT_ID = "relais-test"
CLIENT_SECRET = secrets.token_urlsafe(32)
CALLBACK = "/accounts/psc/callback/"
pytestmark = pytest.mark.slow  # starts a node server


@pytest.fixture(scope="module")
def provider():
    started = psc_provider.start(
        CLIENT_ID, CLIENT_SECRET, django_settings.BASE_URL + CALLBACK, ACCOUNTS
    )
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def setup(db, settings, provider):
    settings.LANGUAGE_CODE = "en"
    settings.PSC_ISSUER = provider.issuer
    settings.PSC_CLIENT_ID = CLIENT_ID
    settings.PSC_CLIENT_SECRET = CLIENT_SECRET
    settings.PSC_INSECURE_LOOPBACK = True
    cache.clear()
    import_sample_directory()
    yield
    provider.set_mode()


@pytest.fixture
def admin():
    return log_in(Client(), make_platform_admin())


@pytest.fixture
def application(admin):
    Client().post("/apply/", APPLICATION)
    application = PharmacyApplication.objects.get()
    response = approve(admin, application)
    assert response.status_code == 302
    return application


def open_activation(application) -> Client:
    """The owner's browser after following the activation link (the token in its session)."""
    owner = User.objects.get(email=APPLICATION["owner_email"])
    token = tokens.issue(owner, AccountToken.Purpose.ACTIVATION)
    browser = Client()
    assert browser.get(f"/accounts/activate/?t={token}").status_code == 302
    return browser


def round_trip(browser: Client, provider, purpose: str, account: str):
    """Start from Relais, sign in at the provider, come back: Relais's answer."""
    start = browser.post("/accounts/psc/start/", {"purpose": purpose})
    assert start.status_code == 302 and start["Location"].startswith(provider.issuer)
    query = dict(part.split("=", 1) for part in urlsplit(start["Location"]).query.split("&"))
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["state"] and query["nonce"] and query["acr_values"] == "eidas1"
    back = provider.sign_in(start["Location"], account, until=django_settings.BASE_URL)
    parts = urlsplit(back)
    assert parts.path == CALLBACK
    callback = f"{parts.path}?{parts.query}"
    return browser.get(callback), callback


def reasons() -> list:
    return [event.details.get("reason") for event in AuditEvent.objects.order_by("id")]


def finish_activation(browser: Client) -> list[str]:
    page = browser.get("/accounts/activate/")
    assert page.status_code == 200 and b"<svg" in page.content
    device = TOTPDevice.objects.filter(confirmed=False).order_by("-id").first()
    response = browser.post(
        "/accounts/activate/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "otp_token": device_code(device)},
    )
    assert response.status_code == 200, response.content
    return RECOVERY_RE.findall(response.content.decode())


def test_the_right_rpps_activates_the_owner_who_then_logs_in_with_psc(application, provider):
    browser = open_activation(application)
    proof_page = browser.get("/accounts/activate/")
    assert "Prove it with Pro Santé Connect" in proof_page.content.decode()
    # The e-mailed link alone no longer activates: a password posted now changes nothing.
    browser.post("/accounts/activate/", {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    owner = User.objects.get(email=APPLICATION["owner_email"])
    assert not owner.has_usable_password()

    answer, _ = round_trip(browser, provider, "activate", "claire")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/activate/"
    assert answer["Referrer-Policy"] == "no-referrer"
    application.refresh_from_db()
    assert application.owner_proof == "psc" and application.owner_proven_at is not None
    owner.refresh_from_db()
    assert owner.rpps == OWNER_RPPS and owner.rpps_verified_at is not None
    assert ProSanteConnectDevice.objects.filter(user=owner).count() == 1
    assert len(finish_activation(browser)) == 10
    assert AuditEvent.objects.filter(action="activation.proven").count() == 1

    # Log in with PSC instead of password + authenticator code.
    counter = Client()
    assert "Log in with Pro Santé Connect" in counter.get("/accounts/login/").content.decode()
    answer, callback = round_trip(counter, provider, "login", "claire")
    assert answer.status_code == 302 and answer["Location"] == "/"
    assert counter.get("/accounts/staff/").status_code == 200  # verified, the owner's page
    assert AuditEvent.objects.filter(action="login.succeeded", actor_id=owner.pk).count() == 1

    # The same answer again (the state already used): refused, in that browser or another.
    for replayer in (counter, Client()):
        replayed = replayer.get(callback)
        assert replayed.status_code == 302 and replayed["Location"] == "/accounts/login/"
    assert reasons()[-2:] == ["no_round_trip", "no_round_trip"]
    assert AuditEvent.objects.filter(action="login.succeeded", actor_id=owner.pk).count() == 1


def test_another_professionals_rpps_is_refused_and_audited(application, provider):
    browser = open_activation(application)
    answer, _ = round_trip(browser, provider, "activate", "someone-else")
    assert answer.status_code == 302
    page = browser.get("/accounts/activate/")
    assert b"is not the one of this application" in page.content
    assert b"Check the code" in page.content  # still the proof step
    application.refresh_from_db()
    assert application.owner_proven_at is None
    refused = AuditEvent.objects.get(action="activation.proof_refused")
    assert refused.details == {"method": "psc", "reason": "rpps_mismatch"}
    assert not User.objects.filter(rpps_verified_at__isnull=False).exists()

    # Nor does that identity sign in to anything.
    answer, _ = round_trip(Client(), provider, "login", "someone-else")
    assert answer["Location"] == "/accounts/login/"
    assert AuditEvent.objects.filter(action="psc.login_refused").count() == 1


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ({"jwks": "other"}, "signature"),
        ({"nonce": "drop"}, "id_token_missing_claim"),
        ({"nonce": "replace"}, "id_token_invalid_claim"),
    ],
    ids=["keys-swapped", "nonce-missing", "nonce-mismatch"],
)
def test_an_id_token_that_does_not_verify_is_refused(application, provider, mode, reason):
    provider.set_mode(**mode)
    browser = open_activation(application)
    answer, _ = round_trip(browser, provider, "activate", "claire")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/activate/"
    assert reasons()[-1] == reason
    application.refresh_from_db()
    assert application.owner_proven_at is None
    assert not User.objects.filter(rpps_verified_at__isnull=False).exists()


def test_a_forged_state_is_refused(application, provider):
    browser = open_activation(application)
    start = browser.post("/accounts/psc/start/", {"purpose": "activate"})
    back = provider.sign_in(start["Location"], "claire", until=django_settings.BASE_URL)
    forged = back.replace("state=", "state=x")
    parts = urlsplit(forged)
    browser.get(f"{parts.path}?{parts.query}")
    assert reasons()[-1] == "state_mismatch"
    application.refresh_from_db()
    assert application.owner_proven_at is None


def test_a_signed_in_pharmacist_links_their_account_then_logs_in_with_psc(provider):
    pharmacist = make_member(make_pharmacy(), "paul@pharmacie.test")
    session = log_in(Client(), pharmacist)
    assert "Link with Pro Santé Connect" in session.get("/accounts/account/").content.decode()
    answer, _ = round_trip(session, provider, "link", "someone-else")
    assert answer["Location"] == "/accounts/account/"
    pharmacist.refresh_from_db()
    assert pharmacist.rpps == "10000000003" and pharmacist.rpps_verified_at is not None
    answer, _ = round_trip(Client(), provider, "login", "someone-else")
    assert answer.status_code == 302 and answer["Location"] == "/"


def test_an_http_issuer_off_loopback_mode_is_refused(settings, provider):
    settings.PSC_INSECURE_LOOPBACK = False
    response = Client().post("/accounts/psc/start/", {"purpose": "login"})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert reasons()[-1] == "insecure_transport"


def test_the_rpps_is_read_from_subject_name_id_as_psc_documents_it():
    assert psc.rpps_from_national_id("810000000001") == "10000000001"
    assert psc.rpps_from_national_id("0751234567") == ""  # ADELI
    assert psc.rpps_from_national_id("ANS20231122132732") == ""  # a test identity
    assert psc.rpps_from_national_id("８10000000001") == ""
    assert psc.rpps_from_national_id(None) == ""
