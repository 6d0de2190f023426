"""The pharmacy's own access log: who read or changed which patient's data, for the
pharmacy's owner.

The platform's audit log (accounts/views_audit.py) shows ids only, to administrators and
auditors. This page shows the owner the events of their own pharmacy about its patients,
with each patient's name decrypted here and nowhere else; every patient it names is
reached through the pharmacy's scope, and reading the page is itself an event (listed on
the page, with the patients it showed)."""

import uuid

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from relais.accounts.http import PharmacyRequest
from relais.accounts.models import User
from relais.accounts.permissions import pharmacy_permission_required
from relais.audit import actions
from relais.audit.events import record
from relais.audit.models import AuditEvent
from relais.screening.models import Patient, ScreeningTest

PAGE_SIZE = 50
NAMES_PER_EVENT = 10
# The events about a patient's data: those that read it (and name which patients), those
# that change it, and the reading of this very page.
PATIENT_DATA_ACTIONS = (
    "patient.search",
    "patient.view",
    "patient.create",
    "patient.update",
    "test.list",
    "test.view",
    "test.api_list",
    "test.create",
    "test.correct",
    "test.validate",
    "test.cancel",
    "test.resend",
    "test.print",
    "patient_link.resend",
    "audit.pharmacy_view",
)
PATIENT_TARGET = Patient._meta.label_lower
TEST_TARGET = ScreeningTest._meta.label_lower


def named_ids(event: AuditEvent) -> tuple[list[str], list[str]]:
    """(patient ids, test ids) an event names, in its target or its details."""
    patients = [str(i) for i in event.details.get("patient_ids", []) if isinstance(i, str)]
    tests = [str(i) for i in event.details.get("test_ids", []) if isinstance(i, str)]
    if event.target_type == PATIENT_TARGET:
        patients.insert(0, event.target_id)
    elif event.target_type == TEST_TARGET:
        tests.insert(0, event.target_id)
    return patients, tests


def _valid(ids: set[str]) -> set[str]:
    valid = set()
    for value in ids:
        try:
            valid.add(str(uuid.UUID(value)))
        except ValueError:
            continue
    return valid


@require_GET
@pharmacy_permission_required("audit.read")
def access_log(request: PharmacyRequest):
    events = AuditEvent.objects.filter(
        pharmacy_id=request.pharmacy.pk, action__in=PATIENT_DATA_ACTIONS
    ).order_by("-id")
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    wanted = [named_ids(event) for event in rows]
    patient_ids = _valid({i for patients, _tests in wanted for i in patients})
    test_ids = _valid({i for _patients, tests in wanted for i in tests})
    # Through the pharmacy's scope only: an id of another pharmacy names no one here.
    patients = {
        str(p.pk): p
        for p in Patient.objects.for_pharmacy(request.pharmacy).filter(pk__in=patient_ids)
    }
    test_patient = {
        str(test): str(patient)
        for test, patient in ScreeningTest.objects.for_pharmacy(request.pharmacy)
        .filter(pk__in=test_ids)
        .values_list("pk", "patient_id")
    }
    missing = set(test_patient.values()) - set(patients)
    patients.update(
        (str(p.pk), p)
        for p in Patient.objects.for_pharmacy(request.pharmacy).filter(pk__in=missing)
    )
    actors = User.objects.in_bulk({e.actor_id for e in rows if e.actor_id})
    shown: set[str] = set()
    lines = []
    for event, (event_patients, event_tests) in zip(rows, wanted, strict=True):
        ordered = list(event_patients)
        ordered += [test_patient[t] for t in event_tests if t in test_patient]
        unique = list(dict.fromkeys(p for p in ordered if p in patients))
        shown.update(unique[:NAMES_PER_EVENT])
        lines.append(
            {
                "created_at": event.created_at,
                "actor": actors.get(event.actor_id) if event.actor_id else None,
                "actor_id": event.actor_id,
                "action_label": actions.label(event.action),
                "patient_names": [patients[p].display_name for p in unique[:NAMES_PER_EVENT]],
                "more_patients": max(0, len(unique) - NAMES_PER_EVENT),
                "unknown": not unique and bool(event_patients or event_tests),
            }
        )
    record(
        "audit.pharmacy_view",
        request=request,
        details={"page": page.number, "patient_ids": sorted(shown)},
    )
    return render(request, "screening/access_log.html", {"page": page, "events": lines})
