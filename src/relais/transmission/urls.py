from django.urls import path

from relais.transmission import views

app_name = "transmission"

urlpatterns = [
    path("", views.operations, name="operations"),
    path("retry-all/", views.retry_all, name="retry_all"),
    path("<uuid:transmission_id>/retry/", views.retry, name="retry"),
]
