"""Platform administrators' pages: pharmacy applications, suspension.

Django's admin site is not enabled; every administrative action goes through here.
"""

import datetime

from django.contrib import messages
from django.db.models import Case, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from relais.accounts import onboarding
from relais.accounts.forms import OverrideForm, RefusalForm
from relais.accounts.http import CONFIRMED, confirmed
from relais.accounts.models import Membership, Pharmacy, PharmacyApplication
from relais.accounts.permissions import platform_admin_required
from relais.audit.events import record
from relais.directory.checks import CHECK_NAMES, reason_text

CHECK_LABELS = {
    "finess_exists": gettext_lazy("The FINESS number is in the establishment directory"),
    "finess_open": gettext_lazy("The establishment is open"),
    "finess_is_officine": gettext_lazy("The establishment is a pharmacy (officine, category 620)"),
    "rpps_exists": gettext_lazy("The RPPS number is in the professional directory"),
    "rpps_is_pharmacist": gettext_lazy("This professional is a pharmacist (profession 21)"),
    "rpps_titulaire_at_finess": gettext_lazy(
        "This pharmacist holds this pharmacy (titulaire or co-titulaire at this FINESS)"
    ),
    "owner_name_matches": gettext_lazy("The name typed is the directory's name for this RPPS"),
}
UNDECIDED_FIRST = Case(
    When(status=PharmacyApplication.Status.PENDING_OVERRIDE, then=Value(0)),
    When(status=PharmacyApplication.Status.PENDING, then=Value(1)),
    default=Value(2),
)


@platform_admin_required
def applications(request):
    listed = PharmacyApplication.objects.select_related("pharmacy").order_by(
        UNDECIDED_FIRST, "-submitted_at"
    )
    record("application.list", request=request)
    return render(request, "operations/applications.html", {"applications": listed})


def check_rows(application) -> list[dict]:
    reasons = application.evidence.get("reasons", {})
    return [
        {
            "name": name,
            "label": CHECK_LABELS[name],
            "passed": bool(application.checks.get(name)),
            "reason": reason_text(reasons.get(name)),
        }
        for name in CHECK_NAMES
    ]


def side_by_side(application) -> list[dict]:
    """What the applicant typed beside what the directories held at submission."""
    evidence = application.evidence
    establishment = evidence.get("establishment") or {}
    professional = evidence.get("professional") or {}
    activities = evidence.get("activities", [])
    here = [a for a in activities if a.get("at_this_establishment")]
    missing = _("not in the directory")

    def activity_text(activity) -> str:
        parts = [activity.get("role_label") or _("no role given")]
        if activity.get("role_code"):
            parts[0] += f" ({activity['role_code']})"
        parts.append(activity.get("exercise_mode_label") or activity.get("exercise_mode_code"))
        return ", ".join(p for p in parts if p)

    if establishment:
        state = _("open") if establishment.get("open") else _("closed")
        if establishment.get("closed_at"):
            closed = datetime.datetime.fromisoformat(establishment["closed_at"])
            state += " " + _("(since %(date)s)") % {
                "date": date_format(closed, "SHORT_DATE_FORMAT")
            }
        category = f"{establishment.get('category_code')} {establishment.get('category_label')}"
    professions = sorted(
        {f"{a.get('profession_code')} {a.get('profession_label', '')}".strip() for a in activities}
    )
    name = " ".join(filter(None, [professional.get("first_name"), professional.get("last_name")]))
    elsewhere = [
        a.get("site_name") or a.get("finess_site") or a.get("siret_site") or "—"
        for a in activities
        if not a.get("at_this_establishment")
    ]
    return [
        {"label": _("Name"), "typed": application.owner_name, "held": name or missing},
        {
            "label": "RPPS",
            "typed": application.owner_rpps,
            "held": professional.get("rpps") or missing,
            "mono": True,
        },
        {"label": _("Profession"), "typed": "", "held": ", ".join(professions) or missing},
        {
            "label": _("Role and mode of activity at this establishment"),
            "typed": "",
            "held": "; ".join(activity_text(a) for a in here) or _("none"),
        },
        {
            "label": _("Activities elsewhere"),
            "typed": "",
            "held": ", ".join(elsewhere) or _("none"),
        },
        {
            "label": _("Pharmacy name"),
            "typed": application.pharmacy_name,
            "held": establishment.get("long_name") or establishment.get("name") or missing,
        },
        {
            "label": "FINESS",
            "typed": application.finess,
            "held": establishment.get("finess") or missing,
            "mono": True,
        },
        {"label": _("Category"), "typed": "", "held": category if establishment else missing},
        {"label": _("Address"), "typed": "", "held": establishment.get("address") or missing},
        {"label": _("Open or closed"), "typed": "", "held": state if establishment else missing},
    ]


def detail_context(request, application, **forms) -> dict:
    failed = [row for row in check_rows(application) if not row["passed"]]
    return {
        "application": application,
        "checks": check_rows(application),
        "failed_checks": failed,
        "rows": side_by_side(application),
        "directory_dates": {
            kind: datetime.datetime.fromisoformat(when) if when else None
            for kind, when in application.evidence.get("directory_dates", {}).items()
        },
        "confirmed_field": CONFIRMED,
        "own_override": application.override_requested_by_id == request.user.pk,
        **forms,
    }


@require_http_methods(["GET", "POST"])
@platform_admin_required
def application_detail(request, application_id):
    """The review page, and the decisions. Approving always goes through a confirmation
    page (a POST with `confirmed`); when a check failed, the confirmation asks for the
    reason of the override, and a second administrator confirms it on this page."""
    application = get_object_or_404(PharmacyApplication, pk=application_id)
    decision = request.POST.get("decision", "") if request.method == "POST" else ""
    refusal_form = RefusalForm(request.POST if decision == "refuse" else None)
    if request.method == "POST":
        try:
            if decision == "approve" and application.all_checks_passed:
                if not confirmed(request):
                    return confirmation(request, application, "approve")
                onboarding.approve(application.pk, request.user, request)
                messages.success(
                    request, _("Approved; the owner has been sent an activation link.")
                )
                return redirect("platform:applications")
            if decision == "approve":
                override_form = OverrideForm(request.POST if confirmed(request) else None)
                if not override_form.is_valid():
                    return confirmation(request, application, "override", override_form)
                reason = override_form.cleaned_data["override_reason"]
                onboarding.request_override(application.pk, request.user, reason, request)
                messages.success(
                    request,
                    _(
                        "Override recorded. Another administrator must confirm it before "
                        "the pharmacy is approved."
                    ),
                )
                return redirect("platform:application_detail", application_id=application.pk)
            if decision == "confirm_override":
                if not confirmed(request):
                    return confirmation(request, application, "confirm_override")
                onboarding.confirm_override(application.pk, request.user, request)
                messages.success(
                    request,
                    _(
                        "Override confirmed and approved; the owner has been sent an "
                        "activation link."
                    ),
                )
                return redirect("platform:applications")
            if decision == "refuse" and refusal_form.is_valid():
                onboarding.refuse(
                    application.pk, request.user, refusal_form.cleaned_data["reason"], request
                )
                messages.success(request, _("Refused; the applicant has been told why."))
                return redirect("platform:applications")
        except onboarding.OnboardingError as error:
            messages.error(request, str(error))
        application.refresh_from_db()
    record("application.view", request=request, target=application)
    context = detail_context(request, application, refusal_form=refusal_form)
    return render(request, "operations/application_detail.html", context)


def confirmation(request, application, step: str, override_form=None):
    """The page between the decision button and the decision: what was checked, what
    follows, and (for an override) the reason asked for."""
    record("application.view", request=request, target=application)
    context = detail_context(
        request, application, step=step, override_form=override_form or OverrideForm()
    )
    return render(request, "operations/application_confirm.html", context)


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
