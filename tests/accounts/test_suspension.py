"""Suspending a pharmacy: its users lose access on their next request; reactivation."""

import datetime

import pytest
from django.test import Client

from relais.accounts.models import Membership, Pharmacy
from relais.audit.models import AuditEvent
from tests.support.factories import log_in, make_member, make_platform_admin, make_test
from tests.support.patient_pages import in_english


@pytest.fixture
def admin_client(db):
    return log_in(Client(), make_platform_admin())


def set_status(client, pharmacy, action):
    return client.post(
        f"/platform/pharmacies/{pharmacy.pk}/status/", {"action": action, "confirmed": "1"}
    )


def test_suspension_cuts_access_at_once_and_reactivation_restores_it(
    admin_client, pharmacy, pharmacist_client, patient
):
    owner = make_member(pharmacy, "owner@example.org", Membership.Role.OWNER)
    owner_client = log_in(Client(), owner)
    assert pharmacist_client.get(f"/patients/{patient.pk}/").status_code == 200

    assert set_status(admin_client, pharmacy, "suspend").status_code == 302
    pharmacy.refresh_from_db()
    assert pharmacy.status == Pharmacy.Status.SUSPENDED
    assert pharmacist_client.get(f"/patients/{patient.pk}/").status_code == 403
    assert pharmacist_client.get("/").status_code == 403
    assert owner_client.get("/accounts/staff/").status_code == 403
    assert AuditEvent.objects.filter(action="pharmacy.suspended", target_id=str(pharmacy.pk))

    set_status(admin_client, pharmacy, "reactivate")
    pharmacy.refresh_from_db()
    assert pharmacy.status == Pharmacy.Status.ACTIVE
    assert pharmacist_client.get(f"/patients/{patient.pk}/").status_code == 200
    assert AuditEvent.objects.filter(action="pharmacy.reactivated").count() == 1


def test_only_valid_transitions_apply(admin_client, pharmacy):
    set_status(admin_client, pharmacy, "reactivate")  # already active
    set_status(admin_client, pharmacy, "delete")  # no such action
    pharmacy.refresh_from_db()
    assert pharmacy.status == Pharmacy.Status.ACTIVE
    assert not AuditEvent.objects.filter(action__startswith="pharmacy.").exists()


def test_pharmacy_staff_cannot_suspend(pharmacy, other_pharmacy, pharmacist_client):
    owner = make_member(pharmacy, "owner@example.org", Membership.Role.OWNER)
    for client in (pharmacist_client, log_in(Client(), owner)):
        assert set_status(client, other_pharmacy, "suspend").status_code == 403
    assert set_status(Client(), other_pharmacy, "suspend").status_code == 302  # to login
    other_pharmacy.refresh_from_db()
    assert other_pharmacy.status == Pharmacy.Status.ACTIVE


def test_pharmacies_page_lists_them_for_the_admin(admin_client, pharmacy):
    page = admin_client.get("/platform/pharmacies/")
    assert page.status_code == 200 and pharmacy.name.encode() in page.content


def test_suspension_pauses_the_pharmacys_queued_transmissions(admin_client, pharmacy, patient):
    from django.utils import timezone

    from relais.transmission.models import Transmission
    from relais.transmission.worker import due_ids

    make_test(patient, Membership.objects.filter(pharmacy=pharmacy).first().user)
    queued = set(Transmission.objects.filter(pharmacy=pharmacy).values_list("pk", flat=True))
    assert queued
    later = timezone.now() + datetime.timedelta(days=1)
    assert queued <= set(due_ids(later, 100))
    set_status(admin_client, pharmacy, "suspend")
    assert not queued & set(due_ids(later, 100))
    set_status(admin_client, pharmacy, "reactivate")
    assert queued <= set(due_ids(later, 100))


def test_suspension_goes_through_a_page_that_spells_out_what_follows(admin_client, pharmacy):
    make_member(pharmacy, "one@example.org")
    make_member(pharmacy, "two@example.org")
    url = f"/platform/pharmacies/{pharmacy.pk}/status/"
    in_english(admin_client)
    listing = admin_client.get("/platform/pharmacies/").content.decode()
    assert f'href="{url}?action=suspend"' in listing

    page = admin_client.get(url, {"action": "suspend"}).content.decode()
    assert "its 2 members are refused from their next page" in page
    assert "results not yet sent to SI-DEP wait" in page
    assert 'name="confirmed" value="1"' in page
    # Neither the page nor a POST without the confirmation suspends.
    assert admin_client.post(url, {"action": "suspend"}).status_code == 200
    pharmacy.refresh_from_db()
    assert pharmacy.status == Pharmacy.Status.ACTIVE
    assert not AuditEvent.objects.filter(action="pharmacy.suspended").exists()
    # Unknown pharmacy: 404; an action that does not apply: nothing happens.
    unknown = "/platform/pharmacies/00000000-0000-0000-0000-000000000000/status/"
    assert admin_client.get(unknown, {"action": "suspend"}).status_code == 404
    admin_client.post(url, {"action": "reactivate", "confirmed": "1"})
    pharmacy.refresh_from_db()
    assert pharmacy.status == Pharmacy.Status.ACTIVE


def test_pharmacy_staff_cannot_open_the_suspension_page(pharmacy, pharmacist_client):
    url = f"/platform/pharmacies/{pharmacy.pk}/status/"
    assert pharmacist_client.get(url, {"action": "suspend"}).status_code == 403
    assert pharmacist_client.post(url, {"action": "suspend", "confirmed": "1"}).status_code == 403
