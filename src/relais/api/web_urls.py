from django.urls import path

from relais.api import views

app_name = "api_credentials"

urlpatterns = [
    path("", views.credential_list, name="list"),
    path("<uuid:credential_id>/revoke/", views.credential_revoke, name="revoke"),
    path("<uuid:credential_id>/read-scope/", views.credential_read_scope, name="read_scope"),
    path("<uuid:credential_id>/webhook/", views.credential_webhook, name="webhook"),
    path(
        "<uuid:credential_id>/webhook/secret/",
        views.credential_webhook_secret,
        name="webhook_secret",
    ),
]
