from django.urls import path

from relais.accounts import views_audit

# The namespace stays "audit": the page is the audit log.
app_name = "audit"

urlpatterns = [path("", views_audit.audit_log, name="log")]
