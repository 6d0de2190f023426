"""The pharmacist's side of patient links."""

from django.urls import path

from relais.patient_access import views

app_name = "patient_links"

urlpatterns = [
    path("tests/<uuid:test_id>/resend-link/", views.resend, name="resend"),
    path("tests/<uuid:test_id>/slip/", views.print_slip, name="slip"),
]
