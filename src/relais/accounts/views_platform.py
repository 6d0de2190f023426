"""Platform administrators' pages: pharmacy applications, suspension.

Django's admin site is not enabled; every administrative action goes through here.
"""

from django.contrib import messages
from django.db.models import Case, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from relais.accounts import onboarding
from relais.accounts.forms import RefusalForm
from relais.accounts.http import CONFIRMED, confirmed
from relais.accounts.models import Membership, Pharmacy, PharmacyApplication
from relais.accounts.permissions import platform_admin_required
from relais.audit.events import record
from relais.directory.checks import CHECK_NAMES

CHECK_LABELS = {
    "finess_exists": gettext_lazy("The FINESS number exists in the establishment directory"),
    "finess_is_officine": gettext_lazy("The establishment is a pharmacy (officine, category 620)"),
    "rpps_exists": gettext_lazy("The RPPS number exists in the professional directory"),
    "rpps_is_pharmacist": gettext_lazy("This professional is a pharmacist (profession 21)"),
    "rpps_at_finess": gettext_lazy("This pharmacist is registered at this establishment"),
}


@platform_admin_required
def applications(request):
    pending_first = Case(
        When(status=PharmacyApplication.Status.PENDING, then=Value(0)), default=Value(1)
    )
    listed = PharmacyApplication.objects.select_related("pharmacy").order_by(
        pending_first, "-submitted_at"
    )
    record("application.list", request=request)
    return render(request, "operations/applications.html", {"applications": listed})


@require_http_methods(["GET", "POST"])
@platform_admin_required
def application_detail(request, application_id):
    application = get_object_or_404(PharmacyApplication, pk=application_id)
    refusal_form = RefusalForm(request.POST if request.POST.get("decision") == "refuse" else None)
    if request.method == "POST":
        try:
            if request.POST.get("decision") == "approve":
                onboarding.approve(application.pk, request.user, request)
                messages.success(
                    request, _("Approved; the owner has been sent an activation link.")
                )
                return redirect("platform:applications")
            if refusal_form.is_valid():
                onboarding.refuse(
                    application.pk, request.user, refusal_form.cleaned_data["reason"], request
                )
                messages.success(request, _("Refused; the applicant has been told why."))
                return redirect("platform:applications")
        except onboarding.OnboardingError as error:
            messages.error(request, str(error))
        application.refresh_from_db()
    record("application.view", request=request, target=application)
    checks = [
        {"label": CHECK_LABELS[name], "passed": application.checks.get(name)}
        for name in CHECK_NAMES
    ]
    context = {"application": application, "checks": checks, "refusal_form": refusal_form}
    return render(request, "operations/application_detail.html", context)


@platform_admin_required
def pharmacies(request):
    listed = Pharmacy.objects.exclude(status=Pharmacy.Status.PENDING).order_by("name")
    record("pharmacy.list", request=request)
    return render(request, "operations/pharmacies.html", {"pharmacies": listed})


TRANSITIONS = {
    # action: (from, to, audit action)
    "suspend": (Pharmacy.Status.ACTIVE, Pharmacy.Status.SUSPENDED, "pharmacy.suspended"),
    "reactivate": (Pharmacy.Status.SUSPENDED, Pharmacy.Status.ACTIVE, "pharmacy.reactivated"),
}
# The transitions done only from their confirmation page, which spells out what follows.
CONFIRMED_TRANSITIONS = frozenset({"suspend"})


@require_http_methods(["GET", "POST"])
@platform_admin_required
def pharmacy_status(request, pharmacy_id):
    """Suspend or reactivate. A suspended pharmacy's users are refused on their next request
    (the permission check reads the status every time) and its transmissions pause.
    Suspending goes through a confirmation page (GET), then a POST with `confirmed`."""
    pharmacy = get_object_or_404(Pharmacy, pk=pharmacy_id)
    action = (request.POST if request.method == "POST" else request.GET).get("action", "")
    transition = TRANSITIONS.get(action)
    if transition is None or pharmacy.status != transition[0]:
        messages.error(request, _("This change does not apply to this pharmacy's status."))
        return redirect("platform:pharmacies")
    if action in CONFIRMED_TRANSITIONS and not confirmed(request):
        context = {
            "pharmacy": pharmacy,
            "action": action,
            "confirmed_field": CONFIRMED,
            "members": Membership.objects.filter(pharmacy=pharmacy).count(),
        }
        return render(request, "operations/pharmacy_suspend.html", context)
    if request.method != "POST":
        return redirect("platform:pharmacies")
    updated = Pharmacy.objects.filter(pk=pharmacy.pk, status=transition[0]).update(
        status=transition[1]
    )
    if updated:
        record(transition[2], request=request, pharmacy=pharmacy, target=pharmacy)
        messages.success(request, _("Pharmacy status changed."))
    return redirect("platform:pharmacies")
