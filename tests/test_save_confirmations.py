"""Every staff page that saves something says so: the page after a successful POST shows a
success message (django.contrib.messages, rendered by base.html). One case per saving view;
a new saving view belongs in SAVES (tests/test_url_permissions.py lists the URLs).

Not here, on purpose: the screening pages other work changes (test_new says it already;
patient_new leads straight to the new test's form), and the pages whose next page is
itself the confirmation (apply/received, password-reset/sent, the recovery codes of an
activation)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation

from relais.accounts.models import Invitation, Membership, Pharmacy, PharmacyApplication
from relais.api.credentials import create_credential
from relais.directory.checks import CHECK_NAMES
from relais.transmission.models import Transmission
from tests.support.factories import (
    form_guards,
    log_in,
    make_member,
    make_patient,
    make_pharmacy,
    make_platform_admin,
    make_test,
    screening_test_form,
)
from tests.support.fictitious import csv_row, csv_text
from tests.support.imports import work_imports

pytestmark = pytest.mark.django_db

SUCCESS = 'class="message message--success"'


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def owner_of(pharmacy) -> Client:
    return log_in(Client(), make_member(pharmacy, "owner@example.org", Membership.Role.OWNER))


def admin() -> Client:
    return log_in(Client(), make_platform_admin())


# Each case: (pharmacy, pharmacist) -> the page the browser shows after the POST.


def staff_invite(pharmacy, pharmacist):
    data = {"email": "new@example.org", "full_name": "Nouvelle Recrue", "role": "assistant"}
    return owner_of(pharmacy).post("/accounts/staff/", data, follow=True)


def staff_role(pharmacy, pharmacist):
    membership = Membership.objects.get(user=pharmacist)
    url = f"/accounts/staff/{membership.pk}/role/"
    return owner_of(pharmacy).post(url, {"role": "assistant"}, follow=True)


def staff_second_factor(pharmacy, pharmacist):
    membership = Membership.objects.get(user=pharmacist)
    url = f"/accounts/staff/{membership.pk}/second-factor/"
    return owner_of(pharmacy).post(url, {"confirmed": "1"}, follow=True)


def invitation_cancel(pharmacy, pharmacist):
    owner = owner_of(pharmacy)
    data = {"email": "new@example.org", "full_name": "Nouvelle Recrue", "role": "assistant"}
    owner.post("/accounts/staff/", data)
    invitation = Invitation.objects.get(email="new@example.org")
    return owner.post(f"/accounts/staff/invitations/{invitation.pk}/cancel/", follow=True)


def invitation_answer(pharmacy, pharmacist):
    other = make_pharmacy("Autre", "750000009")
    other_owner = make_member(other, "owner-b@example.org", Membership.Role.OWNER)
    log_in(Client(), other_owner).post(
        "/accounts/staff/", {"email": pharmacist.email, "full_name": "x", "role": "assistant"}
    )
    invitation = Invitation.objects.get(user=pharmacist)
    url = f"/accounts/invitations/{invitation.pk}/"
    return log_in(Client(), pharmacist).post(url, {"answer": "accept"}, follow=True)


def staff_remove(pharmacy, pharmacist):
    membership = Membership.objects.get(user=pharmacist)
    url = f"/accounts/staff/{membership.pk}/remove/"
    return owner_of(pharmacy).post(url, {"confirmed": "1"}, follow=True)


def credential_create(pharmacy, pharmacist):
    return owner_of(pharmacy).post("/api-credentials/", {"name": "LGO comptoir"}, follow=True)


def credential_revoke(pharmacy, pharmacist):
    credential, _ = create_credential(pharmacy, "LGO")
    return owner_of(pharmacy).post(f"/api-credentials/{credential.pk}/revoke/", follow=True)


def credential_read_scope(pharmacy, pharmacist):
    credential, _ = create_credential(pharmacy, "LGO")
    url = f"/api-credentials/{credential.pk}/read-scope/"
    return owner_of(pharmacy).post(url, {"read_all": "1"}, follow=True)


def pharmacy_suspend(pharmacy, pharmacist):
    url = f"/platform/pharmacies/{pharmacy.pk}/status/"
    return admin().post(url, {"action": "suspend", "confirmed": "1"}, follow=True)


def pharmacy_reactivate(pharmacy, pharmacist):
    Pharmacy.objects.filter(pk=pharmacy.pk).update(status=Pharmacy.Status.SUSPENDED)
    url = f"/platform/pharmacies/{pharmacy.pk}/status/"
    return admin().post(url, {"action": "reactivate"}, follow=True)


def pending_application(passed=True, **fields) -> PharmacyApplication:
    applicant = make_pharmacy("Pharmacie Candidate", "750000099")
    Pharmacy.objects.filter(pk=applicant.pk).update(status=Pharmacy.Status.PENDING)
    return PharmacyApplication.objects.create(
        pharmacy=applicant,
        owner_name="Claire Titulaire",
        owner_rpps="10000000001",
        owner_email="claire@example.org",
        checks={**dict.fromkeys(CHECK_NAMES, True), "finess_open": passed},
        **fields,
    )


def application_approve(pharmacy, pharmacist):
    url = f"/platform/applications/{pending_application().pk}/"
    return admin().post(url, {"decision": "approve", "confirmed": "1"}, follow=True)


def application_override(pharmacy, pharmacist):
    url = f"/platform/applications/{pending_application(passed=False).pk}/"
    data = {"decision": "approve", "confirmed": "1", "override_reason": "Vérifié par courrier."}
    return admin().post(url, data, follow=True)


def application_override_confirm(pharmacy, pharmacist):
    first = make_platform_admin("first@relais.test")
    application = pending_application(
        passed=False,
        status=PharmacyApplication.Status.PENDING_OVERRIDE,
        override_reason="Vérifié par courrier.",
        override_requested_by=first,
    )
    url = f"/platform/applications/{application.pk}/"
    return admin().post(url, {"decision": "confirm_override", "confirmed": "1"}, follow=True)


def application_refuse(pharmacy, pharmacist):
    url = f"/platform/applications/{pending_application().pk}/"
    data = {"decision": "refuse", "reason": "The FINESS number is not this pharmacy's."}
    return admin().post(url, data, follow=True)


def checked_batch(client) -> str:
    upload = SimpleUploadedFile("r.csv", csv_text([csv_row(1)]).encode(), "text/csv")
    review = client.post("/imports/", {"file": upload})["Location"]
    work_imports()  # the worker checks the file
    return review


def import_confirm(pharmacy, pharmacist):
    client = log_in(Client(), pharmacist)
    return client.post(checked_batch(client), {"import": "1"}, follow=True)


def import_discard(pharmacy, pharmacist):
    client = log_in(Client(), pharmacist)
    return client.post(checked_batch(client), {"discard": "1"}, follow=True)


def patient_edit(pharmacy, pharmacist):
    patient = make_patient(pharmacy, pharmacist)
    data = {
        "birth_name": "Lefèvre", "used_name": "Martin", "given_names": "Élodie Anne",
        "birth_date": "1985-03-14", "sex": "F", "birthplace_code": "75056",
        "nir": "285037505612306", "address": "3 rue Neuve", "postal_code": "75011",
        "city": "Paris", "phone": "06 12 34 56 78", "email": "elodie.lefevre@example.org",
        **form_guards(patient),
    }  # fmt: skip
    return log_in(Client(), pharmacist).post(f"/patients/{patient.pk}/edit/", data, follow=True)


def correct_test(pharmacy, pharmacist):
    test = make_test(make_patient(pharmacy, pharmacist), pharmacist)
    # The result changes (not only the sampling time, which is the same minute just
    # after midnight).
    data = screening_test_form(result="positive", **form_guards(test))
    return log_in(Client(), pharmacist).post(f"/tests/{test.pk}/correct/", data, follow=True)


def cancel_test(pharmacy, pharmacist):
    test = make_test(make_patient(pharmacy, pharmacist), pharmacist)
    url = f"/tests/{test.pk}/cancel/"
    return log_in(Client(), pharmacist).post(url, {"reason": "wrong_patient"}, follow=True)


def dead_transmission(pharmacy, pharmacist) -> Transmission:
    row = make_test(make_patient(pharmacy, pharmacist), pharmacist).transmissions.get()
    Transmission.objects.filter(pk=row.pk).update(state=Transmission.State.DEAD, attempts=40)
    return row


def transmission_retry(pharmacy, pharmacist):
    url = f"/operations/transmissions/{dead_transmission(pharmacy, pharmacist).pk}/retry/"
    return admin().post(url, follow=True)


def transmission_retry_all(pharmacy, pharmacist):
    dead_transmission(pharmacy, pharmacist)
    return admin().post("/operations/transmissions/retry-all/", follow=True)


SAVES = [
    staff_invite, staff_remove, staff_role, staff_second_factor, invitation_cancel,
    invitation_answer, credential_create, credential_revoke, credential_read_scope,
    pharmacy_suspend, pharmacy_reactivate, application_approve, application_override,
    application_override_confirm, application_refuse,
    import_confirm, import_discard, patient_edit, correct_test, cancel_test,
    transmission_retry, transmission_retry_all,
]  # fmt: skip


@pytest.mark.parametrize("save", SAVES, ids=lambda save: save.__name__)
def test_a_successful_save_is_confirmed_on_the_next_page(save, pharmacy, pharmacist, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    response = save(pharmacy, pharmacist)
    assert response.status_code == 200
    page = response.content.decode()
    shown = response.request["PATH_INFO"]
    assert SUCCESS in page, f"{save.__name__}: no success message on {shown}"
