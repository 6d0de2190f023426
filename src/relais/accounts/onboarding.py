"""Applications, approval, invitations and account activation."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts import acting, mail, tokens
from relais.accounts.models import (
    AccountToken,
    FormDraft,
    Invitation,
    Membership,
    Pharmacy,
    PharmacyApplication,
    User,
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
    """Store the application with its directory checks (verdicts, reasons, and what the
    directories held). An application for a FINESS that is already registered (and not
    refused) changes nothing; the applicant is not told."""
    existing = Pharmacy.objects.select_for_update().filter(finess=data["finess"]).first()
    if existing is not None and existing.status in REGISTERED:
        record("application.duplicate", request=request, pharmacy=existing, target=existing)
        return None
    checks, evidence = check_application(data["finess"], data["owner_rpps"], data["owner_name"])
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
    application = PharmacyApplication.objects.create(
        pharmacy=pharmacy, checks=checks, evidence=evidence, **data
    )
    record(
        "application.submitted",
        request=request,
        pharmacy=pharmacy,
        target=application,
        details={"checks": checks},
    )
    return application


def locked_undecided(application_id, *statuses) -> PharmacyApplication:
    application = (
        PharmacyApplication.objects.select_for_update()
        .select_related("pharmacy")
        .get(pk=application_id)
    )
    if application.status in (statuses or PharmacyApplication.UNDECIDED):
        return application
    if application.status == PharmacyApplication.Status.PENDING_OVERRIDE:
        raise OnboardingError(
            _("This application is waiting for a second administrator to confirm its override.")
        )
    if application.status == PharmacyApplication.Status.PENDING:
        raise OnboardingError(_("No override has been asked for on this application."))
    raise OnboardingError(_("This application has already been decided."))


def decide(application, admin, status) -> None:
    application.status = status
    application.decided_at = timezone.now()
    application.decided_by = admin


@transaction.atomic
def approve(application_id, admin, request) -> PharmacyApplication:
    """Approve an application whose every directory check passed (the view asks for a
    confirmation first). One with a failed check is approved only through an override
    confirmed by a second administrator (request_override, confirm_override)."""
    application = locked_undecided(application_id, PharmacyApplication.Status.PENDING)
    if application.failed_checks:
        raise OnboardingError(
            _(
                "A directory check failed: this application can only be approved with a "
                "reason, confirmed by a second administrator."
            )
        )
    return activate_pharmacy(application, admin, request)


@transaction.atomic
def request_override(application_id, admin, reason: str, request) -> PharmacyApplication:
    """The first step of approving despite a failed check: the reason is kept and the
    application waits for another administrator."""
    application = locked_undecided(application_id, PharmacyApplication.Status.PENDING)
    failed = application.failed_checks
    if not failed:
        raise OnboardingError(_("Every check passed: approve the application directly."))
    if not reason.strip():
        raise OnboardingError(_("Give the reason for approving despite the failed checks."))
    application.status = PharmacyApplication.Status.PENDING_OVERRIDE
    application.override_reason = reason.strip()
    application.override_requested_by = admin
    application.override_requested_at = timezone.now()
    application.save()
    # The reason stays with the application: it may name people, the audit log does not.
    record(
        "application.override_requested",
        request=request,
        pharmacy=application.pharmacy,
        target=application,
        details={"failed_checks": failed},
    )
    return application


@transaction.atomic
def confirm_override(application_id, admin, request) -> PharmacyApplication:
    """The second step: another administrator confirms the override, and the pharmacy is
    approved."""
    application = locked_undecided(application_id, PharmacyApplication.Status.PENDING_OVERRIDE)
    if application.override_requested_by_id in (None, admin.pk):
        raise OnboardingError(
            _("Another administrator must confirm this override, not the one who asked for it.")
        )
    record(
        "application.override_confirmed",
        request=request,
        pharmacy=application.pharmacy,
        target=application,
        details={
            "failed_checks": application.failed_checks,
            "requested_by": str(application.override_requested_by_id),
        },
    )
    return activate_pharmacy(application, admin, request)


def activate_pharmacy(application, admin, request) -> PharmacyApplication:
    """Activate the pharmacy and send its owner an activation link. If the e-mail
    cannot be queued, nothing is changed (the caller's transaction rolls back)."""
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
    signs_in = can_sign_in(user)
    if not signs_in:
        # Activation opens the account only once the application is proven (ownership).
        Membership.objects.get_or_create(
            user=user, pharmacy=pharmacy, defaults={"role": Membership.Role.OWNER}
        )
    others = PharmacyApplication.objects.filter(
        pharmacy=pharmacy, status__in=PharmacyApplication.UNDECIDED
    ).exclude(pk=application.pk)
    others.update(
        status=PharmacyApplication.Status.REFUSED,
        decided_at=application.decided_at,
        decided_by=admin,
        refusal_reason="Another application for this pharmacy was approved.",
    )
    record(
        "application.approved",
        request=request,
        pharmacy=pharmacy,
        target=application,
        details={"override": application.override_requested_by_id is not None},
    )
    if signs_in:
        # An e-mail typed in an application joins nobody to a pharmacy: the account's
        # holder signs in and proves the application (ownership.awaiting_proof).
        prove_url = settings.BASE_URL + reverse("accounts:prove")
        mail.enqueue(user.email, "approved", {"pharmacy_name": pharmacy.name, "url": prove_url})
    else:
        send_access(user, pharmacy, invited=False)
    return application


@transaction.atomic
def refuse(application_id, admin, reason: str, request) -> PharmacyApplication:
    """Refuse with a reason, which is e-mailed to the applicant."""
    if not reason.strip():
        raise OnboardingError(_("Give the reason for the refusal; it is sent to the applicant."))
    application = locked_undecided(application_id)
    decide(application, admin, PharmacyApplication.Status.REFUSED)
    application.refusal_reason = reason.strip()
    application.save()
    still_pending = application.pharmacy.applications.filter(
        status__in=PharmacyApplication.UNDECIDED
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
        {"pharmacy_name": application.pharmacy_name, "reason": application.refusal_reason},
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


INVITED_ROLES = (Membership.Role.PHARMACIST, Membership.Role.ASSISTANT)


def invitation_lifetime() -> timedelta:
    return timedelta(hours=settings.ACTIVATION_LINK_HOURS)


def shown_invitations(pharmacy):
    """The invitations a pharmacy's staff page lists: not accepted, not cancelled. A
    declined one is listed like one not answered yet (until it expires): declining does
    not tell the pharmacy that the address holds an account."""
    states = (Invitation.State.PENDING, Invitation.State.DECLINED)
    return Invitation.objects.filter(pharmacy=pharmacy, state__in=states).order_by("email")


def is_platform_account(user) -> bool:
    return bool(user.is_staff or user.is_auditor)


@transaction.atomic
def invite(pharmacy, email: str, full_name: str, role: str, request) -> Invitation:
    """Invite `email` to `pharmacy`. The inviting owner's view is the same whatever the
    address holds (no account, an account, a platform account): an invitation "sent".

    - No account yet (or a former member's closed one): an account is created (or
      started afresh: new password, new authenticator) with an activation link; activating
      it accepts the invitation.
    - An existing account: a pending invitation its holder accepts or declines after
      logging in as usual; the e-mail says so and carries no link that opens anything.
    - A platform administrator's or auditor's account never joins a pharmacy: the
      invitation can never be accepted, and the e-mail tells its holder so.
    """
    if role not in INVITED_ROLES:
        raise OnboardingError(_("Staff are invited as pharmacist or assistant."))
    email = email.lower()
    now = timezone.now()
    user = User.objects.select_for_update().filter(email=email).first()
    if user is not None and Membership.objects.filter(user=user, pharmacy=pharmacy).exists():
        raise OnboardingError(_("This person is already a member of the pharmacy."))
    earlier = shown_invitations(pharmacy).select_for_update().filter(email=email)
    if any(not invitation.expired for invitation in earlier):
        raise OnboardingError(_("An invitation to this address is already waiting for an answer."))
    earlier.update(state=Invitation.State.CANCELLED, answered_at=now)
    with_activation = False
    if user is None:
        user = User.objects.create_user(email, None, full_name=full_name)
        with_activation = True
    elif not user.is_active and not is_platform_account(user):
        # A former member invited again starts afresh: new password, new authenticator.
        user.is_active = True
        user.set_unusable_password()
        user.save()
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        with_activation = True
    invitation = Invitation.objects.create(
        pharmacy=pharmacy,
        email=email,
        user=user,
        role=role,
        invited_by=request.user,
        with_activation=with_activation,
        created_at=now,
        expires_at=now + invitation_lifetime(),
    )
    record("staff.invited", request=request, target=invitation, details={"role": role})
    if with_activation:
        send_access(user, pharmacy, invited=True)
    elif is_platform_account(user):
        mail.enqueue(user.email, "invitation_refused", {"pharmacy_name": pharmacy.name})
    else:
        answer_url = settings.BASE_URL + reverse("accounts:choose_pharmacy")
        context = {"pharmacy_name": pharmacy.name, "answer_url": answer_url}
        mail.enqueue(user.email, "invited", context)
    return invitation


def pending_for(user):
    """The invitations `user` may still answer (none for a platform account)."""
    if is_platform_account(user):
        return Invitation.objects.none()
    return Invitation.objects.filter(
        user=user, state=Invitation.State.PENDING, expires_at__gt=timezone.now()
    ).select_related("pharmacy")


def _join(invitation, request) -> Membership:
    membership, _created = Membership.objects.get_or_create(
        user=invitation.user, pharmacy=invitation.pharmacy, defaults={"role": invitation.role}
    )
    invitation.state = Invitation.State.ACCEPTED
    invitation.answered_at = timezone.now()
    invitation.save(update_fields=["state", "answered_at"])
    record(
        "staff.invitation_accepted",
        request=request,
        actor=invitation.user,
        pharmacy=invitation.pharmacy,
        target=membership,
        details={"invitation": str(invitation.pk), "role": membership.role},
    )
    return membership


@transaction.atomic
def answer_invitation(user, invitation_id, accept: bool, request) -> Invitation:
    """The invitee's own answer. Another person's invitation, an answered or expired one:
    Invitation.DoesNotExist (the page answers 404, like a missing one)."""
    invitation = pending_for(user).select_for_update(of=("self",)).get(pk=invitation_id)
    if accept:
        _join(invitation, request)
        return invitation
    invitation.state = Invitation.State.DECLINED
    invitation.answered_at = timezone.now()
    invitation.save(update_fields=["state", "answered_at"])
    record(
        "staff.invitation_declined",
        request=request,
        pharmacy=invitation.pharmacy,
        target=invitation,
    )
    return invitation


def accept_with_activation(user, request) -> None:
    """Activating an account created by an invitation accepts that invitation: the link
    reached the invited address, and its holder chose to follow it."""
    invitations = pending_for(user).filter(with_activation=True).select_for_update(of=("self",))
    for invitation in invitations:
        _join(invitation, request)


@transaction.atomic
def cancel_invitation(pharmacy, invitation_id, request) -> None:
    """The owner withdraws an invitation not accepted. An account created for it, never
    activated and with no pharmacy, is closed again (its activation link stops working)."""
    invitation = (
        shown_invitations(pharmacy).select_for_update(of=("self",)).select_related("user")
    ).get(pk=invitation_id)
    invitation.state = Invitation.State.CANCELLED
    invitation.answered_at = timezone.now()
    invitation.save(update_fields=["state", "answered_at"])
    record("staff.invitation_cancelled", request=request, target=invitation)
    user = invitation.user
    waiting = pending_for(user).filter(with_activation=True).exists()
    if invitation.with_activation and not waiting and not user.memberships.exists():
        if not can_sign_in(user) and not is_platform_account(user):
            user.is_active = False
            user.save(update_fields=["is_active"])
            spend_links(user)


# --- Removing members: their sessions for the pharmacy end at once ----------------------------


def end_sessions(user) -> int:
    """End every session of `user` (password changed, account closed)."""
    return acting.end_sessions(user)


def spend_links(user) -> None:
    AccountToken.objects.filter(user=user, used_at__isnull=True).update(used_at=timezone.now())


@transaction.atomic
def remove_member(membership, request) -> None:
    """Only the sessions acting for this pharmacy end, with the drafts typed there; a
    person who still belongs to another pharmacy keeps working there. An account left
    without any pharmacy is closed: all its sessions and links end."""
    if membership.role == Membership.Role.OWNER:
        raise OnboardingError(_("The pharmacy's owner cannot be removed."))
    user = membership.user
    pharmacy = membership.pharmacy
    record(
        "staff.removed",
        request=request,
        target=membership,
        details={"role": membership.role, "user": str(user.pk)},
    )
    membership.delete()
    FormDraft.objects.filter(user=user, pharmacy=pharmacy).delete()
    if not user.memberships.exists() and not user.is_staff:
        user.is_active = False
        user.save(update_fields=["is_active"])
        spend_links(user)
        FormDraft.objects.filter(user=user).delete()
        acting.end_sessions(user)
    else:
        acting.end_sessions(user, pharmacy)


# --- The owner's tools: roles, second factor ---------------------------------------------------


@transaction.atomic
def change_role(membership, role: str, request) -> None:
    """A member's new role. The owner role goes to pharmacists only, and the pharmacy
    always keeps an owner: its last owner cannot give up the role."""
    if role not in Membership.Role.values:
        raise OnboardingError(_("Choose one of the roles."))
    owners = list(
        Membership.objects.select_for_update()
        .filter(pharmacy=membership.pharmacy, role=Membership.Role.OWNER)
        .values_list("pk", flat=True)
    )
    previous = membership.role
    if role == previous:
        return
    if role == Membership.Role.OWNER and previous != Membership.Role.PHARMACIST:
        raise OnboardingError(_("Only a pharmacist of the pharmacy can be made an owner."))
    if previous == Membership.Role.OWNER and owners == [membership.pk]:
        raise OnboardingError(_("The pharmacy's only owner keeps the owner role."))
    membership.role = role
    membership.save(update_fields=["role"])
    record(
        "staff.role_changed",
        request=request,
        target=membership,
        details={"from": previous, "to": role, "user": str(membership.user_id)},
    )


def may_reset_second_factor(membership, request) -> bool:
    """An owner resets the second factor of a member of their pharmacy only: not their
    own (a recovery code, or platform support), and not that of a person who also works
    in another pharmacy or on the platform. The factor is personal: the owner of one
    pharmacy must not be able to open a person's access to another; platform support
    handles those."""
    user = membership.user
    elsewhere = Membership.objects.filter(user=user).exclude(pharmacy=membership.pharmacy)
    return user.pk != request.user.pk and not is_platform_account(user) and not elsewhere.exists()


@transaction.atomic
def reset_second_factor(membership, request) -> None:
    """Delete the member's authenticator and recovery codes and end their sessions; at
    their next login they sign in with their password and set up a new authenticator
    (accounts:enrol)."""
    if not may_reset_second_factor(membership, request):
        raise OnboardingError(
            _(
                "This member's second factor cannot be reset from this pharmacy: "
                "ask platform support."
            )
        )
    user = membership.user
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    acting.end_sessions(user)
    record(
        "staff.second_factor_reset",
        request=request,
        target=membership,
        details={"user": str(user.pk)},
    )
    enrol_url = settings.BASE_URL + reverse("accounts:enrol")
    mail.enqueue(
        user.email, "second_factor_reset", {"pharmacy_name": membership.pharmacy.name,
                                            "enrol_url": enrol_url}
    )  # fmt: skip


def needs_enrolment(user) -> bool:
    """An account whose second factor was reset: a password, no authenticator."""
    has_device = TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists()
    return user.is_active and user.has_usable_password() and not has_device


def complete_enrolment(request, user, device) -> list[str]:
    """Called inside a transaction: the new authenticator is confirmed (its code was
    checked), new recovery codes replace any old ones."""
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = new_recovery_codes(user)
    record("second_factor.enrolled", request=request, actor=user, target=user)
    return codes


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
    accept_with_activation(user, request)
    return codes
