"""Bearer authentication by API credential, and the per-credential rate limit."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from ninja.security import HttpBearer

from relais.api.credentials import authenticate_token
from relais.api.problems import Problem
from relais.lib import ratelimit


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


def check_rate(credential, cost: int = 1) -> None:
    """A one-minute window per credential (the shared counter of relais.lib.ratelimit); a
    batch costs one request per result (a batch of 500 must not probe 500 identities for
    the price of one request)."""
    if cost <= 0:
        return
    limit = settings.API_RATE_LIMIT
    verdict = ratelimit.hit("api", str(credential.pk), limit, window_seconds=60, cost=cost)
    if not verdict.allowed:
        raise Problem(
            "rate-limited",
            _(
                "This credential may send %(limit)d requests a minute (a batch counts one "
                "per result)."
            )
            % {"limit": limit},
            headers={"Retry-After": str(verdict.retry_after)},
        )
