import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from relais.accounts.http import PharmacyRequest
from relais.accounts.permissions import pharmacy_permission_required, role_allows
from relais.audit.events import record
from relais.lib.dates import local_day_bounds, parse_day
from relais.screening import services, submissions
from relais.screening.forms import (
    CancelTestForm,
    PatientForm,
    PatientSearchForm,
    ScreeningTestForm,
)
from relais.screening.models import Patient, ScreeningTest
from relais.transmission.services import (
    describe,
    may_have_reached_sidep,
    patient_results_may_be_at_sidep,
    resend_rejected,
    with_transmissions,
)


@pharmacy_permission_required("patient.view")
def day(request: PharmacyRequest):
    """The day's tests: the pharmacist's home page."""
    date = parse_day(request.GET.get("date"))
    start, end = local_day_bounds(date)
    tests = with_transmissions(
        ScreeningTest.objects.for_pharmacy(request.pharmacy)
        .filter(sampled_at__gte=start, sampled_at__lt=end)
        .select_related("patient", "performed_by")
        .order_by("-sampled_at")
    )
    tests = list(tests)
    for test in tests:
        test.transmission = describe(test)
    # The list shows each patient's name: record which tests were read, not just how many.
    record(
        "test.list",
        request=request,
        details={
            "date": date.isoformat(),
            "count": len(tests),
            "test_ids": [str(test.pk) for test in tests],
        },
    )
    context = {
        "tests": tests,
        "date": date,
        "previous_day": date - datetime.timedelta(days=1),
        "next_day": date + datetime.timedelta(days=1),
        "is_today": date == timezone.localdate(),
    }
    return render(request, "screening/day.html", context)


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("patient.view")
def patient_search(request: PharmacyRequest):
    # POST, not GET: an NIR or a name in a URL would stay in the counter PC's history and
    # in every access log on the way.
    form = PatientSearchForm(request.POST or None)
    patients = None
    if request.method == "POST" and form.is_valid():
        patients = list(services.find_patients(request.pharmacy, **form.cleaned_data))
        record(
            "patient.search",
            request=request,
            details={
                "by": "nir" if form.cleaned_data["nir"] else "identity",
                "found": len(patients),
                "patient_ids": [str(patient.pk) for patient in patients],
            },
        )
    return render(request, "screening/patient_search.html", {"form": form, "patients": patients})


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("patient.edit")
def patient_new(request: PharmacyRequest):
    if "prefill" in request.POST:
        # From a search that found no one: start the form with what was searched for.
        initial = {k: request.POST.get(k, "") for k in ("birth_name", "birth_date", "nir")}
        return render(
            request, "screening/patient_form.html", {"form": PatientForm(initial=initial)}
        )
    form = PatientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        found, conflict = submissions.match_patient(request.pharmacy, form.cleaned_data)
        if conflict is not None:
            submissions.add_errors(form, [conflict])
        elif found is not None:
            # The same person is registered already: their record is used as it is.
            record("patient.view", request=request, target=found)
            messages.info(request, _("This patient is already registered: their record is used."))
            return redirect("screening:test_new", patient_id=found.pk)
        else:
            patient = submissions.register_patient(caller(request), form.cleaned_data)
            return redirect("screening:test_new", patient_id=patient.pk)
    return render(request, "screening/patient_form.html", {"form": form})


def caller(request) -> submissions.Caller:
    return submissions.Caller(pharmacy=request.pharmacy, user=request.user, request=request)


@pharmacy_permission_required("patient.view")
def patient_detail(request: PharmacyRequest, patient_id):
    patient = Patient.objects.get_for_pharmacy_or_404(request.pharmacy, pk=patient_id)
    record("patient.view", request=request, target=patient)
    tests = list(
        with_transmissions(patient.tests.select_related("performed_by").order_by("-sampled_at"))
    )
    for test in tests:
        test.transmission = describe(test)
    context = {
        "patient": patient,
        "tests": tests,
        "can_edit": may_correct_patient(request, patient),
    }
    return render(request, "screening/patient_detail.html", context)


def may_correct_patient(request, patient) -> bool:
    return role_allows(
        request.membership.role, "test.correct"
    ) or not patient_results_may_be_at_sidep(patient)


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("patient.edit")
def patient_edit(request: PharmacyRequest, patient_id):
    patient = Patient.objects.get_for_pharmacy_or_404(request.pharmacy, pk=patient_id)
    # The edit would correct results SI-DEP holds: the same right as correcting them.
    if not may_correct_patient(request, patient):
        raise PermissionDenied
    record("patient.view", request=request, target=patient)
    initial = {name: getattr(patient, name) for name in services.PATIENT_FIELDS}
    form = PatientForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        conflict = submissions.nir_held_by_another(patient, form.cleaned_data)
        if conflict is not None:
            submissions.add_errors(form, [conflict])
            return render(
                request, "screening/patient_form.html", {"form": form, "patient": patient}
            )
        if services.update_patient(patient, form.cleaned_data):
            record("patient.update", request=request, target=patient)
        return redirect("screening:patient_detail", patient_id=patient.pk)
    return render(request, "screening/patient_form.html", {"form": form, "patient": patient})


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("test.record")
def test_new(request: PharmacyRequest, patient_id):
    patient = Patient.objects.get_for_pharmacy_or_404(request.pharmacy, pk=patient_id)
    record("patient.view", request=request, target=patient)
    if request.method == "POST":
        submission = submissions.Submission(test=request.POST, stored_patient=patient)
        [checked] = submissions.submit(caller(request), [submission])
        if checked.ok:
            messages.success(request, _("The result is saved and will be sent to SI-DEP."))
            return redirect("screening:day")
        form = checked.test_form
    else:
        initial = {"sampled_at": timezone.localtime().replace(second=0, microsecond=0)}
        form = ScreeningTestForm(initial=initial, patient=patient)
    return render(request, "screening/test_form.html", {"form": form, "patient": patient})


@pharmacy_permission_required("patient.view")
def test_detail(request: PharmacyRequest, test_id):
    test = ScreeningTest.objects.select_related("patient", "performed_by").get_for_pharmacy_or_404(
        request.pharmacy, pk=test_id
    )
    record("test.view", request=request, target=test)
    context = {"test": test, "title": _("Test"), "transmission": describe(test)}
    return render(request, "screening/test_detail.html", context)


def test_for_change(request, test_id) -> tuple[ScreeningTest, HttpResponse | None]:
    """The test to correct or cancel, and the answer refusing it if it was cancelled
    (None when the change may go ahead; its view is then audited). Once SI-DEP may hold
    the result, changing it takes the test.correct permission (pharmacist or owner, not
    an assistant)."""
    test = ScreeningTest.objects.select_related("patient").get_for_pharmacy_or_404(
        request.pharmacy, pk=test_id
    )
    if may_have_reached_sidep(test) and not role_allows(request.membership.role, "test.correct"):
        raise PermissionDenied
    if test.cancelled_at:
        return test, refuse_cancelled(request, test)
    record("test.view", request=request, target=test)
    return test, None


def refuse_cancelled(request, test):
    messages.error(request, _("This test was cancelled: it can no longer be changed."))
    return redirect("screening:test_detail", test_id=test.pk)


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("test.record")
def test_correct(request: PharmacyRequest, test_id):
    """Correct a result; SI-DEP gets the corrected version (see transmission.outbox)."""
    test, refusal = test_for_change(request, test_id)
    if refusal:
        return refusal
    initial = {name: getattr(test, name) for name in services.TEST_FIELDS}
    form = ScreeningTestForm(request.POST or None, initial=initial, patient=test.patient)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        # The form shows minutes: an untouched time keeps its stored seconds.
        if data["sampled_at"] == test.sampled_at.replace(second=0, microsecond=0):
            data["sampled_at"] = test.sampled_at
        try:
            changed = services.correct_test(test, request.user, data)
        except services.TestCancelled:
            return refuse_cancelled(request, test)
        if changed:
            record("test.correct", request=request, target=test, details={"fields": changed})
            messages.success(request, _("The correction is saved and will be sent to SI-DEP."))
        elif resend_rejected(test):
            record("test.resend", request=request, target=test)
            messages.success(request, _("The result will be sent to SI-DEP again."))
        else:
            messages.warning(request, _("Nothing was changed."))
        return redirect("screening:test_detail", test_id=test.pk)
    context = {"form": form, "test": test, "patient": test.patient, "transmission": describe(test)}
    return render(request, "screening/test_correct.html", context)


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("test.record")
def test_cancel(request: PharmacyRequest, test_id):
    """Cancel a test recorded in error; SI-DEP is told to delete it (OBX-11 D)."""
    test, refusal = test_for_change(request, test_id)
    if refusal:
        return refusal
    form = CancelTestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        reason = form.cleaned_data["reason"]
        try:
            services.cancel_test(test, request.user, reason)
        except services.TestCancelled:
            return refuse_cancelled(request, test)
        record("test.cancel", request=request, target=test, details={"reason": reason})
        messages.success(request, _("The test is cancelled."))
        return redirect("screening:test_detail", test_id=test.pk)
    context = {"form": form, "test": test, "patient": test.patient}
    return render(request, "screening/test_cancel.html", context)
