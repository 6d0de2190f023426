"""Issue 13, item 4: stale or simultaneous corrections must not overwrite each other.

The fault injected is the race itself: a correction form opened before another user's
correction is saved and sent after it (web), two corrections sent at the same instant
from two threads (each with its own database connection), and an API correction made
from an old read. What is checked: no change is lost, the last message SI-DEP stores
carries the corrected result, and a clash is stopped for a person to review.
"""

import re
from functools import partial

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from relais.api.credentials import create_credential
from relais.screening import services
from relais.screening.models import Patient, ScreeningTest
from relais.transmission.models import Transmission
from relais.transmission.worker import send_due
from tests.support.concurrency import at_once
from tests.support.factories import ApiClient, built_from, log_in, make_member, make_test
from tests.support.fictitious import PATIENT_DATA, api_submission

HIDDEN = re.compile(r'<input type="hidden" name="(form_token|built_from)" value="([^"]*)">')


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def open_form(client, path) -> dict:
    """The hidden fields of the form on `path`, as a browser keeps them until it posts."""
    response = client.get(path)
    assert response.status_code == 200
    return dict(HIDDEN.findall(response.content.decode()))


def correction_form(test, guards, **typed):
    """The correction form as `test` showed it (the values when the page was built)."""
    return {
        "kind": test.kind,
        "device": test.device,
        "specimen": test.specimen,
        "sampled_at": timezone.localtime(test.sampled_at).strftime("%Y-%m-%dT%H:%M"),
        "result": test.result,
        "consent_transmission": "on",
        "notify_by": test.notify_by,
        **guards,
        **typed,
    }


def send_everything():
    """The worker's sending job until nothing waits (SI-DEP answers at once)."""
    for _ in range(10):
        send_due()
        if not Transmission.objects.filter(state__in=Transmission.WAITING_STATES).exists():
            return
    raise AssertionError("messages still waiting")


def last_result_sent(sidep) -> str:
    """OBX-5 of the result (OBX 1) of the last message SI-DEP stored."""
    observations = [line for line in sidep.dump().splitlines() if line.startswith("OBX|1|")]
    return observations[-1].split("|")[5]


@pytest.fixture
def second_pharmacist(pharmacy):
    return make_member(pharmacy, "pharmacien.b@example.org")


def counter(user) -> Client:
    """A logged-in browser of `user`, in English."""
    client = log_in(Client(), user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.mark.slow  # starts the simulator
@pytest.mark.django_db
def test_a_stale_form_that_changed_only_the_device_keeps_the_corrected_result(
    sidep, pharmacist, second_pharmacist, screening_test
):
    send_everything()  # SI-DEP holds the first, negative, result
    a, b = counter(pharmacist), counter(second_pharmacist)
    path = reverse("screening:test_correct", args=[screening_test.pk])
    shown_to_b = open_form(b, path)  # B opens the form first...
    shown_to_a = open_form(a, path)
    response = a.post(path, correction_form(screening_test, shown_to_a, result="positive"))
    assert response.status_code == 302
    # ...and, without reloading, changes only the device of the negative result it shows.
    response = b.post(path, correction_form(screening_test, shown_to_b, device="Autre AG 2"))
    assert response.status_code == 302
    saved = ScreeningTest.objects.get(pk=screening_test.pk)
    assert (saved.result, saved.device, saved.version) == ("positive", "Autre AG 2", 3)
    send_everything()
    assert "^Detected^" in last_result_sent(sidep)
    assert "Not detected" not in last_result_sent(sidep)


@pytest.mark.django_db
def test_a_stale_form_changing_the_same_field_stops_on_a_review_page(
    pharmacist, second_pharmacist, screening_test
):
    a, b = counter(pharmacist), counter(second_pharmacist)
    path = reverse("screening:test_correct", args=[screening_test.pk])
    shown_to_b = open_form(b, path)
    a.post(path, correction_form(screening_test, open_form(a, path), result="positive"))
    review = b.post(path, correction_form(screening_test, shown_to_b, result="invalid"))
    assert review.status_code == 409
    html = review.content.decode()
    assert "Changed meanwhile" in html and "changed by both" in html
    rows = review.context["changed_meanwhile"]
    assert [(row["saved"], row["yours"], row["clash"]) for row in rows] == [
        ("positive", "invalid", True)
    ]
    assert ScreeningTest.objects.get(pk=screening_test.pk).result == "positive"
    # The review form holds B's value, built from the saved version: B applies it knowingly.
    assert review.context["form"].initial["result"] == "invalid"
    guards = dict(HIDDEN.findall(html))
    response = b.post(path, correction_form(screening_test, guards, result="invalid"))
    assert response.status_code == 302
    saved = ScreeningTest.objects.get(pk=screening_test.pk)
    assert (saved.result, saved.version) == ("invalid", 3)


@pytest.mark.django_db
def test_a_stale_patient_form_keeps_the_other_change(pharmacist, second_pharmacist, patient):
    a, b = counter(pharmacist), counter(second_pharmacist)
    path = reverse("screening:patient_edit", args=[patient.pk])
    typed = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in PATIENT_DATA.items()}
    shown_to_b = open_form(b, path)
    assert a.post(path, {**typed, **open_form(a, path), "phone": "0698765432"}).status_code == 302
    assert b.post(path, {**typed, **shown_to_b, "city": "Lyon"}).status_code == 302
    saved = Patient.objects.get(pk=patient.pk)
    assert (saved.phone, saved.city, saved.version) == ("+33698765432", "Lyon", 3)


def correct_at_once(test, user, changes: list[dict]) -> list[str]:
    """Each change, made from the same version of `test`, sent by its own thread (its own
    database connection) at the same instant: "saved" or "changed meanwhile" each."""
    base = built_from(test)

    def correct(data) -> str:
        try:
            services.correct_test(ScreeningTest(pk=test.pk), user, data, base)
        except services.ChangedMeanwhile:
            return "changed meanwhile"
        return "saved"

    fields = {name: getattr(test, name) for name in services.TEST_FIELDS}
    return sorted(at_once([partial(correct, fields | change) for change in changes]))


@pytest.mark.django_db(transaction=True)
def test_simultaneous_corrections_merge_or_stop_never_overwrite(pharmacy, pharmacist, patient):
    test = make_test(patient, pharmacist)
    outcomes = correct_at_once(test, pharmacist, [{"result": "positive"}, {"device": "Autre"}])
    assert outcomes == ["saved", "saved"]
    saved = ScreeningTest.objects.get(pk=test.pk)
    assert (saved.result, saved.device, saved.version) == ("positive", "Autre", 3)

    outcomes = correct_at_once(saved, pharmacist, [{"result": "invalid"}, {"result": "negative"}])
    assert outcomes == ["changed meanwhile", "saved"]
    again = ScreeningTest.objects.get(pk=test.pk)
    assert again.result in ("invalid", "negative") and again.version == 4
    # Each saved change queued its correction once: the outbox saw both writers.
    assert Transmission.objects.filter(test=test).count() == 1  # unsent: updated in place


@pytest.mark.django_db
def test_an_api_correction_from_an_old_read_is_refused_with_412(
    client, pharmacy, pharmacist, patient
):
    credential, token = create_credential(pharmacy, "LGO", created_by=pharmacist)
    api = ApiClient(client, token)
    screening_test = make_test(patient, credential.service_user)  # a test it recorded
    read = api.get(f"/tests/{screening_test.pk}")
    assert read["ETag"] == '"1"'
    path = f"/tests/{screening_test.pk}/correction"
    body = api_submission(result="positive", sampled_at=screening_test.sampled_at.isoformat())
    assert api.post(path, body["test"]).status_code == 428  # If-Match is required
    first = api.post(path, body["test"], headers={"If-Match": read["ETag"]})
    assert (first.status_code, first["ETag"]) == (200, '"2"')
    stale = dict(body["test"], result="negative", device="Autre")
    refused = api.post(path, stale, headers={"If-Match": read["ETag"]})
    assert refused.status_code == 412
    assert refused["Content-Type"] == "application/problem+json" and refused["ETag"] == '"2"'
    saved = ScreeningTest.objects.get(pk=screening_test.pk)
    assert (saved.result, saved.device, saved.version) == ("positive", "Demo AG Rapid", 2)
