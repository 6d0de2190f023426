"""A bound on the URL, answered like every other error: a problem under /api/, the
bad-request page elsewhere.

gunicorn refuses a longer request line itself, with an HTML page (its own limit is set to
its maximum in relais.gunicorn_config, above this one), so the application's limit is the
one clients meet."""

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _

from relais.api.problems import problem_response

# Bytes of the request target (path and query string, as sent).
MAX_URL_BYTES = 4096
API_PREFIX = "/api/"


def url_too_long(request) -> bool:
    target = request.META.get("RAW_URI") or request.get_full_path()
    return len(target.encode("utf-8", "surrogateescape")) > MAX_URL_BYTES


class UrlLengthMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not url_too_long(request):
            return self.get_response(request)
        if request.path.startswith(API_PREFIX):
            return problem_response(
                request,
                "uri-too-long",
                _("The URL may be %(limit)d bytes at most.") % {"limit": MAX_URL_BYTES},
            )
        page = render_to_string(
            "400.html"
        )  # no request: the middlewares after this one have not run
        return HttpResponse(page, status=414)
