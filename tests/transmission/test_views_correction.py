"""Correcting and cancelling a test, and what SI-DEP is sent as a result."""

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from relais.accounts.models import Membership
from relais.audit.models import AuditEvent
from relais.screening import services
from relais.transmission.models import Transmission
from tests.support.factories import (
    built_from,
    form_guards,
    log_in,
    make_member,
    make_patient,
    make_test,
)
from tests.support.fictitious import PATIENT_DATA

pytestmark = pytest.mark.django_db
State = Transmission.State
Kind = Transmission.Kind


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def correction_form(test, **changes):
    data = {
        "kind": test.kind,
        "device": test.device,
        "specimen": test.specimen,
        "sampled_at": timezone.localtime(test.sampled_at).strftime("%Y-%m-%dT%H:%M"),
        "result": test.result,
        "consent_transmission": "on",
        "notify_by": "none",
        **form_guards(test),
    }
    data.update(changes)
    return data


def set_state(test, state, **fields):
    for row in Transmission.objects.filter(test=test):  # save(): ack_text is encrypted
        for name, value in {"state": state, **fields}.items():
            setattr(row, name, value)
        row.save()


def acknowledge(test):
    set_state(test, State.ACKNOWLEDGED, sent_at=timezone.now(), ack_code="AA")


def correct_url(test):
    return reverse("screening:test_correct", args=[test.pk])


def cancel_url(test):
    return reverse("screening:test_cancel", args=[test.pk])


def test_correcting_an_unsent_result_updates_the_waiting_message(pharmacist_client, screening_test):
    response = pharmacist_client.post(
        correct_url(screening_test), correction_form(screening_test, result="positive")
    )
    assert response.status_code == 302
    screening_test.refresh_from_db()
    assert screening_test.result == "positive"
    row = screening_test.transmissions.get()  # still one message, built when it goes
    assert (row.kind, row.state) == (Kind.NEW, State.PENDING)
    event = AuditEvent.objects.get(action="test.correct")
    assert event.details == {"fields": ["result"]}


def test_correcting_an_acknowledged_result_sends_a_correction(pharmacist_client, screening_test):
    acknowledge(screening_test)
    pharmacist_client.post(
        correct_url(screening_test), correction_form(screening_test, result="positive")
    )
    first, correction = screening_test.transmissions.order_by("sequence")
    assert first.state == State.ACKNOWLEDGED
    assert (correction.kind, correction.state, correction.sequence) == (
        Kind.CORRECTION,
        "pending",
        2,
    )
    assert correction.result_status == "C"
    assert correction.message_id != first.message_id


def test_correcting_a_rejected_result_resends_it_as_a_new_result(pharmacist_client, screening_test):
    set_state(screening_test, State.REJECTED, sent_at=timezone.now(), ack_code="AE",
              ack_text="Prélèvement incohérent")  # fmt: skip
    detail = pharmacist_client.get(reverse("screening:test_detail", args=[screening_test.pk]))
    html = detail.content.decode()
    assert "Prélèvement incohérent" in html and correct_url(screening_test) in html
    pharmacist_client.post(
        correct_url(screening_test), correction_form(screening_test, specimen="nasopharyngeal_swab")
    )
    rejected, resend = screening_test.transmissions.order_by("sequence")
    assert rejected.state == State.REJECTED
    assert (resend.kind, resend.state, resend.result_status) == (Kind.NEW, State.PENDING, "F")


def test_resending_a_rejected_result_after_fixing_the_patient_record(
    pharmacist_client, screening_test
):
    set_state(screening_test, State.REJECTED, sent_at=timezone.now(), ack_code="AE")
    response = pharmacist_client.post(correct_url(screening_test), correction_form(screening_test))
    assert response.status_code == 302
    rejected, resend = screening_test.transmissions.order_by("sequence")
    assert (resend.kind, resend.state) == (Kind.NEW, State.PENDING)
    assert AuditEvent.objects.filter(action="test.resend").count() == 1


def test_changing_only_the_notification_choice_sends_nothing(pharmacist_client, screening_test):
    acknowledge(screening_test)
    pharmacist_client.post(
        correct_url(screening_test), correction_form(screening_test, notify_by="sms")
    )
    assert screening_test.transmissions.count() == 1


def test_a_correction_with_no_change_sends_nothing(pharmacist_client, screening_test):
    acknowledge(screening_test)
    pharmacist_client.post(correct_url(screening_test), correction_form(screening_test))
    assert screening_test.transmissions.count() == 1
    assert not AuditEvent.objects.filter(action="test.correct").exists()


def test_bad_correction_shows_field_errors_and_saves_nothing(pharmacist_client, screening_test):
    acknowledge(screening_test)
    response = pharmacist_client.post(
        correct_url(screening_test),
        correction_form(screening_test, result="maybe", specimen="throat_swab"),
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "result" in form.errors and "specimen" in form.errors
    screening_test.refresh_from_db()
    assert screening_test.result == "negative"
    assert screening_test.transmissions.count() == 1


def test_an_assistant_cannot_correct_or_cancel_a_result_sidep_holds(
    client, pharmacy, screening_test
):
    assistant = make_member(pharmacy, "assistant@example.org", Membership.Role.ASSISTANT)
    log_in(client, assistant)
    acknowledge(screening_test)
    assert client.get(correct_url(screening_test)).status_code == 403
    response = client.post(
        correct_url(screening_test), correction_form(screening_test, result="positive")
    )
    assert response.status_code == 403
    assert client.post(cancel_url(screening_test), {"reason": "duplicate"}).status_code == 403
    screening_test.refresh_from_db()
    assert (screening_test.result, screening_test.cancelled_at) == ("negative", None)
    assert screening_test.transmissions.count() == 1


def test_an_assistant_may_fix_a_result_not_sent_yet(client, pharmacy, screening_test):
    assistant = make_member(pharmacy, "assistant@example.org", Membership.Role.ASSISTANT)
    log_in(client, assistant)
    client.post(correct_url(screening_test), correction_form(screening_test, result="positive"))
    screening_test.refresh_from_db()
    assert screening_test.result == "positive"


def test_another_pharmacy_gets_404(client, other_pharmacist, screening_test):
    log_in(client, other_pharmacist)
    assert client.get(correct_url(screening_test)).status_code == 404
    assert (
        client.post(correct_url(screening_test), correction_form(screening_test)).status_code == 404
    )
    assert client.post(cancel_url(screening_test), {"reason": "duplicate"}).status_code == 404
    screening_test.refresh_from_db()
    assert screening_test.cancelled_at is None


def test_anonymous_is_sent_to_login(client, screening_test):
    for url in (correct_url(screening_test), cancel_url(screening_test)):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response.url


def test_cancelling_an_unsent_result_withdraws_it(pharmacist_client, screening_test):
    assert pharmacist_client.get(cancel_url(screening_test)).status_code == 200
    response = pharmacist_client.post(cancel_url(screening_test), {"reason": "wrong_patient"})
    assert response.status_code == 302
    screening_test.refresh_from_db()
    assert screening_test.cancelled_at is not None
    row = screening_test.transmissions.get()
    assert row.state == State.WITHDRAWN  # never sent: SI-DEP never sees it
    assert AuditEvent.objects.get(action="test.cancel").details == {"reason": "wrong_patient"}


def test_cancelling_an_acknowledged_result_sends_a_deletion(pharmacist_client, screening_test):
    acknowledge(screening_test)
    pharmacist_client.post(cancel_url(screening_test), {"reason": "entered_in_error"})
    first, deletion = screening_test.transmissions.order_by("sequence")
    assert (deletion.kind, deletion.result_status, deletion.state) == (
        Kind.CANCELLATION,
        "D",
        "pending",
    )


def test_cancelling_needs_a_known_reason(pharmacist_client, screening_test):
    response = pharmacist_client.post(cancel_url(screening_test), {"reason": "because"})
    assert response.status_code == 200 and "reason" in response.context["form"].errors
    screening_test.refresh_from_db()
    assert screening_test.cancelled_at is None
    with pytest.raises(ValueError):
        services.cancel_test(screening_test, None, "because")


def test_a_cancelled_test_cannot_be_corrected_or_cancelled_again(pharmacist_client, screening_test):
    pharmacist_client.post(cancel_url(screening_test), {"reason": "duplicate"})
    response = pharmacist_client.post(
        correct_url(screening_test), correction_form(screening_test, result="positive")
    )
    assert response.status_code == 302
    screening_test.refresh_from_db()
    assert screening_test.result == "negative"
    pharmacist_client.post(cancel_url(screening_test), {"reason": "duplicate"})
    assert AuditEvent.objects.filter(action="test.cancel").count() == 1


def test_a_correction_waits_behind_a_message_in_flight(pharmacist, screening_test):
    set_state(screening_test, State.IN_FLIGHT, sent_at=timezone.now())
    services.correct_test(
        screening_test, pharmacist, {"result": "positive"}, built_from(screening_test)
    )
    kinds = list(screening_test.transmissions.order_by("sequence").values_list("kind", flat=True))
    assert kinds == [Kind.NEW, Kind.CORRECTION]


def test_day_list_shows_each_state(pharmacist_client, patient, pharmacist):
    waiting = make_test(patient, pharmacist)
    rejected = make_test(patient, pharmacist)
    set_state(rejected, State.REJECTED, ack_code="AE", ack_text="NIR inconnu du référentiel")
    done = make_test(patient, pharmacist)
    acknowledge(done)
    dead = make_test(patient, pharmacist)
    set_state(dead, State.DEAD)
    pharmacist_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = pharmacist_client.get(reverse("screening:day")).content.decode()
    assert "SI-DEP: Waiting" in html and "next try" in html
    assert "SI-DEP: Transmitted" in html
    assert "SI-DEP: Rejected" in html and "NIR inconnu du référentiel" in html
    assert correct_url(rejected) in html
    assert "SI-DEP: Failed permanently" in html
    assert waiting.pk and dead.pk


def test_day_list_reads_transmissions_in_one_query(pharmacist_client, patient, pharmacist):
    for _ in range(10):
        make_test(make_patient(patient.pharmacy, pharmacist), pharmacist)
    with CaptureQueriesContext(connection) as queries:
        response = pharmacist_client.get(reverse("screening:day"))
    assert len(response.context["tests"]) == 10
    reading_transmissions = [
        query for query in queries.captured_queries if "transmission_transmission" in query["sql"]
    ]
    assert len(reading_transmissions) == 1


def patient_edit_url(patient):
    return reverse("screening:patient_edit", args=[patient.pk])


def patient_form(patient, **changes):
    data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in PATIENT_DATA.items()}
    return {**data, **form_guards(patient), **changes}


def test_editing_the_patient_of_an_acknowledged_result_sends_a_correction(
    pharmacist_client, screening_test
):
    acknowledge(screening_test)
    response = pharmacist_client.post(
        patient_edit_url(screening_test.patient),
        patient_form(screening_test.patient, birth_name="Lefebvre"),
    )
    assert response.status_code == 302
    first, correction = screening_test.transmissions.order_by("sequence")
    assert (first.kind, first.state) == (Kind.NEW, State.ACKNOWLEDGED)
    assert (correction.kind, correction.state, correction.sequence) == (
        Kind.CORRECTION,
        State.PENDING,
        2,
    )


def test_editing_the_patient_of_an_unsent_result_adds_no_message(pharmacist_client, screening_test):
    pharmacist_client.post(
        patient_edit_url(screening_test.patient), patient_form(screening_test.patient, city="Lyon")
    )
    row = screening_test.transmissions.get()  # built when it goes, with the new address
    assert (row.kind, row.state) == (Kind.NEW, State.PENDING)


def test_saving_an_unchanged_patient_sends_and_records_nothing(pharmacist_client, screening_test):
    acknowledge(screening_test)
    response = pharmacist_client.post(
        patient_edit_url(screening_test.patient), patient_form(screening_test.patient)
    )
    assert response.status_code == 302
    assert screening_test.transmissions.count() == 1
    assert not AuditEvent.objects.filter(action="patient.update").exists()


def test_a_patient_edit_skips_cancelled_and_never_delivered_results(
    pharmacist_client, pharmacist, patient
):
    cancelled, rejected, delivered = (make_test(patient, pharmacist) for _ in range(3))
    acknowledge(cancelled)
    services.cancel_test(cancelled, pharmacist, "entered_in_error")
    set_state(rejected, State.REJECTED, sent_at=timezone.now(), ack_code="AE")
    acknowledge(delivered)
    pharmacist_client.post(patient_edit_url(patient), patient_form(patient, given_names="Élodie"))
    assert [row.kind for row in cancelled.transmissions.order_by("sequence")] == [
        Kind.NEW,
        Kind.CANCELLATION,
    ]
    assert rejected.transmissions.count() == 1  # waits for the pharmacist's resend
    assert [row.kind for row in delivered.transmissions.order_by("sequence")] == [
        Kind.NEW,
        Kind.CORRECTION,
    ]


def test_an_assistant_cannot_edit_a_patient_whose_result_sidep_holds(
    client, pharmacy, screening_test
):
    assistant = make_member(pharmacy, "assistant@example.org", Membership.Role.ASSISTANT)
    log_in(client, assistant)
    patient = screening_test.patient
    detail = reverse("screening:patient_detail", args=[patient.pk])
    assert patient_edit_url(patient) in client.get(detail).content.decode()
    acknowledge(screening_test)
    assert patient_edit_url(patient) not in client.get(detail).content.decode()
    assert client.get(patient_edit_url(patient)).status_code == 403
    response = client.post(patient_edit_url(patient), patient_form(patient, birth_name="Lefebvre"))
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.birth_name == PATIENT_DATA["birth_name"]
    assert screening_test.transmissions.count() == 1
