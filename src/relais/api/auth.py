"""Bearer authentication by API credential, and the per-credential rate limit."""

import time

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _
from ninja.security import HttpBearer

from relais.api.credentials import authenticate_token
from relais.api.problems import Problem

WINDOW_SECONDS = 60


class CredentialAuth(HttpBearer):
    """`Authorization: Bearer rl_<prefix>_<secret>`; request.auth is the ApiCredential."""

    openapi_bearerFormat = "rl_<prefix>_<secret>"

    def authenticate(self, request, token):
        credential = authenticate_token(token)
        if credential is None:
            raise Problem(
                "unauthorized",
                _("The credential is unknown, revoked, or its pharmacy is not active."),
                headers={"WWW-Authenticate": 'Bearer realm="relais", error="invalid_token"'},
            )
        check_rate(credential)
        return credential


def check_rate(credential) -> None:
    """A fixed one-minute window per credential, counted in the shared cache."""
    limit = settings.API_RATE_LIMIT
    window = int(time.time()) // WINDOW_SECONDS
    key = f"api-rate:{credential.pk}:{window}"
    cache.add(key, 0, WINDOW_SECONDS + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, WINDOW_SECONDS + 5)
        count = 1
    if count > limit:
        retry_after = WINDOW_SECONDS - int(time.time()) % WINDOW_SECONDS
        raise Problem(
            "rate-limited",
            _("This credential may send %(limit)d requests a minute.") % {"limit": limit},
            headers={"Retry-After": str(retry_after)},
        )
