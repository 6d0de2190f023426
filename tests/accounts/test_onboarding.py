"""The whole path from an application to a working login, and its hostile cases."""

import datetime

import pytest
from django.core.cache import cache
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts.models import AccountToken, Membership, Pharmacy, PharmacyApplication, User
from relais.audit.models import AuditEvent
from tests.accounts.onboarding_helpers import (
    NEW_PASSWORD,
    activate,
    approve,
    delivered,
    import_sample_directory,
    link_in,
    login,
    nothing_delivered,
    path_of,
)
from tests.support.factories import (
    log_in,
    make_member,
    make_pharmacy,
    make_platform_admin,
    next_totp_code,
)
from tests.support.ports import free_port

OWNER_EMAIL = "claire@pharmacie-gare.test"
APPLICATION = {
    "pharmacy_name": "Pharmacie de la Gare",
    "finess": "750000017",
    "owner_name": "Claire Titulaire",
    "owner_rpps": "10000000001",
    "owner_email": OWNER_EMAIL,
}


@pytest.fixture(autouse=True)
def directory(db, settings):
    settings.LANGUAGE_CODE = "en"  # the assertions read English messages
    cache.clear()  # rate-limit counters
    import_sample_directory()


@pytest.fixture
def platform_admin(db):
    return make_platform_admin()


@pytest.fixture
def admin_session(client, platform_admin):
    return log_in(client, platform_admin)


def apply(client, **changes):
    return client.post("/apply/", {**APPLICATION, **changes})


def test_full_onboarding_path(client, django_user_model, smtp_server, platform_admin):
    from django.test import Client

    # 1. A stranger applies: nothing in the answer depends on the directory.
    response = apply(client)
    assert response.status_code == 302 and response["Location"] == "/apply/received/"
    application = PharmacyApplication.objects.get()
    assert application.checks == {
        "finess_exists": True,
        "finess_open": True,
        "finess_is_officine": True,
        "rpps_exists": True,
        "rpps_is_pharmacist": True,
        "rpps_titulaire_at_finess": True,
        "owner_name_matches": True,
    }
    assert application.pharmacy.status == Pharmacy.Status.PENDING
    assert application.pharmacy.address == "1 PL DE LA GARE, 75010 PARIS"
    assert not User.objects.filter(email=OWNER_EMAIL).exists()
    assert nothing_delivered(smtp_server)

    # 2. The administrator sees each check and approves.
    admin = log_in(Client(), platform_admin)
    listing = admin.get("/platform/applications/")
    assert b"Pharmacie de la Gare" in listing.content
    detail = admin.get(f"/platform/applications/{application.pk}/")
    assert detail.content.count(b"check--passed") == 7
    response = approve(admin, application)
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == PharmacyApplication.Status.APPROVED
    assert application.decided_by == platform_admin
    assert application.pharmacy.status == Pharmacy.Status.ACTIVE
    owner = User.objects.get(email=OWNER_EMAIL)
    assert not owner.has_usable_password()
    assert Membership.objects.get(user=owner).role == Membership.Role.OWNER
    assert AuditEvent.objects.filter(action="application.approved").count() == 1

    # 3. The owner receives a single-use link; only its hash is stored.
    (message,) = delivered(smtp_server, 1)
    assert message["To"] == OWNER_EMAIL
    link = link_in(message)
    token = link.split("?t=")[1]
    assert len(token) >= 43  # 256 bits, URL-safe base64
    assert not AccountToken.objects.filter(token_hash=token).exists()

    # 4. Activation: first the owner's proof (here the letter posted to the pharmacy's
    # directory address); mismatched passwords change nothing; then password + TOTP + codes.
    letter = admin.post(f"/platform/applications/{application.pk}/letter/").content.decode()
    letter_code = letter.split('class="letter__code mono">')[1].split("<")[0].strip()
    owner_client = Client()
    first = owner_client.get(path_of(link))
    owner_client.get(first["Location"])
    proven = owner_client.post("/accounts/activate/", {"code": letter_code})
    assert proven.status_code == 302
    owner_client.get("/accounts/activate/")
    device = TOTPDevice.objects.get(user=owner)
    bad = owner_client.post(
        "/accounts/activate/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x", "otp_token": "000000"},
    )
    assert bad.status_code == 200 and b"The two passwords differ" in bad.content
    owner.refresh_from_db()
    assert not owner.has_usable_password()
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    codes = activate(Client(), link)
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    assert TOTPDevice.objects.get(user=owner).confirmed

    # 5. The link does not work twice.
    again = Client().get(path_of(link))
    assert again.status_code == 404 and b"This link is not valid" in again.content

    # 6. Login needs the second factor; with it, the owner reaches the pharmacy.
    no_code = login(Client(), OWNER_EMAIL, NEW_PASSWORD, "")
    assert no_code.status_code == 200 and "_auth_user_id" not in no_code.client.session
    owner_client = Client()
    response = login(owner_client, OWNER_EMAIL, NEW_PASSWORD, next_totp_code(device))
    assert response.status_code == 302 and response["Location"] == "/"
    assert owner_client.get("/accounts/staff/").status_code == 200
    wrong_code = login(Client(), OWNER_EMAIL, NEW_PASSWORD, "123456")
    assert b"E-mail, password or authenticator code is incorrect." in wrong_code.content
    assert len(codes) == 10


@pytest.mark.parametrize(
    "changes, failing",
    [
        (
            {"finess": "750000099"},
            {"finess_exists", "finess_open", "finess_is_officine", "rpps_titulaire_at_finess"},
        ),
        ({"finess": "750000033"}, {"finess_is_officine", "rpps_titulaire_at_finess"}),
        (
            {"owner_rpps": "10000000004", "owner_name": "Marc Médecin"},
            {"rpps_is_pharmacist", "rpps_titulaire_at_finess"},
        ),
        (
            {"owner_rpps": "10000000005"},
            {"rpps_is_pharmacist", "rpps_titulaire_at_finess", "owner_name_matches"},
        ),
        ({"owner_rpps": "10000000003"}, {"rpps_titulaire_at_finess", "owner_name_matches"}),
        (
            {"owner_rpps": "19999999999"},
            {"rpps_exists", "rpps_is_pharmacist", "rpps_titulaire_at_finess", "owner_name_matches"},
        ),
    ],
    ids=[
        "unknown-finess",
        "finess-not-a-pharmacy",
        "rpps-doctor",
        "rpps-nurse-at-that-pharmacy",
        "rpps-not-at-that-finess",
        "unknown-rpps",
    ],
)
def test_failed_checks_are_stored_and_shown_but_not_told_to_the_applicant(
    client, admin_session, changes, failing
):
    from django.test import Client

    applicant = Client()
    response = apply(applicant, **changes)
    assert response.status_code == 302 and response["Location"] == "/apply/received/"
    received = applicant.get(response["Location"])
    assert b"750000" not in received.content and b"RPPS" not in received.content
    application = PharmacyApplication.objects.get()
    assert {name for name, passed in application.checks.items() if not passed} == failing
    detail = admin_session.get(f"/platform/applications/{application.pk}/")
    assert detail.content.count(b"check--failed") == len(failing)


def test_refusal_needs_a_reason_which_is_stored_sent_and_audited(
    client, admin_session, smtp_server
):
    from django.test import Client

    apply(Client(), finess="750000033")
    application = PharmacyApplication.objects.get()
    url = f"/platform/applications/{application.pk}/"
    no_reason = admin_session.post(url, {"decision": "refuse", "reason": ""})
    assert no_reason.status_code == 200 and b"field--error" in no_reason.content
    application.refresh_from_db()
    assert application.status == PharmacyApplication.Status.PENDING

    admin_session.post(url, {"decision": "refuse", "reason": "Not a pharmacy (hospital)."})
    application.refresh_from_db()
    assert application.status == PharmacyApplication.Status.REFUSED
    assert application.refusal_reason == "Not a pharmacy (hospital)."
    assert application.pharmacy.status == Pharmacy.Status.REFUSED
    (message,) = delivered(smtp_server, 1)
    assert "Not a pharmacy (hospital)." in message.get_content()
    event = AuditEvent.objects.get(action="application.refused")
    assert event.target_id == str(application.pk) and "hospital" not in str(event.details)
    # Deciding twice is refused.
    admin_session.post(url, {"decision": "approve", "confirmed": "1", "override_reason": "x"})
    application.refresh_from_db()
    assert application.status == PharmacyApplication.Status.REFUSED


def test_approval_when_the_mail_server_is_down_waits_for_it(admin_session, smtp_server, settings):
    """The approval commits with its e-mail queued; the worker retries until the mail
    server answers (before the queue, the approval was refused and lost)."""
    from django.test import Client

    from relais.accounts.models import QueuedEmail

    working_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nothing listens there
    apply(Client())
    application = PharmacyApplication.objects.get()
    response = approve(admin_session, application)
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == PharmacyApplication.Status.APPROVED
    assert nothing_delivered(smtp_server)
    email = QueuedEmail.objects.get()
    assert (email.state, email.attempts) == (QueuedEmail.State.PENDING, 1)
    assert email.last_error == QueuedEmail.Error.MAIL_SERVER
    settings.EMAIL_PORT = working_port
    QueuedEmail.objects.update(next_attempt_at=timezone.now())
    (message,) = delivered(smtp_server)
    assert message["To"] == OWNER_EMAIL and "activate" in link_in(message)


def test_expired_activation_link_is_refused(admin_session, smtp_server):
    from django.test import Client

    apply(Client())
    application = PharmacyApplication.objects.get()
    approve(admin_session, application)
    link = link_in(delivered(smtp_server, 1)[0])
    AccountToken.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    response = Client().get(path_of(link))
    assert response.status_code == 404 and b"This link is not valid" in response.content
    assert Client().get("/accounts/activate/").status_code == 404


def test_activation_link_lifetime_follows_the_setting(admin_session, smtp_server, settings):
    from django.test import Client

    settings.ACTIVATION_LINK_HOURS = 5
    apply(Client())
    application = PharmacyApplication.objects.get()
    approve(admin_session, application)
    token = AccountToken.objects.get()
    assert token.expires_at - token.created_at == pytest.approx(
        datetime.timedelta(hours=5), abs=datetime.timedelta(seconds=5)
    )
    assert "5 hours" in delivered(smtp_server, 1)[0].get_content()


def test_bad_application_input_gives_field_errors_and_saves_nothing(client):
    response = apply(client, finess="12345", owner_rpps="abc", owner_email="not-an-email")
    assert response.status_code == 200
    for field in ("finess", "owner_rpps", "owner_email"):
        assert field in response.context["form"].errors
    assert not Pharmacy.objects.exists() and not PharmacyApplication.objects.exists()


def test_spaces_in_numbers_are_accepted(client):
    apply(client, finess="75 000 001 7", owner_rpps="100 0000 0001")
    assert PharmacyApplication.objects.get().finess == "750000017"


def test_application_for_a_registered_pharmacy_changes_nothing(client):
    existing = make_pharmacy("Déjà là", "750000017")
    response = apply(client)
    assert response["Location"] == "/apply/received/"
    assert not PharmacyApplication.objects.exists()
    existing.refresh_from_db()
    assert existing.name == "Déjà là" and existing.status == Pharmacy.Status.ACTIVE


def test_application_form_is_rate_limited_per_source(client, settings):
    settings.PUBLIC_FORM_RATE_PER_HOUR = 2
    for _ in range(2):
        assert apply(client, owner_email="x@example.org").status_code in (200, 302)
    assert apply(client).status_code == 429
    other_source = client.post("/apply/", APPLICATION, REMOTE_ADDR="192.0.2.7")
    assert other_source.status_code == 302


def test_platform_pages_refuse_pharmacy_staff_and_unverified_admins(client, platform_admin):
    from django.test import Client

    apply(client)
    application = PharmacyApplication.objects.get()
    url = f"/platform/applications/{application.pk}/"
    assert Client().get(url).status_code == 302  # anonymous: to the login page
    unverified = Client()
    unverified.force_login(platform_admin)  # password only, no TOTP
    assert unverified.post(url, {"decision": "approve"}).status_code == 302
    owner = make_member(make_pharmacy("Autre", "750000025"), "o@example.org", "owner")
    assert log_in(Client(), owner).post(url, {"decision": "approve"}).status_code == 403
    application.refresh_from_db()
    assert application.status == PharmacyApplication.Status.PENDING


def test_twenty_wrong_passwords_lock_and_say_when_to_retry(client, smtp_server):
    pharmacy = make_pharmacy()
    user = make_member(pharmacy, "victim@example.org")
    device = TOTPDevice.objects.get(user=user)
    for attempt in range(20):
        response = login(client, user.email, f"wrong password {attempt}", "123456")
    assert b"Too many failed attempts. Try again after" in response.content
    # While locked, even the right password and code are refused.
    response = login(client, user.email, "correct horse battery staple 42", next_totp_code(device))
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="login.failed").count() >= 5


def test_a_strangers_pending_application_does_not_block_the_real_owner(admin_session, smtp_server):
    from django.test import Client

    apply(Client(), owner_email="squatter@example.org", owner_rpps="10000000004")
    apply(Client(), pharmacy_name="Vrai nom")
    squatter, real = PharmacyApplication.objects.order_by("submitted_at")
    assert squatter.pharmacy_id == real.pharmacy_id
    assert not squatter.all_checks_passed and real.all_checks_passed
    assert real.pharmacy.name == "Pharmacie de la Gare"  # the first one's, until a decision

    approve(admin_session, real)
    squatter.refresh_from_db()
    assert squatter.status == PharmacyApplication.Status.REFUSED
    (message,) = delivered(smtp_server, 1)
    assert message["To"] == OWNER_EMAIL


def test_refusing_one_of_two_pending_applications_keeps_the_pharmacy_pending(admin_session):
    from django.test import Client

    apply(Client(), owner_email="squatter@example.org", owner_rpps="10000000004")
    apply(Client())
    squatter = PharmacyApplication.objects.get(owner_email="squatter@example.org")
    admin_session.post(
        f"/platform/applications/{squatter.pk}/", {"decision": "refuse", "reason": "Not him."}
    )
    assert Pharmacy.objects.get().status == Pharmacy.Status.PENDING


def test_a_platform_admin_is_created_with_an_activation_link(smtp_server):
    from io import StringIO

    from django.core.management import call_command
    from django.test import Client

    out = StringIO()
    call_command("create-platform-admin", "Boss@Relais.test", "--name", "Boss", stdout=out)
    link = out.getvalue().strip()
    admin = User.objects.get(email="boss@relais.test")
    assert admin.is_staff and not admin.has_usable_password()
    activate(Client(), link)
    client = Client()
    device = TOTPDevice.objects.get(user=admin)
    response = login(client, admin.email, NEW_PASSWORD, next_totp_code(device))
    assert response["Location"] == "/platform/applications/"
    assert client.get("/platform/applications/").status_code == 200
    assert client.get("/").status_code == 403  # no pharmacy, no patient data


def test_the_pharmacy_phone_given_in_the_application_is_kept(client):
    apply(client, pharmacy_phone="01 40 00 00 00")
    assert PharmacyApplication.objects.get().pharmacy.phone == "+33140000000"


def test_a_malformed_pharmacy_phone_is_a_field_error(client):
    response = apply(client, pharmacy_phone="12")
    assert response.status_code == 200 and response.context["form"].errors["pharmacy_phone"]
    assert not PharmacyApplication.objects.exists()
