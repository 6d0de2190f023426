"""The owner's pages for the pharmacy's API credentials: create (secret shown once),
see when each was last used, grant or withdraw reading every test, revoke."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from relais.accounts.http import PharmacyRequest
from relais.accounts.permissions import pharmacy_permission_required
from relais.api import credentials
from relais.api.forms import CredentialForm
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
    context = {
        "form": form,
        "credentials": ApiCredential.objects.for_pharmacy(request.pharmacy).select_related(
            "created_by"
        ),
        "new_token": new_token,
    }
    # The secret is in this page only: answered to this POST, never stored or redirected.
    return render(request, "api/credentials.html", context)


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
