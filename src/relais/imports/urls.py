from django.urls import path

from relais.imports import views

app_name = "imports"

urlpatterns = [
    path("", views.upload, name="upload"),
    path("template.csv", views.template_csv, name="template"),
    path("<uuid:batch_id>/", views.review, name="review"),
    path("<uuid:batch_id>/progress.json", views.progress, name="progress"),
    path("<uuid:batch_id>/errors.csv", views.error_report, name="error_report"),
]
