"""Everything under the patient prefix (/r/) gets the same protective headers, errors
and PDFs included, and a per-address rate limit counted in the shared cache, so every
web process sees the same counts."""

from django.conf import settings
from django.shortcuts import render

from relais.lib import ratelimit
from relais.lib.http import client_address

PATIENT_PREFIX = "/r/"
PATIENT_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}


class PatientPageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(PATIENT_PREFIX):
            return self.get_response(request)
        verdict = ratelimit.hit(
            "patient", client_address(request), settings.PATIENT_RATE_LIMIT, window_seconds=60
        )
        if verdict.allowed:
            response = self.get_response(request)
        else:
            response = render(request, "patient_access/too_many.html", status=429)
            response["Retry-After"] = str(verdict.retry_after)
        for name, value in PATIENT_HEADERS.items():
            response[name] = value
        return response
