import sys

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import include, path
from django.views import defaults
from django.views.i18n import set_language

from relais.api.problems import problem_response
from relais.lib.database import RETRY_AFTER_SECONDS, unavailable

urlpatterns = [
    path("accounts/", include("relais.accounts.urls")),
    path("apply/", include("relais.accounts.urls_apply")),
    path("platform/", include("relais.accounts.urls_platform")),
    path("audit/", include("relais.accounts.urls_audit")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("api/v1/", include("relais.api.urls")),
    path("api-credentials/", include("relais.api.web_urls")),
    path("imports/", include("relais.imports.urls")),
    path("operations/transmissions/", include("relais.transmission.urls")),
    path("", include("relais.screening.urls")),
    path("", include("relais.patient_access.urls")),
    path("", include("relais.patient_access.pharmacy_urls")),
]


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's last resort for an exception no view handled (handler500): 503 with
    Retry-After when the database cannot answer (down, restarting, frozen past the
    statement deadline), 500 otherwise; an RFC 9457 problem under /api/, a page elsewhere,
    rendered without a request (no context processor may query the database)."""
    retry = unavailable(sys.exc_info()[1])
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if retry else {}
    if request.path.startswith("/api/"):
        return problem_response(request, "unavailable" if retry else "server-error",
                                headers=headers)  # fmt: skip
    if retry:
        return HttpResponse(render_to_string("503.html"), status=503, headers=headers)
    return defaults.server_error(request)


handler500 = server_error
