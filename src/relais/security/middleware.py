"""Security headers on every response, added to those Django's SecurityMiddleware and
XFrameOptionsMiddleware set (HSTS when RELAIS_HTTPS, nosniff, referrer policy, DENY).

A header a view already set (the patient pages' stricter Referrer-Policy) is kept.
"""

from django.utils.cache import add_never_cache_headers

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=()"

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Resource-Policy": "same-origin",
    # XFrameOptionsMiddleware sets it too, but never sees the static files WhiteNoise serves.
    "X-Frame-Options": "DENY",
}


# Every API answer may carry a result or a patient's data, or an error about them: no
# browser, proxy or LGO-side HTTP cache may keep any of them.
NO_STORE_PREFIX = "/api/"


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path_info.startswith(NO_STORE_PREFIX):
            add_never_cache_headers(response)  # no-store, private, max-age=0, Expires
            return response
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and "Cache-Control" not in response:
            # Signed-in pages show patients: the shared counter PC's browser must not keep them.
            add_never_cache_headers(response)
        return response
