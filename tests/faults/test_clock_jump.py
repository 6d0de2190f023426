"""Issue 13, item 3: a forward clock jump on the worker's host erases no current patient,
and a second-factor lock recorded during a jump does not outlive it.

The host clock is shifted with time-machine (Python's clocks only): the database's clock
(PostgreSQL's server, SQLite's C library) stays true, which is the situation of a worker
whose host jumped ahead.
"""

import datetime
import logging

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.audit.models import AuditEvent
from relais.lib import jobs
from relais.screening import retention
from relais.screening.models import Patient
from tests.support.factories import PASSWORD, device_code, make_test, old_patient
from tests.support.fictitious import PATIENT_DATA

JUMP = datetime.timedelta(days=100)


def current_patients(pharmacy, user, count=3):
    """Patients tested minutes ago, acknowledged by SI-DEP."""
    patients = []
    for number in range(count):
        patient, _ = old_patient(pharmacy, user, nir="", birth_name=f"ACTUEL{chr(65 + number)}")
        make_test(patient, user)
        patients.append(patient)
    return patients


def identities_left(patients) -> int:
    return (
        Patient.objects.filter(pk__in=[p.pk for p in patients]).exclude(identity_index="").count()
    )


def test_worker_and_purge_under_a_100_day_jump_erase_nobody(pharmacy, pharmacist, caplog):
    current = current_patients(pharmacy, pharmacist)
    past, _ = old_patient(pharmacy, pharmacist, 200)  # would be due even with true clocks
    purge_job = dict(jobs.registered())["retention purge"]
    caplog.set_level(logging.ERROR, logger="relais.screening.retention")
    with time_machine.travel(timezone.now() + JUMP, tick=True):
        assert purge_job() == 0
        assert purge_job() == 0
        with pytest.raises(CommandError, match="clock"):
            call_command("purge")
    assert identities_left(current) == len(current)
    assert identities_left([past]) == 1  # refused outright: no row touched
    refusals = [r for r in caplog.records if "purge refused" in r.getMessage()]
    assert len(refusals) == 1  # logged once, not every round
    assert not AuditEvent.objects.filter(action__startswith="retention.").exists()
    # The clocks agree again: the next round purges what is really due, and only that.
    assert purge_job() == 1
    assert identities_left(current) == len(current) and identities_left([past]) == 0


def test_the_query_keeps_current_patients_whatever_date_it_is_given(pharmacy, pharmacist):
    """Belt and braces: even handed a 'today' 100 days ahead (a host date that slipped past
    the guard), the query keeps every patient with a test created within the period by the
    database's clock."""
    current = current_patients(pharmacy, pharmacist)
    past, _ = old_patient(pharmacy, pharmacist, 200)
    report = retention.purge(today=timezone.localdate() + JUMP)
    assert report.erased_patient_ids == [str(past.pk)]
    assert identities_left(current) == len(current)
    for patient in current:
        assert Patient.objects.get(pk=patient.pk).given_names == PATIENT_DATA["given_names"]


def login(client, user, at: datetime.datetime):
    device = TOTPDevice.objects.get(user=user)
    code = device_code(device, at=at.timestamp())
    form = {"email": user.email, "password": PASSWORD, "otp_token": code}
    return client.post(reverse("accounts:login"), form)


def test_a_second_factor_lock_recorded_during_a_clock_jump_ends_with_it(client, pharmacist):
    device = TOTPDevice.objects.get(user=pharmacist)
    with time_machine.travel(timezone.now() + datetime.timedelta(days=400), tick=False):
        assert not device.verify_token("not a code")  # a failure stamped in the far future
    device.refresh_from_db()
    assert device.throttling_failure_timestamp > timezone.now() + datetime.timedelta(days=399)
    # Back on time. Unclamped, django-otp would refuse every code for 400 days.
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        assert login(client, pharmacist, now).status_code == 200  # the usual short delay
    device.refresh_from_db()
    assert device.throttling_failure_timestamp <= now
    later = now + datetime.timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        assert login(client, pharmacist, later).status_code == 302


def test_a_login_lockout_recorded_during_a_clock_jump_lasts_no_longer_than_usual(
    client, pharmacist, settings
):
    jumped = timezone.now() + JUMP
    with time_machine.travel(jumped, tick=False):
        for _ in range(settings.LOGIN_MAX_FAILURES):
            form = {"email": pharmacist.email, "password": "wrong", "otp_token": "000000"}
            client.post(reverse("accounts:login"), form)
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        assert login(client, pharmacist, now).status_code == 200  # locked, as usual
    lockout = datetime.timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    after = now + lockout + datetime.timedelta(minutes=1)
    with time_machine.travel(after, tick=False):  # unclamped: locked for 100 more days
        assert login(client, pharmacist, after).status_code == 302
