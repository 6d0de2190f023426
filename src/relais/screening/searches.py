"""A patient search as Post/Redirect/Get, without its criteria ever in a URL.

The search form is a POST (an NIR or a name in a URL would stay in the counter PC's history
and in every access log on the way). Its answer is a redirect to the results page,
`/patients/?search=<key>`, so that Back and Reload show the results again instead of asking
to send the form again. The criteria stay on the server: in the session (the database
session store), encrypted with the data keys and bound to this session's user and key, for
SEARCH_MINUTES; the key in the URL is random and means nothing elsewhere.
"""

import base64
import datetime
import json
import secrets

from django.utils import timezone

from relais.crypto.blobs import CryptoError, decrypt_blob, encrypt_blob

SESSION_KEY = "patient_searches"
SEARCH_MINUTES = 30
KEPT_SEARCHES = 5  # the latest ones: a few tabs of the counter PC


def _associated_data(request, key: str) -> bytes:
    return f"relais.screening.search|{request.user.pk}|{key}".encode()


def _live(searches: dict) -> dict:
    oldest = timezone.now() - datetime.timedelta(minutes=SEARCH_MINUTES)
    return {
        key: entry
        for key, entry in searches.items()
        if datetime.datetime.fromisoformat(entry["at"]) > oldest
    }


def keep(request, criteria: dict[str, str]) -> str:
    """Store the criteria (as text) for this session; returns the key of the results page."""
    key = secrets.token_urlsafe(12)
    blob = encrypt_blob(json.dumps(criteria).encode(), _associated_data(request, key))
    searches = _live(request.session.get(SESSION_KEY, {}))
    searches[key] = {"at": timezone.now().isoformat(), "blob": base64.b64encode(blob).decode()}
    latest = sorted(searches.items(), key=lambda item: item[1]["at"])[-KEPT_SEARCHES:]
    request.session[SESSION_KEY] = dict(latest)
    return key


def read(request, key: str) -> dict[str, str] | None:
    """The criteria stored under `key` by this session, or None (unknown, expired, or
    not readable any more after a key rotation)."""
    searches = _live(request.session.get(SESSION_KEY, {}))
    if len(searches) != len(request.session.get(SESSION_KEY, {})):
        request.session[SESSION_KEY] = searches
    entry = searches.get(key) if isinstance(key, str) else None
    if entry is None:
        return None
    try:
        plain = decrypt_blob(base64.b64decode(entry["blob"]), _associated_data(request, key))
    except (CryptoError, ValueError):
        return None
    criteria = json.loads(plain)
    return criteria if isinstance(criteria, dict) else None
