"""Issue 13, item 5: a form or an API call sent twice saves once.

The faults injected: the same page's form posted twice (a double click that got past the
browser, a page sent again from history), twice at the same instant from two threads,
two API calls at the same instant for two tests of the same new person, or for the same
test of a stored one, and a real double click in Chromium. What is checked: one test, one
outbox message, one patient notification, one patient.
"""

from contextlib import contextmanager
from functools import partial

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import sync_playwright

from relais.api.credentials import create_credential
from relais.patient_access.models import Notification
from relais.screening.models import FormToken, Patient, ScreeningTest
from relais.transmission.models import Transmission
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.concurrency import at_once
from tests.support.factories import (
    form_guards,
    log_in,
    make_patient,
    screening_test_form,
)
from tests.support.fictitious import api_submission

NEW_PATIENT = {
    "birth_name": "Durand",
    "used_name": "",
    "given_names": "Marc",
    "birth_date": "1970-07-01",
    "sex": "M",
    "birthplace_code": "2A004",
    "nir": "1 70 07 2A 004 001 72",
    "address": "",
    "postal_code": "",
    "city": "",
    "phone": "06 12 34 56 78",
    "email": "",
}


def post_at_once(clients_and_posts, **kwargs) -> list:
    """Each (client, path, data) posted by its own thread (its own database connection)
    at the same instant, with `kwargs`; the responses."""
    return at_once(
        [partial(client.post, path, data, **kwargs) for client, path, data in clients_and_posts]
    )


@pytest.mark.django_db
def test_the_new_test_form_posted_twice_records_one_test(pharmacist_client, patient):
    path = reverse("screening:test_new", args=[patient.pk])
    form = screening_test_form(notify_by="sms")
    first = pharmacist_client.post(path, form)
    again = pharmacist_client.post(path, form, follow=True)
    test = ScreeningTest.objects.get()
    assert first["Location"] == reverse("screening:day")
    # The second one is shown what the first saved, and says so.
    assert again.redirect_chain[-1][0] == reverse("screening:test_detail", args=[test.pk])
    assert "avait déjà été envoyé" in again.content.decode()  # French by default
    assert Transmission.objects.filter(test=test).count() == 1
    assert Notification.objects.filter(link__test=test).count() == 1


@pytest.mark.django_db
def test_a_form_with_errors_keeps_its_token_for_the_corrected_form(pharmacist_client, patient):
    path = reverse("screening:test_new", args=[patient.pk])
    form = screening_test_form(specimen="throat_swab")  # not a specimen for this test
    assert pharmacist_client.post(path, form).status_code == 200
    assert not FormToken.objects.exists()  # nothing saved: the token is free again
    corrected = {**form, "specimen": "nasal_swab"}
    assert pharmacist_client.post(path, corrected).status_code == 302
    assert pharmacist_client.post(path, corrected).status_code == 302
    assert ScreeningTest.objects.count() == 1


@pytest.mark.django_db
def test_a_form_without_a_valid_token_saves_nothing_and_keeps_what_was_typed(
    pharmacist_client, patient
):
    path = reverse("screening:test_new", args=[patient.pk])
    form = {**screening_test_form(device="Typé AG"), "form_token": "forged:token"}
    response = pharmacist_client.post(path, form)
    assert response.status_code == 200
    assert response.context["form"]["device"].value() == "Typé AG"
    assert not ScreeningTest.objects.exists()


@pytest.mark.django_db
def test_the_new_patient_form_posted_twice_registers_one_patient(pharmacist_client):
    form = {**NEW_PATIENT, **form_guards()}
    first = pharmacist_client.post(reverse("screening:patient_new"), form)
    again = pharmacist_client.post(reverse("screening:patient_new"), form)
    patient = Patient.objects.get()
    assert first["Location"] == again["Location"]
    assert first["Location"] == reverse("screening:test_new", args=[patient.pk])


@pytest.mark.django_db(transaction=True)
def test_the_same_form_posted_twice_at_once_records_one_test(pharmacy, pharmacist):
    patient = make_patient(pharmacy, pharmacist)
    path = reverse("screening:test_new", args=[patient.pk])
    form = screening_test_form()
    clients = [log_in(Client(), pharmacist) for _ in range(2)]  # two tabs, one user
    responses = post_at_once([(client, path, form) for client in clients])
    assert sorted(response.status_code for response in responses) == [302, 302]
    assert ScreeningTest.objects.count() == 1
    assert Transmission.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_api_calls_at_once_for_one_new_person_make_one_patient(pharmacy, pharmacist):
    _, token = create_credential(pharmacy, "LGO", created_by=pharmacist)
    # Two results of one person the pharmacy has never seen, sent by two LGO workstations.
    calls = [
        (Client(), "/api/v1/tests", api_submission(kind=kind))
        for kind in ("sars_cov_2_antigen", "sars_cov_2_rt_pcr")
    ]
    responses = post_at_once(
        calls, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )
    assert sorted(response.status_code for response in responses) == [201, 201]
    assert Patient.objects.count() == 1
    assert ScreeningTest.objects.count() == 2
    assert sorted(response.json()["patient_created"] for response in responses) == [False, True]


@pytest.mark.django_db(transaction=True)
def test_one_test_sent_twice_at_once_is_recorded_once(pharmacy, pharmacist):
    make_patient(pharmacy, pharmacist)
    _, token = create_credential(pharmacy, "LGO", created_by=pharmacist)
    # The same result of a stored patient from two workstations (no shared idempotency
    # key): the second waits for the first, then finds its test.
    calls = [(Client(), "/api/v1/tests", api_submission(device=device)) for device in "AB"]
    responses = post_at_once(
        calls, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )
    assert sorted(response.status_code for response in responses) == [201, 409]
    assert ScreeningTest.objects.count() == 1
    assert Transmission.objects.count() == 1


SAVE = "form.test-form button[type=submit]"


@contextmanager
def new_test_page(live_server, pharmacist, patient, monkeypatch):
    """Chromium on the new-test form of `patient`, logged in as `pharmacist`: (the page,
    the form's address)."""
    session = log_in(Client(), pharmacist).cookies["sessionid"].value
    address = f"{live_server.url}{reverse('screening:test_new', args=[patient.pk])}"
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests
    # make are ordinary blocking calls made between its steps.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
            yield context.new_page(), address
        finally:
            browser.close()


@pytest.mark.slow  # a browser
@pytest.mark.django_db(transaction=True)
def test_a_double_click_on_save_sends_the_form_once(live_server, pharmacy, pharmacist, monkeypatch):
    patient = make_patient(pharmacy, pharmacist)
    posts = []
    with new_test_page(live_server, pharmacist, patient, monkeypatch) as (page, address):
        page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
        page.goto(address)
        page.check("input[name=result][value=negative]")
        page.dblclick(SAVE)
        page.wait_for_url(f"{live_server.url}{reverse('screening:day')}")
    assert posts == [address]
    assert ScreeningTest.objects.filter(patient=patient).count() == 1


@pytest.mark.slow  # a browser
@pytest.mark.django_db(transaction=True)
def test_once_sent_the_form_disables_its_button_and_ignores_another_submit(
    live_server, pharmacy, pharmacist, monkeypatch
):
    """relais.js itself: the page's own submit listener runs first; a listener added after
    it counts the submits it let through and keeps the page from leaving, so the button
    can be looked at while the first POST would be on its way."""
    patient = make_patient(pharmacy, pharmacist)
    with new_test_page(live_server, pharmacist, patient, monkeypatch) as (page, address):
        page.goto(address)
        page.evaluate(
            """() => {
                window.submitsLetThrough = 0;
                document.querySelector("form.test-form").addEventListener("submit", (e) => {
                    if (!e.defaultPrevented) window.submitsLetThrough += 1;
                    e.preventDefault();
                });
            }"""
        )
        page.check("input[name=result][value=negative]")
        page.click(SAVE)
        page.wait_for_function(f"document.querySelector({SAVE!r}).disabled")
        page.click(SAVE, force=True)  # the impatient second click: a disabled button
        page.evaluate("document.querySelector('form.test-form').requestSubmit()")  # Enter
        assert page.evaluate("window.submitsLetThrough") == 1
    assert not ScreeningTest.objects.filter(patient=patient).exists()  # nothing left the page
