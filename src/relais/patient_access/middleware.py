"""Everything under the patient prefix (/r/) gets the same protective headers, errors
and PDFs included, and a per-address rate limit counted in the shared cache, so every
web process sees the same counts."""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import render

from relais.audit.events import client_address

PATIENT_PREFIX = "/r/"
PATIENT_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}


def rate_limit_key(address: str, window: int) -> str:
    # Hashed: the cache must not become a list of client addresses.
    digest = hashlib.sha256(address.encode()).hexdigest()[:32]
    return f"patient-rate:{digest}:{window}"


def allow_request(address: str) -> bool:
    """Count one request from `address` in the current minute; False past the limit."""
    window = int(time.time() // 60)
    key = rate_limit_key(address, window)
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=120)
        count = 1
    return count <= settings.PATIENT_RATE_LIMIT


class PatientPageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(PATIENT_PREFIX):
            return self.get_response(request)
        if allow_request(client_address(request)):
            response = self.get_response(request)
        else:
            response = render(request, "patient_access/too_many.html", status=429)
            response["Retry-After"] = "60"
        for name, value in PATIENT_HEADERS.items():
            response[name] = value
        return response
