import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from relais.accounts.models import User
from relais.accounts.views_audit import PAGE_SIZE
from relais.audit import chain
from relais.audit.events import record
from relais.audit.models import AuditEvent
from tests.support.factories import PASSWORD, log_in, make_member, make_platform_admin, totp_code

LOG = reverse("audit:log")


@pytest.fixture
def admin_client(db):
    return log_in(Client(), make_platform_admin())


@pytest.fixture
def auditor(db):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = User.objects.create_user("auditor@relais.test", PASSWORD, full_name="Auditor")
    user.is_auditor = True
    user.save()
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


@pytest.fixture
def events(pharmacy, other_pharmacy, pharmacist, other_pharmacist, patient):
    record("patient.view", actor=pharmacist, pharmacy=pharmacy, target=patient)
    record("test.list", actor=other_pharmacist, pharmacy=other_pharmacy, details={"count": 1})
    old = record("login.succeeded", actor=pharmacist, pharmacy=pharmacy)
    AuditEvent.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=10)
    )
    chain.chain_all()


def shown(response) -> list[str]:
    return [event.action for event in response.context["events"]]


def test_admin_sees_who_did_what_to_which_record(admin_client, events, patient, pharmacist):
    response = admin_client.get(LOG)
    assert response.status_code == 200
    body = response.content.decode()
    assert pharmacist.email in body and str(patient.pk) in body
    assert "patient.view" in body and "test.list" in body
    assert response.context["head"].last_seq == 3  # the chain's progress is shown


def test_auditor_reads_the_log(client, auditor, events):
    log_in(client, auditor)
    assert client.get(LOG).status_code == 200


def test_filter_by_pharmacy_user_action_and_date(admin_client, events, pharmacy, pharmacist):
    assert "test.list" not in shown(admin_client.get(LOG, {"pharmacy": pharmacy.pk}))
    by_user = shown(admin_client.get(LOG, {"user": pharmacist.email.upper()}))
    assert set(by_user) == {"patient.view", "login.succeeded"}
    assert shown(admin_client.get(LOG, {"action": "patient."})) == ["patient.view"]
    today = timezone.localdate().isoformat()
    recent = shown(admin_client.get(LOG, {"date_from": today, "user": pharmacist.email}))
    assert recent == ["patient.view"]
    earlier = (timezone.localdate() - datetime.timedelta(days=5)).isoformat()
    assert shown(admin_client.get(LOG, {"date_to": earlier})) == ["login.succeeded"]
    assert shown(admin_client.get(LOG, {"user": "nobody@example.org"})) == []


def test_bad_filters_give_field_errors(admin_client, events):
    response = admin_client.get(
        LOG, {"date_from": "2026-02-30", "pharmacy": "not-a-uuid", "user": "x"}
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert {"date_from", "pharmacy", "user"} <= set(errors)
    assert response.context["events"] == []
    reversed_range = admin_client.get(LOG, {"date_from": "2026-05-02", "date_to": "2026-05-01"})
    assert reversed_range.context["form"].errors["date_to"]


def test_pages(admin_client, db):
    AuditEvent.objects.bulk_create(
        [AuditEvent(action="test.view", target_id=str(n)) for n in range(PAGE_SIZE + 5)]
    )
    first = admin_client.get(LOG, {"action": "test.view"})
    assert len(first.context["events"]) == PAGE_SIZE
    assert "page=2" in first.content.decode()
    second = admin_client.get(LOG, {"action": "test.view", "page": 2})
    assert len(second.context["events"]) == 5
    assert admin_client.get(LOG, {"page": "abc"}).status_code == 200


def test_lag_is_shown(admin_client, db):
    record("patient.view")
    record("patient.view")
    response = admin_client.get(LOG)
    assert response.context["lag"].unchained >= 2
    assert "2" in response.content.decode()


def test_reading_the_log_is_itself_audited(admin_client, events, pharmacy):
    admin_client.get(LOG, {"pharmacy": pharmacy.pk, "user": "someone@example.org"})
    event = AuditEvent.objects.filter(action="audit.view").latest("id")
    assert event.details["filters"] == {"pharmacy": str(pharmacy.pk)}


def test_pharmacy_staff_are_refused(pharmacist_client, events):
    assert pharmacist_client.get(LOG).status_code == 403


def test_anonymous_goes_to_login(client, db):
    response = client.get(LOG)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_admin_without_second_factor_goes_to_login(client, db):
    client.force_login(make_platform_admin())
    assert client.get(LOG)["Location"].startswith("/accounts/login/")


def test_the_log_is_read_only(admin_client, events):
    count = AuditEvent.objects.count()
    assert admin_client.post(LOG, {"action": "x"}).status_code == 405
    assert AuditEvent.objects.count() == count


def test_owner_of_a_pharmacy_is_refused(client, pharmacy, events):
    from relais.accounts.models import Membership

    owner = make_member(pharmacy, "owner@example.org", Membership.Role.OWNER)
    assert log_in(client, owner).get(LOG).status_code == 403


def test_auditor_lands_on_the_audit_log_after_login(client, auditor):
    response = client.post(
        reverse("accounts:login"),
        {"email": auditor.email, "password": PASSWORD, "otp_token": totp_code(auditor)},
    )
    assert response.status_code == 302 and response["Location"] == LOG
    assert client.get(LOG).status_code == 200


def test_day_list_and_search_record_which_records_were_read(pharmacist_client, screening_test):
    pharmacist_client.get(reverse("screening:day"))
    listed = AuditEvent.objects.filter(action="test.list").latest("id")
    assert listed.details["test_ids"] == [str(screening_test.pk)]
    pharmacist_client.post(
        reverse("screening:patient_search"), {"nir": screening_test.patient.nir}, follow=True
    )
    searched = AuditEvent.objects.filter(action="patient.search").latest("id")
    assert searched.details["patient_ids"] == [str(screening_test.patient_id)]
    assert screening_test.patient.nir not in str(searched.details)


def test_attempts_during_a_lockout_are_recorded(client, pharmacist, settings):
    for _ in range(settings.LOGIN_MAX_FAILURES + 1):
        client.post(
            reverse("accounts:login"),
            {"email": pharmacist.email, "password": "wrong", "otp_token": "000000"},
        )
    assert AuditEvent.objects.filter(action="login.refused_locked").exists()


def test_audit_log_is_in_the_menus_of_admins_and_auditors(admin_client, client, auditor, db):
    assert f'href="{LOG}"' in admin_client.get(reverse("platform:applications")).content.decode()
    log_in(client, auditor)
    page = client.get(LOG).content.decode()
    assert f'href="{LOG}"' in page and reverse("accounts:logout") in page


def test_actions_show_their_translated_label(admin_client, events):
    page = admin_client.get(LOG).content.decode()
    assert "Dossier patient consulté" in page and "patient.view" in page
    admin_client.post("/i18n/setlang/", {"language": "en"})
    assert "Patient record viewed" in admin_client.get(LOG).content.decode()
