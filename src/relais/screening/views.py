import datetime
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.transaction import TransactionManagementError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from relais.accounts.drafts import form_data
from relais.accounts.http import PharmacyRequest
from relais.accounts.permissions import pharmacy_permission_required, role_allows
from relais.audit.events import record
from relais.lib.dates import local_day_bounds, parse_day
from relais.phone import national_format
from relais.screening import counter, form_tokens, searches, services, submissions
from relais.screening.catalogue import other_result_field
from relais.screening.forms import (
    BUILT_FROM_FIELD,
    CancelTestForm,
    PatientForm,
    PatientSearchForm,
    ResultForm,
    ScreeningTestForm,
    built_from_token,
    read_built_from,
)
from relais.screening.models import Patient, ScreeningTest
from relais.transmission.services import (
    describe,
    may_have_reached_sidep,
    patient_results_may_be_at_sidep,
    resend_rejected,
    with_transmissions,
)


def post_in_one_transaction(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A form's POST reads, audits and saves in one transaction: one durable commit (not
    one per audit event and one per save), and a request that fails part-way (the
    database restarting) leaves nothing of it, its audit events included. A GET's one
    write, its audit event, commits on its own."""

    @wraps(view)
    def posted(request, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        with transaction.atomic():
            response = view(request, *args, **kwargs)
            if transaction.get_rollback():
                # The block would roll back quietly, audit events included, and the page
                # (patient data perhaps) leave unaudited: fail the request instead.
                raise TransactionManagementError("a form's transaction was marked for rollback")
        return response

    return posted


# The results page's parameter: the random key of a search kept server-side.
SEARCH_PARAMETER = "search"


DAY_PAGE_SIZE = 50


@pharmacy_permission_required("patient.view")
def day(request: PharmacyRequest):
    """The day's tests: the pharmacist's home page. The tests in progress, of any day,
    come first with their reading timers: none is lost, every colleague sees them."""
    date = parse_day(request.GET.get("date"))
    start, end = local_day_bounds(date)
    today_start, _today_end = local_day_bounds(timezone.localdate())
    in_progress = list(
        ScreeningTest.objects.for_pharmacy(request.pharmacy)
        .filter(validated_at__isnull=True, cancelled_at__isnull=True)
        .select_related("patient")
        .order_by("sampled_at")
    )
    for test in in_progress:
        # Started before today and never read: the kit cannot be read any more.
        test.abandoned = test.sampled_at < today_start
    # The newest first, a page at a time: a busy day's list must not cost one query, nor
    # one decryption, per test of the day.
    page = Paginator(
        with_transmissions(
            ScreeningTest.objects.for_pharmacy(request.pharmacy)
            .filter(sampled_at__gte=start, sampled_at__lt=end)
            .exclude(validated_at__isnull=True, cancelled_at__isnull=True)
            .select_related("patient", "performed_by")
            .order_by("-sampled_at", "-pk")
        ),
        DAY_PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    tests = list(page.object_list)
    for test in tests:
        test.transmission = describe(test)
    # The list shows each patient's name: record which tests were read, not just how many.
    shown = in_progress + tests
    record(
        "test.list",
        request=request,
        details={
            "date": date.isoformat(),
            "count": len(shown),
            "test_ids": [str(test.pk) for test in shown],
        },
    )
    context = {
        "tests": tests,
        "page": page,
        "date_query": urlencode({"date": date.isoformat()}),
        "in_progress": in_progress,
        "now": timezone.now(),
        "date": date,
        "previous_day": date - datetime.timedelta(days=1),
        "next_day": date + datetime.timedelta(days=1),
        "is_today": date == timezone.localdate(),
    }
    return render(request, "screening/day.html", context)


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("patient.view", keeps_drafts=True)
def patient_search(request: PharmacyRequest):
    """POST, not GET: an NIR or a name in a URL would stay in the counter PC's history and
    in every access log on the way. A valid search is kept server-side and answered with a
    redirect to its results (Post/Redirect/Get, screening/searches.py): Back and Reload
    show them again, never send the form again."""
    if request.method == "POST":
        form = PatientSearchForm(request.POST)
        if form.is_valid():
            birth_date = form.cleaned_data["birth_date"]
            typed = {
                "nir": form.cleaned_data["nir"],
                "birth_name": form.cleaned_data["birth_name"],
                "birth_date": birth_date.isoformat() if birth_date else "",
            }
            kept = searches.keep(request, typed)
            return redirect(f"{reverse('screening:patient_search')}?{SEARCH_PARAMETER}={kept}")
        return render(request, "screening/patient_search.html", {"form": form, "patients": None})
    key = request.GET.get(SEARCH_PARAMETER)
    criteria = searches.read(request, key) if key else None
    if key and criteria is None:
        messages.info(request, _("This search has expired: search again."))
    # A search typed when the session ended comes back as a draft, to be sent again.
    form = PatientSearchForm(criteria if criteria is not None else form_data(request))
    patients = None
    if criteria is not None and form.is_valid():
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
@pharmacy_permission_required("patient.edit", keeps_drafts=True)
@post_in_one_transaction
def patient_new(request: PharmacyRequest):
    if "prefill" in request.POST:
        # From a search that found no one: start the form with what was searched for.
        initial = {k: request.POST.get(k, "") for k in ("birth_name", "birth_date", "nir")}
        form = PatientForm(initial=initial, counter=True)
        return render(request, "screening/patient_form.html", {"form": form})
    form = PatientForm(form_data(request), counter=True)
    if request.method == "POST" and form.is_valid():

        def save():
            choice = request.POST.get(DUPLICATE_CHOICE, "")
            found = submissions.find_or_register(caller(request), form.cleaned_data, choice)
            if found.conflict is not None:
                submissions.add_errors(form, [found.conflict])
                return render(request, "screening/patient_form.html", {"form": form}), ""
            if found.patient is None:
                return possible_duplicates(request, form, found), ""
            patient = found.patient
            if not found.created:
                # The same person is registered already: their record is used as it is.
                record("patient.view", request=request, target=patient)
                messages.info(
                    request, _("This patient is already registered: their record is used.")
                )
            else:
                messages.success(request, _("The patient is registered."))
            address = reverse("screening:test_new", kwargs={"patient_id": patient.pk})
            return redirect(address), address

        return once(request, save) or stale_form(
            request, "screening/patient_form.html", {"form": form}
        )
    return render(request, "screening/patient_form.html", {"form": form})


# The new-patient form's answer to "is this one of these stored patients?": a usable
# candidate's id, or submissions.NEW_PATIENT.
DUPLICATE_CHOICE = "duplicate_choice"


def possible_duplicates(request, form, found: submissions.Registration) -> HttpResponse:
    """The typed identity may be stored patients': show them (each view audited) and ask
    which to use, the first usable one by default, or to register another patient."""
    for patient in found.candidates:
        record(
            "patient.view", request=request, target=patient, details={"as": "possible_duplicate"}
        )
    usable = {patient.pk for patient in found.usable}
    candidates = [{"patient": p, "usable": p.pk in usable} for p in found.candidates]
    default = str(found.usable[0].pk) if found.usable else submissions.NEW_PATIENT
    choice = request.POST.get(DUPLICATE_CHOICE, "")
    context = {
        "form": form,
        "duplicates": candidates,
        "duplicate_choice": choice if choice in {str(pk) for pk in usable} else default,
        "new_patient": submissions.NEW_PATIENT,
    }
    return render(request, "screening/patient_form.html", context)


def once(request, save) -> HttpResponse | None:
    """`save() -> (response, outcome)` once per one-time form token (see form_tokens):
    the same form sent again goes to what the first one saved. None when the form
    carries no valid token."""
    token = form_tokens.read(request.POST)
    if token is None:
        return None
    response, outcome = form_tokens.once(request.user, token, save)
    if response is None:
        messages.info(
            request,
            _("This form had already been sent: it was saved once, here is the result."),
        )
        return redirect(outcome)
    return response


def stale_form(request, template: str, context: dict, status: int = 200) -> HttpResponse:
    """A form posted without a valid one-time token (too old, or not from this page) is
    shown again as typed, with a fresh token: nothing typed is lost, nothing saved twice."""
    messages.error(
        request,
        _(
            "This form is too old or was not sent from its page: nothing was saved. "
            "Check it and save again."
        ),
    )
    return render(request, template, context, status=status)


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
@pharmacy_permission_required("patient.edit", keeps_drafts=True)
@post_in_one_transaction
def patient_edit(request: PharmacyRequest, patient_id):
    patient = Patient.objects.get_for_pharmacy_or_404(request.pharmacy, pk=patient_id)
    # The edit would correct results SI-DEP holds: the same right as correcting them.
    if not may_correct_patient(request, patient):
        raise PermissionDenied
    record("patient.view", request=request, target=patient)
    initial = {name: getattr(patient, name) for name in services.PATIENT_FIELDS}
    initial["phone"] = national_format(initial["phone"])  # as typed at the counter
    form = PatientForm(form_data(request), initial=initial, counter=True)
    context = {
        "form": form,
        "patient": patient,
        "built_from": built_from_token(patient, services.PATIENT_FIELDS),
    }
    keep_restored_built_from(request, patient, context)
    if request.method == "POST" and form.is_valid():
        built_from = read_built_from(request.POST, patient)
        conflict = submissions.nir_held_by_another(patient, form.cleaned_data)
        if conflict is not None:
            submissions.add_errors(form, [conflict])
            return render(request, "screening/patient_form.html", context)

        def save():
            assert built_from is not None
            try:
                changed = services.update_patient(patient, form.cleaned_data, built_from)
            except services.NirTaken:
                submissions.add_errors(form, [submissions.nir_taken()])
                return render(request, "screening/patient_form.html", context), ""
            except services.ChangedMeanwhile as meanwhile:
                typed = {
                    name: form.cleaned_data.get(name) or "" for name in services.PATIENT_FIELDS
                }
                page = changed_meanwhile(
                    request, "screening/patient_form.html", form, typed, meanwhile, built_from,
                    services.PATIENT_FIELDS, context,
                )  # fmt: skip
                return page, ""
            if changed:
                record("patient.update", request=request, target=patient)
                messages.success(request, _("The patient record is saved."))
            else:
                messages.warning(request, _("Nothing was changed."))
            address = reverse("screening:patient_detail", kwargs={"patient_id": patient.pk})
            return redirect(address), address

        if built_from is not None:
            context["built_from"] = request.POST[BUILT_FROM_FIELD]  # keep what it was made from
        return (built_from and once(request, save)) or stale_form(
            request, "screening/patient_form.html", context
        )
    return render(request, "screening/patient_form.html", context)


def keep_restored_built_from(request, record, context: dict) -> None:
    """A form given back after a login (accounts.drafts) keeps the version it was typed
    from, so that a change saved by someone else meanwhile is still shown as a clash."""
    restored = form_data(request) if request.method == "GET" else None
    if restored is not None and read_built_from(restored, record) is not None:
        context["built_from"] = restored[BUILT_FROM_FIELD]


def changed_meanwhile(
    request, template, form, typed, meanwhile, built_from, fields, context
) -> HttpResponse:
    """The record changed after the form was built, on a field the user changed too: show
    both versions, and the form again built from the saved one, holding the saved values
    but the user's changes, for the user to apply consciously (or cancel). `typed` is
    the data the change was made of."""
    current = meanwhile.current
    base = built_from.values or {}
    mine = {
        name
        for name in fields
        if name in typed and base.get(name) != services.comparable(typed[name])
    }
    rows = [
        {
            "label": form.fields[name].label,
            "saved": shown(form.fields[name], getattr(current, name)),
            "yours": shown(form.fields[name], typed.get(name)),
            "clash": name in meanwhile.clashes,
        }
        for name in fields
        if name in mine or name in meanwhile.clashes
    ]
    initial = {name: typed[name] if name in mine else getattr(current, name) for name in fields}
    review = type(form)(initial=initial, **form_options(form))
    context = {
        **context,
        "form": review,
        "built_from": built_from_token(current, fields),
        "changed_meanwhile": rows,
    }
    return render(request, template, context, status=409)


def form_options(form) -> dict:
    if not isinstance(form, ScreeningTestForm):
        return {}
    return {
        "patient": form.patient,
        "require_result": form.require_result,
        "device_choices": form.device_choices,
    }


def shown(field, value) -> str:
    """A field's value as the review page shows it."""
    if value in (None, ""):
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).strftime("%d/%m/%Y %H:%M")
    if isinstance(value, datetime.date):
        return value.strftime("%d/%m/%Y")
    choices = dict(getattr(field, "choices", None) or ())
    return str(choices.get(value, value))


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("test.record", keeps_drafts=True)
@post_in_one_transaction
def test_new(request: PharmacyRequest, patient_id):
    """Start a test at the counter: kit, device, lot and sample time, with or without its
    result. Without one it is in progress, on top of the day page with its timer, until
    its reading is entered (test_result); with one it is saved and sent at once."""
    patient = Patient.objects.get_for_pharmacy_or_404(request.pharmacy, pk=patient_id)
    record("patient.view", request=request, target=patient)
    boxes = counter.recent_boxes(request.pharmacy)
    if request.method == "POST":

        def save():
            submission = submissions.Submission(
                test=request.POST, stored_patient=patient, may_be_in_progress=True
            )
            [checked] = submissions.submit(caller(request), [submission])
            if not checked.ok:
                form = test_start_form(request.POST, patient, boxes)
                with_service_errors(form, checked.errors)
                context = test_form_context(form, patient, boxes)
                return render(request, "screening/test_form.html", context), ""
            test = checked.recorded_test
            if test.in_progress:
                due = timezone.localtime(test.reading_due_at).strftime("%H:%M")
                messages.success(
                    request,
                    _("The test is started: read it at %(time)s. It waits on top of this page.")
                    % {"time": due},
                )
            else:
                messages.success(request, _("The result is saved and will be sent to SI-DEP."))
            return redirect("screening:day"), reverse(
                "screening:test_detail", kwargs={"test_id": test.pk}
            )

        form = test_start_form(request.POST, patient, boxes)
        return once(request, save) or stale_form(
            request, "screening/test_form.html", test_form_context(form, patient, boxes)
        )
    initial = {"sampled_at": timezone.localtime().replace(second=0, microsecond=0)}
    box = counter.chosen_box(boxes, request.GET.get("box"))
    if box is not None:
        initial |= box.initial()
    form = test_start_form(form_data(request), patient, boxes, initial=initial)
    return render(request, "screening/test_form.html", test_form_context(form, patient, boxes))


def with_service_errors(form, errors: list[submissions.FieldError]) -> None:
    """Show on the page's own form the errors the submission service found beyond the
    form's checks (those the form finds itself are not repeated)."""
    form.is_valid()
    present = {(name, e.code) for name, found in form.errors.as_data().items() for e in found}
    submissions.add_errors(
        form, [e for e in errors if (e.field or "__all__", e.code) not in present]
    )


def test_start_form(data, patient, boxes, **kwargs) -> ScreeningTestForm:
    return ScreeningTestForm(
        data,
        patient=patient,
        require_result=False,
        device_choices=counter.device_choices(boxes),
        **kwargs,
    )


def test_form_context(form, patient, boxes) -> dict:
    return {"form": form, "patient": patient, "boxes": boxes, "box_lots": counter.box_lots(boxes)}


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("test.record", keeps_drafts=True)
@post_in_one_transaction
def test_result(request: PharmacyRequest, test_id):
    """Enter the reading of a test in progress: the one screen from the day page."""
    test = ScreeningTest.objects.select_related("patient").get_for_pharmacy_or_404(
        request.pharmacy, pk=test_id
    )
    if test.cancelled_at:
        return refuse_cancelled(request, test)
    address = reverse("screening:test_detail", kwargs={"test_id": test.pk})
    if test.validated_at is not None:
        messages.info(request, _("The result of this test was already entered."))
        return redirect(address)
    record("test.view", request=request, target=test)
    form = ResultForm(form_data(request), test=test)
    context = {"form": form, "test": test, "patient": test.patient}
    if request.method == "POST" and form.is_valid():

        def save():
            try:
                services.validate_test(test, form.cleaned_data)
            except services.TestCancelled:
                return refuse_cancelled(request, test), ""
            except services.AlreadyValidated:
                messages.warning(
                    request,
                    _("A colleague entered this result meanwhile: yours was not saved. Check it."),
                )
                return redirect(address), ""
            record("test.validate", request=request, target=test)
            messages.success(request, _("The result is saved and will be sent to SI-DEP."))
            return redirect("screening:day"), address

        return once(request, save) or stale_form(request, "screening/test_result.html", context)
    return render(request, "screening/test_result.html", context)


@pharmacy_permission_required("patient.view")
def test_detail(request: PharmacyRequest, test_id):
    test = ScreeningTest.objects.select_related("patient", "performed_by").get_for_pharmacy_or_404(
        request.pharmacy, pk=test_id
    )
    record("test.view", request=request, target=test)
    context = {
        "test": test,
        "title": _("Test"),
        "transmission": describe(test),
        "can_change": may_change_test(request, test) and not test.cancelled_at,
    }
    return render(request, "screening/test_detail.html", context)


def may_change_test(request, test) -> bool:
    """Whether the caller may correct or cancel `test`: anyone who records tests, until
    SI-DEP may hold it; then only a role with test.correct (not an assistant). A page
    showing the Correct / Cancel buttons asks this same question."""
    return role_allows(request.membership.role, "test.correct") or not may_have_reached_sidep(test)


def test_for_change(request, test_id) -> tuple[ScreeningTest, HttpResponse | None]:
    """The test to correct or cancel, and the answer refusing it if it was cancelled
    (None when the change may go ahead; its view is then audited). Once SI-DEP may hold
    the result, changing it takes the test.correct permission (pharmacist or owner, not
    an assistant)."""
    test = ScreeningTest.objects.select_related("patient").get_for_pharmacy_or_404(
        request.pharmacy, pk=test_id
    )
    if not may_change_test(request, test):
        raise PermissionDenied
    if test.cancelled_at:
        return test, refuse_cancelled(request, test)
    record("test.view", request=request, target=test)
    return test, None


def refuse_cancelled(request, test):
    messages.error(request, _("This test was cancelled: it can no longer be changed."))
    return redirect("screening:test_detail", test_id=test.pk)


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("test.record", keeps_drafts=True)
@post_in_one_transaction
def test_correct(request: PharmacyRequest, test_id):
    """Correct a result; SI-DEP gets the corrected version (see transmission.outbox)."""
    test, refusal = test_for_change(request, test_id)
    if refusal:
        return refusal
    initial = {name: getattr(test, name) for name in services.TEST_FIELDS} | {
        other_result_field(analyte): result for analyte, result in test.other_results.items()
    }
    form = ScreeningTestForm(
        form_data(request),
        initial=initial,
        patient=test.patient,
        # A test in progress may still be corrected before its reading is entered.
        require_result=not test.in_progress,
        device_choices=counter.device_choices(counter.recent_boxes(request.pharmacy)),
    )
    context = {
        "form": form,
        "test": test,
        "patient": test.patient,
        "transmission": describe(test),
        "built_from": built_from_token(test, services.TEST_FIELDS),
    }
    keep_restored_built_from(request, test, context)
    if request.method == "POST" and form.is_valid():
        built_from = read_built_from(request.POST, test)

        def save():
            assert built_from is not None and built_from.values is not None
            data = dict(form.cleaned_data)
            if test.in_progress:  # its reading is entered on its own page (test_result)
                data["result"], data["other_results"] = "", {}
            # The form shows minutes: an untouched time keeps the seconds it was shown with.
            shown_at = datetime.datetime.fromisoformat(built_from.values["sampled_at"])
            if data["sampled_at"] == shown_at.replace(second=0, microsecond=0):
                data["sampled_at"] = shown_at
            try:
                changed = services.correct_test(test, request.user, data, built_from)
            except services.TestCancelled:
                return refuse_cancelled(request, test), ""
            except services.ChangedMeanwhile as meanwhile:
                page = changed_meanwhile(
                    request, "screening/test_correct.html", form, data, meanwhile, built_from,
                    services.TEST_FIELDS, context,
                )  # fmt: skip
                return page, ""
            if changed:
                record("test.correct", request=request, target=test, details={"fields": changed})
                messages.success(request, _("The correction is saved and will be sent to SI-DEP."))
            elif resend_rejected(test):
                record("test.resend", request=request, target=test)
                messages.success(request, _("The result will be sent to SI-DEP again."))
            else:
                messages.warning(request, _("Nothing was changed."))
            address = reverse("screening:test_detail", kwargs={"test_id": test.pk})
            return redirect(address), address

        if built_from is not None:
            context["built_from"] = request.POST[BUILT_FROM_FIELD]  # keep what it was made from
        return (built_from and once(request, save)) or stale_form(
            request, "screening/test_correct.html", context
        )
    return render(request, "screening/test_correct.html", context)


@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("test.record", keeps_drafts=True)
@post_in_one_transaction
def test_cancel(request: PharmacyRequest, test_id):
    """Cancel a test recorded in error; SI-DEP is told to delete it (OBX-11 D), or that it
    was sent for the wrong patient (W)."""
    test, refusal = test_for_change(request, test_id)
    if refusal:
        return refusal
    form = CancelTestForm(form_data(request))
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
