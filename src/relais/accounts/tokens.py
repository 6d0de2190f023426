"""Single-use, expiring links: one mechanism for activation, invitation and password reset.

The link carries a 256-bit random token; only its SHA-256 is stored. The link's page
swaps the token for a session entry at once (so the token leaves the address bar), and
the token is spent when the action it allows completes.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from relais.accounts.models import AccountToken
from relais.lib.tokens import token_digest

SESSION_KEY = "account_token_id"


def lifetime(purpose: str) -> timedelta:
    if purpose == AccountToken.Purpose.RESET:
        return timedelta(minutes=settings.PASSWORD_RESET_LINK_MINUTES)
    return timedelta(hours=settings.ACTIVATION_LINK_HOURS)


def issue(user, purpose: str) -> str:
    """A new token for `user`; earlier unused tokens of the same purpose stop working."""
    now = timezone.now()
    AccountToken.objects.filter(user=user, purpose=purpose, used_at__isnull=True).update(
        used_at=now
    )
    token = secrets.token_urlsafe(32)
    AccountToken.objects.create(
        user=user,
        purpose=purpose,
        token_hash=token_digest(token),
        expires_at=now + lifetime(purpose),
    )
    return token


def link(token: str, purpose: str) -> str:
    if not settings.BASE_URL:
        raise ImproperlyConfigured("RELAIS_BASE_URL is required to send links by e-mail.")
    view = "accounts:activate" if purpose == AccountToken.Purpose.ACTIVATION else "accounts:reset"
    # In the query string: access logs record the path only.
    return f"{settings.BASE_URL}{reverse(view)}?t={token}"


def usable(purpose: str):
    return AccountToken.objects.filter(
        purpose=purpose, used_at__isnull=True, expires_at__gt=timezone.now(), user__is_active=True
    )


def find(token: str, purpose: str) -> AccountToken | None:
    if not token or len(token) > 100:
        return None
    return usable(purpose).select_related("user").filter(token_hash=token_digest(token)).first()


def remember(request, account_token: AccountToken) -> None:
    request.session[SESSION_KEY] = str(account_token.pk)


def from_session(request, purpose: str, for_update=False) -> AccountToken | None:
    token_id = request.session.get(SESSION_KEY)
    if not token_id:
        return None
    tokens = usable(purpose).select_related("user")
    if for_update:
        tokens = tokens.select_for_update(of=("self",))
    return tokens.filter(pk=token_id).first()


def spend(request, account_token: AccountToken) -> None:
    account_token.used_at = timezone.now()
    account_token.save(update_fields=["used_at"])
    request.session.pop(SESSION_KEY, None)
