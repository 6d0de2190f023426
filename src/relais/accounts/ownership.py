"""Proof of ownership at activation, and the link between an account and its RPPS.

An approved application's activation link goes to an e-mail address the applicant typed:
on its own it proves nothing. Before the owner's account can be activated, the owner proves
the application is theirs by a channel the applicant does not control, one of:

- Pro Santé Connect returns the application's owner RPPS (the CPS card or e-CPS app is
  issued to that professional by the national directory);
- the code of a letter a platform administrator prints and posts to the pharmacy's address
  in the establishment directory (FINESS), typed at activation: stored as an HMAC, single
  use, expiring, locked after a few wrong tries.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from relais.accounts.models import (
    ActivationLetter,
    Membership,
    OwnerProof,
    Pharmacy,
    PharmacyApplication,
    ProSanteConnectDevice,
    User,
)
from relais.accounts.onboarding import RECOVERY_ALPHABET, OnboardingError
from relais.accounts.psc import Identity
from relais.audit.events import record

LETTER_CODE_LENGTH = 12  # 60 bits of base32, typed from paper in three groups of four
LETTER_HMAC_SALT = "relais.accounts.activation-letter"


def awaiting_proof(user) -> QuerySet[PharmacyApplication]:
    """The approved applications of this account's e-mail whose owner has not proven them
    yet. An account that can already sign in (a pharmacist of another pharmacy applying
    for their own) becomes the pharmacy's owner only once it is proven: `_mark_proven`."""
    return PharmacyApplication.objects.filter(
        status=PharmacyApplication.Status.APPROVED,
        owner_email__iexact=user.email,
        owner_proven_at__isnull=True,
        pharmacy__status=Pharmacy.Status.ACTIVE,
    ).select_related("pharmacy")


def letter_digest(code: str) -> str:
    """Keyed with the secret key: a database copy alone cannot try the 2^60 codes."""
    normalized = "".join(code.split()).replace("-", "").lower()
    return salted_hmac(LETTER_HMAC_SALT, normalized, algorithm="sha256").hexdigest()


def _grouped(code: str) -> str:
    return "-".join(code[start : start + 4] for start in range(0, len(code), 4)).upper()


@transaction.atomic
def issue_letter(application_id, admin, request) -> tuple[PharmacyApplication, str, object]:
    """A new code for an approved, not yet proven application (earlier letters stop
    working). Returns the application, the code to print (shown once) and the letter."""
    application = (
        PharmacyApplication.objects.select_for_update()
        .select_related("pharmacy")
        .get(pk=application_id)
    )
    if application.status != PharmacyApplication.Status.APPROVED:
        raise OnboardingError(_("A letter is sent for an approved application only."))
    if application.owner_proven_at is not None:
        raise OnboardingError(_("The owner has already proven this application."))
    now = timezone.now()
    ActivationLetter.objects.filter(
        application=application, used_at__isnull=True, voided_at__isnull=True
    ).update(voided_at=now)
    code = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(LETTER_CODE_LENGTH))
    letter = ActivationLetter.objects.create(
        application=application,
        code_hash=letter_digest(code),
        issued_by=admin,
        issued_at=now,
        expires_at=now + timedelta(days=settings.ACTIVATION_LETTER_DAYS),
    )
    record(
        "activation_letter.issued",
        request=request,
        pharmacy=application.pharmacy,
        target=application,
    )
    return application, _grouped(code), letter


def _mark_proven(application, method: str, request, actor) -> None:
    application.owner_proven_at = timezone.now()
    application.owner_proof = method
    application.save(update_fields=["owner_proven_at", "owner_proof"])
    Membership.objects.get_or_create(
        user=actor, pharmacy=application.pharmacy, defaults={"role": Membership.Role.OWNER}
    )
    record(
        "activation.proven",
        request=request,
        actor=actor,
        pharmacy=application.pharmacy,
        target=application,
        details={"method": method},
    )


def prove_by_letter(user, code: str, request) -> bool:
    """True when `code` is a live letter's code for one of the user's applications. A
    wrong code counts against every live letter of theirs (committed, and audited)."""
    with transaction.atomic():
        applications = list(awaiting_proof(user).select_for_update(of=("self",)))
        now = timezone.now()
        letters = ActivationLetter.objects.select_for_update().filter(
            application__in=applications,
            used_at__isnull=True,
            voided_at__isnull=True,
            expires_at__gt=now,
            failures__lt=settings.ACTIVATION_LETTER_MAX_TRIES,
        )
        digest = letter_digest(code)
        for letter in letters:
            if secrets.compare_digest(letter.code_hash, digest):
                letter.used_at = now
                letter.save(update_fields=["used_at"])
                application = next(a for a in applications if a.pk == letter.application_id)
                _mark_proven(application, OwnerProof.LETTER, request, user)
                return True
        letters.update(failures=F("failures") + 1)
        record(
            "activation.proof_refused",
            request=request,
            actor=user,
            details={"method": OwnerProof.LETTER, "reason": "wrong_or_expired_code"},
        )
        return False


@transaction.atomic
def prove_by_psc(user, identity: Identity, request) -> bool:
    """True when Pro Santé Connect returned the owner RPPS of the user's applications (each
    one it matches is proven); the account is then linked to that RPPS."""
    applications = list(awaiting_proof(user).select_for_update(of=("self",)))
    matching = [a for a in applications if identity.rpps and a.owner_rpps == identity.rpps]
    if not matching:
        record(
            "activation.proof_refused",
            request=request,
            actor=user,
            details={"method": OwnerProof.PSC, "reason": "rpps_mismatch"},
        )
        return False
    for application in matching:
        _mark_proven(application, OwnerProof.PSC, request, user)
    try:
        link(user, identity, request)
    except OnboardingError:
        pass  # proven all the same; the link refusal is audited
    return True


def link(user, identity: Identity, request) -> None:
    """Link the account to the RPPS Pro Santé Connect returned: from then on the account
    may sign in with PSC instead of its password and authenticator code."""
    refusal = None
    if not identity.rpps:
        refusal = "no_rpps", _("Pro Santé Connect did not return an RPPS number.")
    elif user.rpps and user.rpps != identity.rpps:
        refusal = (
            "rpps_mismatch",
            _("The RPPS number Pro Santé Connect returned is not the one of this account."),
        )
    elif (
        User.objects.filter(rpps=identity.rpps, rpps_verified_at__isnull=False)
        .exclude(pk=user.pk)
        .exists()
    ):
        refusal = (
            "linked_elsewhere",
            _("This Pro Santé Connect identity is already linked to another account."),
        )
    if refusal is not None:
        record("psc.link_refused", request=request, actor=user, details={"reason": refusal[0]})
        raise OnboardingError(refusal[1])
    user.rpps = identity.rpps
    user.rpps_verified_at = timezone.now()
    user.save(update_fields=["rpps", "rpps_verified_at"])
    ProSanteConnectDevice.objects.get_or_create(
        user=user, defaults={"name": "Pro Santé Connect", "confirmed": True}
    )
    record("psc.linked", request=request, actor=user, target=user)


def user_for_login(identity: Identity):
    """The one active account linked to this RPPS, with its PSC device; None otherwise."""
    if not identity.rpps:
        return None, None
    users = list(
        User.objects.filter(rpps=identity.rpps, rpps_verified_at__isnull=False, is_active=True)[:2]
    )
    if len(users) != 1:
        return None, None
    device = ProSanteConnectDevice.objects.filter(user=users[0], confirmed=True).first()
    return (users[0], device) if device is not None else (None, None)
