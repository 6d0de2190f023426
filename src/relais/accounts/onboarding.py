"""Applications, approval, invitations and account activation."""

import secrets

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts import mail, tokens
from relais.accounts.models import (
    AccountToken,
    Membership,
    Pharmacy,
    PharmacyApplication,
    User,
    UserSession,
)
from relais.audit.events import record
from relais.directory.checks import check_application, establishment_address

RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32: no 0/1/8/9 to misread


REGISTERED = (Pharmacy.Status.ACTIVE, Pharmacy.Status.SUSPENDED)


class OnboardingError(Exception):
    """A refused action; the message is shown to the user."""


# --- Applications ----------------------------------------------------------------------------


@transaction.atomic
def submit_application(data: dict, request) -> PharmacyApplication | None:
    """Store the application with its directory checks. An application for a FINESS that
    is already registered (and not refused) changes nothing; the applicant is not told."""
    existing = Pharmacy.objects.select_for_update().filter(finess=data["finess"]).first()
    if existing is not None and existing.status in REGISTERED:
        record("application.duplicate", request=request, pharmacy=existing, target=existing)
        return None
    checks = check_application(data["finess"], data["owner_rpps"])
    phone = data.pop("pharmacy_phone", "")
    pharmacy = existing or Pharmacy(finess=data["finess"])
    if pharmacy.status != Pharmacy.Status.PENDING or pharmacy._state.adding:
        # A second pending application for the same FINESS is kept beside the first
        # (a stranger's application must not block the real owner's); the admin picks.
        pharmacy.name = data["pharmacy_name"]
        pharmacy.address = establishment_address(data["finess"])
        pharmacy.phone = phone
        pharmacy.status = Pharmacy.Status.PENDING
        pharmacy.save()
    application = PharmacyApplication.objects.create(pharmacy=pharmacy, checks=checks, **data)
    record(
        "application.submitted",
        request=request,
        pharmacy=pharmacy,
        target=application,
        details={"checks": checks},
    )
    return application


def locked_pending(application_id) -> PharmacyApplication:
    application = (
        PharmacyApplication.objects.select_for_update()
        .select_related("pharmacy")
        .get(pk=application_id)
    )
    if application.status != PharmacyApplication.Status.PENDING:
        raise OnboardingError(_("This application has already been decided."))
    return application


def decide(application, admin, status) -> None:
    application.status = status
    application.decided_at = timezone.now()
    application.decided_by = admin


@transaction.atomic
def approve(application_id, admin, request) -> PharmacyApplication:
    """Activate the pharmacy and send its owner an activation link. If the e-mail
    cannot be sent, nothing is changed (the transaction rolls back)."""
    application = locked_pending(application_id)
    decide(application, admin, PharmacyApplication.Status.APPROVED)
    application.save()
    pharmacy = application.pharmacy
    pharmacy.status = Pharmacy.Status.ACTIVE
    pharmacy.save(update_fields=["status"])
    user = User.objects.filter(email=application.owner_email).first()
    if user is None:
        user = User.objects.create_user(
            application.owner_email,
            None,
            full_name=application.owner_name,
            rpps=application.owner_rpps,
        )
    Membership.objects.get_or_create(
        user=user, pharmacy=pharmacy, defaults={"role": Membership.Role.OWNER}
    )
    others = PharmacyApplication.objects.filter(
        pharmacy=pharmacy, status=PharmacyApplication.Status.PENDING
    ).exclude(pk=application.pk)
    others.update(
        status=PharmacyApplication.Status.REFUSED,
        decided_at=application.decided_at,
        decided_by=admin,
        refusal_reason="Another application for this pharmacy was approved.",
    )
    record("application.approved", request=request, pharmacy=pharmacy, target=application)
    send_access(user, pharmacy, invited=False)
    return application


@transaction.atomic
def refuse(application_id, admin, reason: str, request) -> PharmacyApplication:
    application = locked_pending(application_id)
    decide(application, admin, PharmacyApplication.Status.REFUSED)
    application.refusal_reason = reason
    application.save()
    still_pending = application.pharmacy.applications.filter(
        status=PharmacyApplication.Status.PENDING
    )
    if not still_pending.exists():
        application.pharmacy.status = Pharmacy.Status.REFUSED
        application.pharmacy.save(update_fields=["status"])
    record(
        "application.refused", request=request, pharmacy=application.pharmacy, target=application
    )
    mail.enqueue(
        application.owner_email,
        "refused",
        {"pharmacy_name": application.pharmacy_name, "reason": reason},
    )
    return application


# --- Access e-mails and invitations ----------------------------------------------------------


def can_sign_in(user) -> bool:
    # The device query runs whatever the account's state (and for an unsaved decoy too):
    # the password reset must cost the same for every address (views_onboarding).
    has_device = TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists()
    return user.is_active and user.has_usable_password() and has_device


def send_access(user, pharmacy, invited: bool) -> None:
    """An activation link, or a notice for someone who can already sign in."""
    if can_sign_in(user):
        login_url = settings.BASE_URL + reverse("accounts:login")
        mail.enqueue(user.email, "added", {"pharmacy_name": pharmacy.name, "login_url": login_url})
        return
    token = tokens.issue(user, AccountToken.Purpose.ACTIVATION)
    context = {
        "link": tokens.link(token, AccountToken.Purpose.ACTIVATION),
        "hours": settings.ACTIVATION_LINK_HOURS,
        "pharmacy_name": pharmacy.name,
        "invited": invited,
    }
    mail.enqueue(user.email, "activation", context)


@transaction.atomic
def invite(pharmacy, email: str, full_name: str, role: str, request) -> Membership:
    if role not in (Membership.Role.PHARMACIST, Membership.Role.ASSISTANT):
        raise OnboardingError(_("Staff are invited as pharmacist or assistant."))
    user = User.objects.select_for_update().filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email, None, full_name=full_name)
    elif Membership.objects.filter(user=user, pharmacy=pharmacy).exists():
        raise OnboardingError(_("This person is already a member of the pharmacy."))
    elif not user.is_active:
        # A former member invited again starts afresh: new password, new authenticator.
        user.is_active = True
        user.set_unusable_password()
        user.save()
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
    membership = Membership.objects.create(user=user, pharmacy=pharmacy, role=role)
    record("staff.invited", request=request, target=membership, details={"role": role})
    send_access(user, pharmacy, invited=True)
    return membership


# --- Removing members: their sessions end at once ---------------------------------------------


def end_sessions(user) -> int:
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    deleted, _ = Session.objects.filter(session_key__in=keys).delete()
    UserSession.objects.filter(user=user).delete()
    return deleted


@transaction.atomic
def remove_member(membership, request) -> None:
    if membership.role == Membership.Role.OWNER:
        raise OnboardingError(_("The pharmacy's owner cannot be removed."))
    user = membership.user
    record(
        "staff.removed",
        request=request,
        target=membership,
        details={"role": membership.role, "user": str(user.pk)},
    )
    membership.delete()
    if not user.memberships.exists() and not user.is_staff:
        user.is_active = False
        user.save(update_fields=["is_active"])
    AccountToken.objects.filter(user=user, used_at__isnull=True).update(used_at=timezone.now())
    end_sessions(user)


# --- Activation: password, TOTP device, recovery codes ---------------------------------------


def pending_device(user) -> TOTPDevice:
    """The not-yet-confirmed authenticator shown during activation (same one on reload)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def new_recovery_codes(user) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    codes = ["".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10)) for _ in range(10)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def complete_activation(request, account_token, device, password: str) -> list[str]:
    """Called inside a transaction holding the token's row lock."""
    user = account_token.user
    user.set_password(password)
    user.save(update_fields=["password"])
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = new_recovery_codes(user)
    tokens.spend(request, account_token)
    record("account.activated", request=request, actor=user, target=user)
    return codes
