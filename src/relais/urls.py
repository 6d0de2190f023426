from django.urls import include, path
from django.views.i18n import set_language

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
