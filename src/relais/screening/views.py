import datetime

from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from relais.accounts.permissions import pharmacy_permission_required
from relais.audit.events import record
from relais.screening import services
from relais.screening.forms import PatientForm, PatientSearchForm, ScreeningTestForm
from relais.screening.models import Patient, ScreeningTest


def parse_day(value: str | None) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value) if value else timezone.localdate()
    except ValueError:
        return timezone.localdate()


@pharmacy_permission_required("patient.view")
def day(request):
    """The day's tests: the pharmacist's home page."""
    date = parse_day(request.GET.get("date"))
    start = timezone.make_aware(datetime.datetime.combine(date, datetime.time.min))
    tests = (
        ScreeningTest.objects.for_pharmacy(request.pharmacy)
        .filter(sampled_at__gte=start, sampled_at__lt=start + datetime.timedelta(days=1))
        .select_related("patient", "performed_by")
        .order_by("-sampled_at")
    )
    tests = list(tests)
    record("test.list", request=request, details={"date": date.isoformat(), "count": len(tests)})
    context = {
        "tests": tests,
        "date": date,
        "previous_day": date - datetime.timedelta(days=1),
        "next_day": date + datetime.timedelta(days=1),
        "is_today": date == timezone.localdate(),
    }
    return render(request, "screening/day.html", context)


@pharmacy_permission_required("patient.view")
def patient_search(request):
    form = PatientSearchForm(request.GET or None)
    patients = None
    if request.GET and form.is_valid():
        patients = list(services.find_patients(request.pharmacy, **form.cleaned_data))
        record(
            "patient.search",
            request=request,
            details={
                "by": "nir" if form.cleaned_data["nir"] else "identity",
                "found": len(patients),
            },
        )
    return render(request, "screening/patient_search.html", {"form": form, "patients": patients})


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("patient.edit")
def patient_new(request):
    initial = {k: v for k, v in request.GET.items() if k in ("birth_name", "birth_date", "nir")}
    form = PatientForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        patient = services.create_patient(request.pharmacy, request.user, form.cleaned_data)
        record("patient.create", request=request, target=patient)
        return redirect("screening:test_new", patient_id=patient.pk)
    return render(request, "screening/patient_form.html", {"form": form})


@pharmacy_permission_required("patient.view")
def patient_detail(request, patient_id):
    patient = Patient.objects.get_for_pharmacy_or_404(request.pharmacy, pk=patient_id)
    record("patient.view", request=request, target=patient)
    tests = patient.tests.select_related("performed_by").order_by("-sampled_at")
    return render(request, "screening/patient_detail.html", {"patient": patient, "tests": tests})


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("patient.edit")
def patient_edit(request, patient_id):
    patient = Patient.objects.get_for_pharmacy_or_404(request.pharmacy, pk=patient_id)
    record("patient.view", request=request, target=patient)
    initial = {name: getattr(patient, name) for name in services.PATIENT_FIELDS}
    form = PatientForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.update_patient(patient, form.cleaned_data)
        record("patient.update", request=request, target=patient)
        return redirect("screening:patient_detail", patient_id=patient.pk)
    return render(request, "screening/patient_form.html", {"form": form, "patient": patient})


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("test.record")
def test_new(request, patient_id):
    patient = Patient.objects.get_for_pharmacy_or_404(request.pharmacy, pk=patient_id)
    record("patient.view", request=request, target=patient)
    initial = {"sampled_at": timezone.localtime().replace(second=0, microsecond=0)}
    form = ScreeningTestForm(request.POST or None, initial=initial, birth_date=patient.birth_date)
    if request.method == "POST" and form.is_valid():
        test = services.record_test(patient, request.user, form.cleaned_data)
        record("test.create", request=request, target=test)
        return redirect("screening:day")
    return render(request, "screening/test_form.html", {"form": form, "patient": patient})


@pharmacy_permission_required("patient.view")
def test_detail(request, test_id):
    test = ScreeningTest.objects.select_related("patient", "performed_by").get_for_pharmacy_or_404(
        request.pharmacy, pk=test_id
    )
    record("test.view", request=request, target=test)
    return render(request, "screening/test_detail.html", {"test": test, "title": _("Test")})
