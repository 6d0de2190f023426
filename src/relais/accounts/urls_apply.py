from django.urls import path

from relais.accounts import views_onboarding

app_name = "apply"

urlpatterns = [
    path("", views_onboarding.apply, name="form"),
    path("received/", views_onboarding.application_received, name="received"),
]
