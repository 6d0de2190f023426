from django.urls import path

from relais.accounts import views_letters, views_platform

app_name = "platform"

urlpatterns = [
    path("applications/", views_platform.applications, name="applications"),
    path(
        "applications/<uuid:application_id>/",
        views_platform.application_detail,
        name="application_detail",
    ),
    path(
        "applications/<uuid:application_id>/letter/",
        views_letters.activation_letter,
        name="activation_letter",
    ),
    path("pharmacies/", views_platform.pharmacies, name="pharmacies"),
    path(
        "pharmacies/<uuid:pharmacy_id>/status/",
        views_platform.pharmacy_status,
        name="pharmacy_status",
    ),
]
