from django.urls import path

from relais.screening import views, views_access_log

app_name = "screening"

urlpatterns = [
    path("", views.day, name="day"),
    path("patients/", views.patient_search, name="patient_search"),
    path("patients/new/", views.patient_new, name="patient_new"),
    path("patients/<uuid:patient_id>/", views.patient_detail, name="patient_detail"),
    path("patients/<uuid:patient_id>/edit/", views.patient_edit, name="patient_edit"),
    path("patients/<uuid:patient_id>/tests/new/", views.test_new, name="test_new"),
    path("tests/<uuid:test_id>/", views.test_detail, name="test_detail"),
    path("tests/<uuid:test_id>/result/", views.test_result, name="test_result"),
    path("tests/<uuid:test_id>/correct/", views.test_correct, name="test_correct"),
    path("tests/<uuid:test_id>/cancel/", views.test_cancel, name="test_cancel"),
    path("access-log/", views_access_log.access_log, name="access_log"),
]
