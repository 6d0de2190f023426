"""Creating, checking and revoking API credentials.

Secrets are 256 random bits, so one SHA-256 is the right hash (a slow password hash
protects guessable secrets; these are not guessable). Checking compares in constant time.
"""

import datetime
import hmac
import secrets
import string

from django.db import transaction
from django.utils import timezone

from relais.accounts.models import Membership, User
from relais.api.models import ApiCredential
from relais.lib.queries import unique_row
from relais.lib.tokens import token_digest
from relais.screening.models import ScreeningTest

TOKEN_PREFIX = "rl_"  # noqa: S105 (not a secret: the visible start of every token)
PREFIX_LENGTH = 8
PREFIX_ALPHABET = string.ascii_lowercase + string.digits
SECRET_BYTES = 32
# Writing last_used_at on every request would cost a write per call.
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)


def new_prefix() -> str:
    return "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))


@transaction.atomic
def create_credential(
    pharmacy, name: str, created_by=None, read_all: bool = False
) -> tuple[ApiCredential, str]:
    """Returns the credential and its token, which is shown once and never stored."""
    prefix = new_prefix()
    while ApiCredential.objects.filter(prefix=prefix).exists():
        prefix = new_prefix()
    secret = secrets.token_urlsafe(SECRET_BYTES)
    service_user = User.objects.create_user(
        f"api-{prefix}@api.relais.invalid",
        None,  # an unusable password: this account never logs in
        full_name=f"API: {name}"[:150],
        is_active=False,
    )
    credential = ApiCredential.objects.create(
        pharmacy=pharmacy,
        name=name,
        prefix=prefix,
        secret_hash=token_digest(secret),
        service_user=service_user,
        created_by=created_by,
        read_all=read_all,
    )
    return credential, f"{TOKEN_PREFIX}{prefix}_{secret}"


def split_token(token: str) -> tuple[str, str] | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    rest = token[len(TOKEN_PREFIX) :]
    prefix = rest[:PREFIX_LENGTH]
    separator = rest[PREFIX_LENGTH : PREFIX_LENGTH + 1]
    secret = rest[PREFIX_LENGTH + 1 :]
    if separator != "_" or not secret or len(secret) > 128:
        return None
    return prefix, secret


def authenticate_token(token: str) -> ApiCredential | None:
    """The live credential of an active pharmacy that this token opens, else None."""
    parts = split_token(token)
    if parts is None:
        return None
    prefix, secret = parts
    credential = unique_row(
        ApiCredential.objects.select_related("pharmacy", "service_user").filter(prefix=prefix)
    )
    if credential is None:
        token_digest(secret)  # same work as a real check: no timing hint about prefixes
        return None
    if not hmac.compare_digest(token_digest(secret), credential.secret_hash):
        return None
    if credential.is_revoked or not credential.pharmacy.is_active:
        return None
    touch(credential)
    return credential


def touch(credential: ApiCredential) -> None:
    now = timezone.now()
    if credential.last_used_at is None or credential.last_used_at < now - LAST_USED_RESOLUTION:
        ApiCredential.objects.filter(pk=credential.pk).update(last_used_at=now)
        credential.last_used_at = now


def revoke(credential: ApiCredential) -> bool:
    """Returns False when it was already revoked."""
    updated = ApiCredential.objects.filter(pk=credential.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    return updated == 1


def set_read_all(credential: ApiCredential, read_all: bool) -> bool:
    """Grant or withdraw reading every test of the pharmacy; False when it was already so.
    The caller audits the change (the owner's page, the command)."""
    updated = ApiCredential.objects.filter(pk=credential.pk).exclude(read_all=read_all)
    changed = updated.update(read_all=read_all) == 1
    credential.read_all = read_all
    return changed


def readable_tests(credential: ApiCredential):
    """The tests `credential` may read: those recorded through it (its service user
    performed them), or every test of its pharmacy when the owner granted `read_all`."""
    tests = ScreeningTest.objects.for_pharmacy(credential.pharmacy)
    if credential.read_all:
        return tests
    return tests.filter(recorded_by=credential.service_user)


def performer(credential: ApiCredential, rpps: str):
    """The active pharmacist or owner of the credential's pharmacy with this RPPS, or
    None (an assistant does not perform tests, and another pharmacy's member is no one
    here)."""
    if not rpps:
        return None
    memberships = Membership.objects.filter(
        pharmacy=credential.pharmacy,
        role__in=[Membership.Role.PHARMACIST, Membership.Role.OWNER],
        user__rpps=rpps,
        user__is_active=True,
    ).select_related("user")
    # Two at most, in no order: only whether there is exactly one matters.
    found = [membership.user for membership in memberships.order_by()[:2]]
    return found[0] if len(found) == 1 else None
