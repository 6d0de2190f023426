"""The owner's pages for the pharmacy's API credentials: create (secret shown once),
see when each was last used, grant or withdraw reading every test, revoke, and set or
remove each one's webhook and renew its secret (shown once)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from relais.accounts.http import PharmacyRequest
from relais.accounts.permissions import pharmacy_permission_required
from relais.api import credentials, webhooks
from relais.api.forms import CredentialForm, WebhookForm
from relais.api.models import ApiCredential
from relais.audit.events import record


@never_cache
@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("api.manage")
def credential_list(request: PharmacyRequest):
    form = CredentialForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        credential, new_token = credentials.create_credential(
            request.pharmacy, form.cleaned_data["name"], created_by=request.user
        )
        record("api_credential.create", request=request, target=credential)
        messages.success(
            request,
            _("The credential “%(name)s” is created: copy its secret below now.")
            % {"name": credential.name},
        )
        form = CredentialForm()
    return page(request, form, new_token=new_token)


def page(request: PharmacyRequest, form=None, **context):
    """The credentials page. A new token or webhook secret is in this answer only: answered
    to the POST that made it, never stored in clear or redirected."""
    context = {
        "form": form or CredentialForm(),
        "credentials": ApiCredential.objects.for_pharmacy(request.pharmacy).select_related(
            "created_by"
        ),
        **context,
    }
    return render(request, "api/credentials.html", context)


@never_cache
@require_POST
@pharmacy_permission_required("api.manage")
def credential_webhook(request: PharmacyRequest, credential_id):
    """Sets the credential's webhook address (its first secret is shown once), or removes
    the webhook ("clear")."""
    credential = ApiCredential.objects.get_for_pharmacy_or_404(request.pharmacy, pk=credential_id)
    if credential.is_revoked:
        return redirect("api_credentials:list")
    if "clear" in request.POST:
        if webhooks.clear(credential):
            record("api_credential.webhook_clear", request=request, target=credential)
            messages.success(
                request,
                _("The webhook of “%(name)s” is removed.") % {"name": credential.name},
            )
        return redirect("api_credentials:list")
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return page(request, webhook_form=form, webhook_credential=credential)
    secret = webhooks.set_url(credential, form.cleaned_data["url"])
    record("api_credential.webhook_set", request=request, target=credential)
    messages.success(request, _("The webhook of “%(name)s” is saved.") % {"name": credential.name})
    if secret is None:
        return redirect("api_credentials:list")
    return page(request, new_webhook_secret=secret, webhook_credential=credential)


@never_cache
@require_POST
@pharmacy_permission_required("api.manage")
def credential_webhook_secret(request: PharmacyRequest, credential_id):
    """A new webhook secret, shown once; the old one stops working at once."""
    credential = ApiCredential.objects.get_for_pharmacy_or_404(request.pharmacy, pk=credential_id)
    if credential.is_revoked or not credential.webhook_url:
        return redirect("api_credentials:list")
    secret = webhooks.rotate_secret(credential)
    record("api_credential.webhook_rotate", request=request, target=credential)
    messages.success(
        request,
        _("The webhook of “%(name)s” has a new secret: copy it below now.")
        % {"name": credential.name},
    )
    return page(request, new_webhook_secret=secret, webhook_credential=credential)


@require_POST
@pharmacy_permission_required("api.manage")
def credential_revoke(request: PharmacyRequest, credential_id):
    credential = ApiCredential.objects.get_for_pharmacy_or_404(request.pharmacy, pk=credential_id)
    if credentials.revoke(credential):
        record("api_credential.revoke", request=request, target=credential)
        messages.success(
            request, _("The credential “%(name)s” is revoked.") % {"name": credential.name}
        )
    return redirect("api_credentials:list")


@require_POST
@pharmacy_permission_required("api.manage")
def credential_read_scope(request: PharmacyRequest, credential_id):
    """The owner grants the credential reading every test of the pharmacy (not only the
    tests recorded through it), or withdraws it."""
    credential = ApiCredential.objects.get_for_pharmacy_or_404(request.pharmacy, pk=credential_id)
    read_all = request.POST.get("read_all") == "1"
    if not credential.is_revoked and credentials.set_read_all(credential, read_all):
        record(
            "api_credential.read_scope",
            request=request,
            target=credential,
            details={"read_all": read_all},
        )
        message = (
            _("The credential “%(name)s” now reads every test of the pharmacy.")
            if read_all
            else _("The credential “%(name)s” now reads only the tests it recorded.")
        )
        messages.success(request, message % {"name": credential.name})
    return redirect("api_credentials:list")
