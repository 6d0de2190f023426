"""Pro Santé Connect (PSC): the national OpenID Connect login of health professionals (CPS
card or e-CPS app), as a real OpenID Connect client.

Authorization code flow with PKCE (S256), `state` and `nonce` kept in the session for one
use; the provider's endpoints and keys come from its discovery document. The ID token's
signature is checked against the provider's JWKS and its iss, aud, exp, iat and nonce by
Authlib's `CodeIDToken` (on joserfc, Authlib's JOSE library); the identity comes from the
userinfo endpoint (JSON, or a JWT signed by the same keys), whose `sub` must be the ID
token's. Nothing here parses or checks a JWT by hand.

What PSC documents and this module relies on (docs/onboarding.md cites the sources):
- scope `openid scope_all`; `acr_values=eidas1`;
- `SubjectNameID`: the national identifier of the professional, the RPPS number prefixed by
  "8" (an ADELI number is prefixed by "0"); Relais keeps the 11-digit RPPS only;
- `SubjectRefPro.exercices[].codeProfession` (21: pharmacist), `given_name`, `family_name`.
"""

import ipaddress
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.claims import JWTClaims
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oidc.core import CodeIDToken
from django.conf import settings
from django.urls import reverse
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

SESSION_KEY = "psc_flow"
FLOW_SECONDS = 600  # the round trip through PSC (a card PIN, a phone) must end within this
LEEWAY_SECONDS = 60
RPPS_PREFIX = "8"  # SubjectNameID = "8" + RPPS (11 digits); "0" + ADELI for others


class Purpose:
    ACTIVATE = "activate"  # an owner proves their RPPS during activation
    LOGIN = "login"  # sign in instead of password + authenticator code
    LINK = "link"  # a signed-in professional links their PSC identity to the account
    PROVE = "prove"  # a signed-in professional proves an application made with their e-mail

    ALL = (ACTIVATE, LOGIN, LINK, PROVE)


class PscError(Exception):
    """The round trip failed or proved nothing. `reason` is a short code for the audit log
    (never personal data)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    sub: str
    rpps: str  # "" when the national identifier is not an RPPS number
    given_name: str
    family_name: str
    professions: tuple[str, ...]
    acr: str


def enabled() -> bool:
    return bool(settings.PSC_ISSUER)


def rpps_from_national_id(national_id: object) -> str:
    """The RPPS in a SubjectNameID ("8" + 11 digits); "" for anything else."""
    if (
        isinstance(national_id, str)
        and len(national_id) == 12
        and national_id.isascii()
        and national_id.isdigit()
        and national_id.startswith(RPPS_PREFIX)
    ):
        return national_id[1:]
    return ""


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_transport(url: object) -> str:
    """Every address of the provider is https, but on loopback in the test-only mode."""
    if not isinstance(url, str):
        raise PscError("metadata")
    if url.startswith("https://"):
        return url
    if settings.PSC_INSECURE_LOOPBACK and url.startswith("http://") and _loopback(url):
        return url
    raise PscError("insecure_transport")


def _get(url: str, **kwargs) -> httpx.Response:
    try:
        response = httpx.get(_check_transport(url), timeout=settings.PSC_TIMEOUT_SECONDS, **kwargs)
    except httpx.HTTPError:
        raise PscError("unreachable") from None
    if response.status_code != 200:
        raise PscError("provider_refused")
    return response


def _json(response: httpx.Response) -> dict:
    try:
        document = response.json()
    except ValueError:
        raise PscError("provider_answer") from None
    if not isinstance(document, dict):
        raise PscError("provider_answer")
    return document


def metadata() -> dict:
    """The provider's discovery document, whose issuer must be the configured one."""
    issuer = _check_transport(settings.PSC_ISSUER)
    document = _json(_get(f"{issuer}/.well-known/openid-configuration"))
    if document.get("issuer") != issuer:
        raise PscError("issuer_mismatch")
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
        _check_transport(document.get(name))
    return document


def redirect_uri() -> str:
    return settings.BASE_URL + reverse("accounts:psc_callback")


def _client(**kwargs) -> OAuth2Client:
    return OAuth2Client(
        client_id=settings.PSC_CLIENT_ID,
        client_secret=settings.PSC_CLIENT_SECRET,
        scope=settings.PSC_SCOPE,
        redirect_uri=redirect_uri(),
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 (a method's name)
        timeout=settings.PSC_TIMEOUT_SECONDS,
        **kwargs,
    )


def begin(request, purpose: str) -> str:
    """The provider's authorization URL for a new round trip; its state, nonce and PKCE
    verifier wait in the session (a new round trip replaces an unfinished one)."""
    assert purpose in Purpose.ALL
    document = metadata()
    state, nonce, verifier = generate_token(43), generate_token(43), generate_token(64)
    with _client() as client:
        url, _ = client.create_authorization_url(
            document["authorization_endpoint"],
            state=state,
            nonce=nonce,
            code_verifier=verifier,
            acr_values=settings.PSC_ACR_VALUES,
        )
    request.session[SESSION_KEY] = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "purpose": purpose,
        "started": time.time(),
    }
    return url


def pending_purpose(request) -> str | None:
    flow = request.session.get(SESSION_KEY)
    return flow.get("purpose") if isinstance(flow, dict) else None


def complete(request) -> tuple[str, Identity]:
    """Check the provider's answer on the redirect URI and return (purpose, identity).

    The session's round trip is used up first, whatever follows: a replayed answer (the
    same state and code again) finds nothing and is refused."""
    flow = request.session.pop(SESSION_KEY, None)
    if not isinstance(flow, dict):
        raise PscError("no_round_trip")
    if time.time() - flow["started"] > FLOW_SECONDS:
        raise PscError("expired")
    if not secrets.compare_digest(str(request.GET.get("state", "")), flow["state"]):
        raise PscError("state_mismatch")
    if "error" in request.GET or not request.GET.get("code"):
        raise PscError("provider_error")
    document = metadata()
    token = _exchange(document, request.GET["code"], flow["verifier"])
    keys = _key_set(document)
    algorithms = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    id_token = _verified_id_token(token, keys, algorithms, flow["nonce"])
    userinfo = _userinfo(document, token["access_token"], keys)
    if userinfo.get("sub") != id_token["sub"]:
        raise PscError("userinfo_subject")
    return flow["purpose"], _identity(userinfo, id_token)


def _exchange(document: dict, code: str, verifier: str) -> dict:
    try:
        with _client() as client:
            token = client.fetch_token(
                document["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=verifier,
            )
    except (OAuth2Error, httpx.HTTPError, ValueError):
        raise PscError("token_refused") from None
    if not token.get("id_token") or not token.get("access_token"):
        raise PscError("token_incomplete")
    return dict(token)


def _key_set(document: dict) -> KeySet:
    try:
        return KeySet.import_key_set(_json(_get(document["jwks_uri"])))  # type: ignore[arg-type]
    except (JoseError, ValueError, KeyError, TypeError):
        raise PscError("jwks") from None


def _decode(value: str, keys: KeySet, algorithms: list[str]) -> Any:
    try:
        return jwt.decode(value, keys, algorithms=algorithms)
    except (JoseError, ValueError):
        raise PscError("signature") from None


def _verified_id_token(token: dict, keys: KeySet, algorithms: list[str], nonce: str):
    decoded = _decode(token["id_token"], keys, algorithms)
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {
            "iss": {"essential": True, "value": settings.PSC_ISSUER},
            "aud": {"essential": True, "value": settings.PSC_CLIENT_ID},
        },
        {
            "nonce": nonce,
            "client_id": settings.PSC_CLIENT_ID,
            "access_token": token["access_token"],
        },
    )
    try:
        claims.validate(leeway=LEEWAY_SECONDS)
    except JoseError as error:
        raise PscError(f"id_token_{getattr(error, 'error', 'invalid')}") from None
    return claims


def _userinfo(document: dict, access_token: str, keys: KeySet) -> dict:
    response = _get(
        document["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"}
    )
    if response.headers.get("content-type", "").split(";")[0].strip() != "application/jwt":
        return _json(response)
    algorithms = document.get("userinfo_signing_alg_values_supported") or ["RS256"]
    decoded = _decode(response.text.strip(), keys, algorithms)
    claims = JWTClaims(
        decoded.claims,
        decoded.header,
        {
            "iss": {"essential": True, "value": settings.PSC_ISSUER},
            "aud": {"essential": True, "value": settings.PSC_CLIENT_ID},
        },
    )
    try:
        claims.validate(leeway=LEEWAY_SECONDS)
    except JoseError:
        raise PscError("userinfo_claims") from None
    return dict(claims)


def _identity(userinfo: dict, id_token) -> Identity:
    reference = userinfo.get("SubjectRefPro")
    exercises = reference.get("exercices") if isinstance(reference, dict) else None
    professions = tuple(
        str(exercise.get("codeProfession", ""))
        for exercise in exercises or []
        if isinstance(exercise, dict)
    )
    return Identity(
        sub=str(userinfo["sub"]),
        rpps=rpps_from_national_id(userinfo.get("SubjectNameID")),
        given_name=str(userinfo.get("given_name", "")),
        family_name=str(userinfo.get("family_name", "")),
        professions=professions,
        acr=str(id_token.get("acr", "")),
    )
