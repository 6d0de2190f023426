"""The owner's staff page: invite, list (with last login), remove."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from relais.accounts import onboarding
from relais.accounts.drafts import form_data
from relais.accounts.forms import InviteForm
from relais.accounts.http import CONFIRMED, PharmacyRequest, confirmed
from relais.accounts.models import Membership
from relais.accounts.permissions import pharmacy_permission_required
from relais.audit.events import record


def members_of(pharmacy):
    return (
        Membership.objects.filter(pharmacy=pharmacy)
        .select_related("user")
        .order_by("role", "user__full_name")
    )


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("staff.manage", keeps_drafts=True)
def staff(request: PharmacyRequest):
    form = InviteForm(form_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            onboarding.invite(request.pharmacy, **form.cleaned_data, request=request)
        except onboarding.OnboardingError as error:
            form.add_error("email", str(error))
        else:
            messages.success(request, _("Invitation sent."))
            return redirect("accounts:staff")
    record("staff.list", request=request)
    members = [
        {"membership": m, "can_sign_in": onboarding.can_sign_in(m.user)}
        for m in members_of(request.pharmacy)
    ]
    return render(request, "accounts/staff.html", {"form": form, "members": members})


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("staff.manage")
def staff_remove(request: PharmacyRequest, membership_id):
    """GET: what removing this member does, spelled out; POST with `confirmed`: do it."""
    membership = get_object_or_404(
        Membership.objects.select_related("user"), pharmacy=request.pharmacy, pk=membership_id
    )
    if confirmed(request):
        try:
            onboarding.remove_member(membership, request)
        except onboarding.OnboardingError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Member removed; their sessions have ended."))
        return redirect("accounts:staff")
    if membership.role == Membership.Role.OWNER:
        messages.error(request, _("The pharmacy's owner cannot be removed."))
        return redirect("accounts:staff")
    context = {"membership": membership, "confirmed_field": CONFIRMED}
    return render(request, "accounts/staff_remove.html", context)
