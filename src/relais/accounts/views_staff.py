"""The owner's staff page: invite, list (with last login), change roles, reset a second
factor, remove; and withdraw invitations not accepted yet.

An invitation shows only the address and "invitation sent" until its holder accepts it,
whatever the address holds: the page is the same for an address with no account, with
an account, or with a platform account (no name, no last login, no hint)."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from relais.accounts import onboarding
from relais.accounts.drafts import form_data
from relais.accounts.forms import InviteForm, RoleForm
from relais.accounts.http import CONFIRMED, PharmacyRequest, confirmed
from relais.accounts.models import Invitation, Membership
from relais.accounts.permissions import pharmacy_permission_required
from relais.audit.events import record


def members_of(pharmacy):
    return (
        Membership.objects.filter(pharmacy=pharmacy)
        .select_related("user")
        .order_by("role", "user__full_name")
    )


def member_of_pharmacy(request: PharmacyRequest, membership_id) -> Membership:
    """A membership of the caller's pharmacy; another pharmacy's is a 404."""
    return get_object_or_404(
        Membership.objects.select_related("user", "pharmacy"),
        pharmacy=request.pharmacy,
        pk=membership_id,
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
            messages.success(
                request, _("Invitation sent. The person joins the pharmacy once they accept it.")
            )
            return redirect("accounts:staff")
    record("staff.list", request=request)
    members = [
        {
            "membership": m,
            "can_sign_in": onboarding.can_sign_in(m.user),
            "may_reset": onboarding.may_reset_second_factor(m, request),
        }
        for m in members_of(request.pharmacy)
    ]
    context = {
        "form": form,
        "members": members,
        "invitations": list(onboarding.shown_invitations(request.pharmacy)),
    }
    return render(request, "accounts/staff.html", context)


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("staff.manage")
def staff_remove(request: PharmacyRequest, membership_id):
    """GET: what removing this member does, spelled out; POST with `confirmed`: do it."""
    membership = member_of_pharmacy(request, membership_id)
    if confirmed(request):
        try:
            onboarding.remove_member(membership, request)
        except onboarding.OnboardingError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Member removed; their sessions here have ended."))
        return redirect("accounts:staff")
    if membership.role == Membership.Role.OWNER:
        messages.error(request, _("The pharmacy's owner cannot be removed."))
        return redirect("accounts:staff")
    context = {"membership": membership, "confirmed_field": CONFIRMED}
    return render(request, "accounts/staff_remove.html", context)


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("staff.manage")
def staff_role(request: PharmacyRequest, membership_id):
    membership = member_of_pharmacy(request, membership_id)
    form = RoleForm(request.POST or None, initial={"role": membership.role})
    if request.method == "POST" and form.is_valid():
        try:
            onboarding.change_role(membership, form.cleaned_data["role"], request)
        except onboarding.OnboardingError as error:
            form.add_error("role", str(error))
        else:
            messages.success(request, _("Role changed."))
            return redirect("accounts:staff")
    return render(request, "accounts/staff_role.html", {"membership": membership, "form": form})


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("staff.manage")
def staff_second_factor(request: PharmacyRequest, membership_id):
    """GET: what resetting the member's second factor does; POST with `confirmed`: do it."""
    membership = member_of_pharmacy(request, membership_id)
    if confirmed(request):
        try:
            onboarding.reset_second_factor(membership, request)
        except onboarding.OnboardingError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request,
                _(
                    "Second factor reset; their sessions have ended. At their next login "
                    "they set up a new authenticator."
                ),
            )
        return redirect("accounts:staff")
    context = {
        "membership": membership,
        "confirmed_field": CONFIRMED,
        "allowed": onboarding.may_reset_second_factor(membership, request),
    }
    return render(request, "accounts/staff_second_factor.html", context)


@require_POST
@pharmacy_permission_required("staff.manage")
def invitation_cancel(request: PharmacyRequest, invitation_id):
    try:
        onboarding.cancel_invitation(request.pharmacy, invitation_id, request)
    except (Invitation.DoesNotExist, ValueError):
        raise Http404 from None
    messages.success(request, _("Invitation withdrawn."))
    return redirect("accounts:staff")
