"""Everything tests and benchmarks create in the database, and the clients that act on it:
pharmacies, members with their TOTP device, platform administrators, verified sessions,
patients, tests, a JSON client for the REST API; and unsaved tests for unit tests.

Needs Django set up (pytest-django does it; a benchmark calls django.setup() first)."""

import datetime
import json
import time
from zoneinfo import ZoneInfo

from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts.models import Membership, Pharmacy, User
from relais.screening import form_tokens, services
from relais.screening.forms import BUILT_FROM_FIELD, built_from_token
from relais.screening.models import Patient, ScreeningTest
from relais.transmission.models import Transmission
from tests.support.fictitious import PATIENT_DATA, make_nir

PASSWORD = "correct horse battery staple 42"
API = "/api/v1"


# --- People and pharmacies ----------------------------------------------------------------


def make_pharmacy(
    name="Pharmacie Test", finess="750000001", status=Pharmacy.Status.ACTIVE, **fields
):
    fields = {"address": "1 rue de Test, 75001 Paris", **fields}
    return Pharmacy.objects.create(name=name, finess=finess, status=status, **fields)


def make_device(user, totp_key: str | None = None) -> TOTPDevice:
    """A confirmed TOTP device (a random key unless `totp_key`, in hex, is given)."""
    key = {"key": totp_key} if totp_key else {}
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True, **key)


def make_member(
    pharmacy,
    email,
    role=Membership.Role.PHARMACIST,
    *,
    password=PASSWORD,
    totp_key: str | None = None,
    **user_fields,
):
    """A user of `pharmacy` with `role` and a confirmed TOTP device."""
    user_fields.setdefault("full_name", email.split("@")[0])
    user = User.objects.create_user(email, password, **user_fields)
    Membership.objects.create(user=user, pharmacy=pharmacy, role=role)
    make_device(user, totp_key)
    return user


def make_platform_admin(
    email="admin@relais.test", *, password=PASSWORD, totp_key=None, with_device=True
):
    user = User.objects.create_user(email, password, full_name="Admin", is_staff=True)
    if with_device:
        make_device(user, totp_key)
    return user


# --- Second factor and sessions -----------------------------------------------------------


def device_code(device, at: float | None = None) -> str:
    """The device's TOTP code now (or at the Unix time `at`)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    if at is not None:
        totp.time = at
    return f"{totp.token():0{device.digits}d}"


def next_totp_code(device) -> str:
    """The code of the next 30-second step: accepted (tolerance 1) even when the current
    step's code was just used, which django-otp refuses to accept twice."""
    return device_code(device, at=time.time() + device.step)


def totp_code(user) -> str:
    return device_code(TOTPDevice.objects.get(user=user))


def key_code(hex_key: str) -> str:
    """The current code of a default device with the key `hex_key` (outside the database)."""
    return f"{TOTP(bytes.fromhex(hex_key)).token():06d}"


def log_in(client, user):
    """A verified session (password and TOTP already checked) for `user`, in its pharmacy
    when it belongs to one."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    membership = user.memberships.first()
    if membership is not None:
        session["pharmacy_id"] = str(membership.pharmacy_id)
    session.save()
    return client


# --- Patients and tests -------------------------------------------------------------------

TEST_DATA = {
    "kind": "sars_cov_2_antigen",
    "device": "Demo AG Rapid",
    "specimen": "nasal_swab",
    "result": "negative",
    "symptoms": False,
    "symptom_onset": None,
    "consent_transmission": True,
}


def make_patient(pharmacy, user, **overrides):
    """A patient of PATIENT_DATA with `overrides`. One NIR, one record per pharmacy: when
    the pharmacy already holds the default NIR and none is given, the new patient gets a
    NIR of its own."""
    data = {**PATIENT_DATA, **overrides}
    if "nir" not in overrides and services.find_patients(pharmacy, nir=data["nir"]).exists():
        order = Patient.objects.for_pharmacy(pharmacy).count() + 1
        data["nir"] = make_nir(data["sex"], data["birth_date"], order)
    return services.create_patient(pharmacy, user, data)


def earlier_today(minutes: int) -> datetime.datetime:
    """`minutes` ago, or, in the first minutes of the local day, halfway since midnight:
    a test made for today's list is on it whenever the suite runs."""
    now = timezone.localtime()
    since_midnight = now - now.replace(hour=0, minute=0, second=0, microsecond=0)
    return now - min(datetime.timedelta(minutes=minutes), since_midnight / 2)


def new_test_data(**overrides) -> dict:
    """What the submission service takes for a negative antigen test sampled 20 minutes
    ago (earlier today)."""
    return {**TEST_DATA, "sampled_at": earlier_today(20), **overrides}


def make_test(patient, user, **overrides):
    return services.record_tests(user, [(patient, new_test_data(**overrides))])[0]


def form_guards(record=None) -> dict:
    """The hidden fields a page's form carries: a fresh one-time token and, for the form
    of an existing patient or test, the state it was built from (the record as it is)."""
    guards = {form_tokens.FIELD: form_tokens.issue()}
    if record is not None:
        record = type(record)._base_manager.get(pk=record.pk)
    if isinstance(record, Patient):
        guards[BUILT_FROM_FIELD] = built_from_token(record, services.PATIENT_FIELDS)
    elif isinstance(record, ScreeningTest):
        guards[BUILT_FROM_FIELD] = built_from_token(record, services.TEST_FIELDS)
    return guards


def built_from(record) -> services.BuiltFrom:
    """A change made from `record` as it is (what a form built now would carry)."""
    fields = services.PATIENT_FIELDS if isinstance(record, Patient) else services.TEST_FIELDS
    return services.BuiltFrom.of(record, fields)


def screening_test_form(**changes) -> dict:
    """The new-test form as the page posts it: a positive antigen test sampled 15 minutes
    ago, no symptoms, consent given, no message to the patient."""
    sampled = earlier_today(15)
    return {
        "kind": "sars_cov_2_antigen",
        "device": "Demo AG Rapid",
        "specimen": "nasal_swab",
        "sampled_at": sampled.strftime("%Y-%m-%dT%H:%M"),
        "result": "positive",
        "symptoms": "",
        "symptom_onset": "",
        "consent_transmission": "on",
        "notify_by": "none",
        **form_guards(),
        **changes,
    }


def days_ago(days: int) -> datetime.datetime:
    """Noon, `days` days before today."""
    noon = datetime.datetime.combine(timezone.localdate(), datetime.time(12))
    return timezone.make_aware(noon) - datetime.timedelta(days=days)


def old_patient(pharmacy, user, *test_ages: int, acknowledged=True, **identity):
    """A patient registered 400 days ago, with a test sampled (and recorded) that many days
    ago for each age of `test_ages`, acknowledged by SI-DEP unless `acknowledged` is False."""
    patient = make_patient(pharmacy, user, **identity)
    Patient.objects.filter(pk=patient.pk).update(created_at=days_ago(400))
    tests = [make_test(patient, user, sampled_at=days_ago(age)) for age in test_ages]
    for test in tests:
        test.created_at = test.sampled_at  # in memory too: a later save() writes it back
        ScreeningTest.objects.filter(pk=test.pk).update(created_at=test.created_at)
    if acknowledged:
        Transmission.objects.filter(test__in=tests).update(state=Transmission.State.ACKNOWLEDGED)
    return patient, tests


# --- Unsaved objects, for unit tests that need no database --------------------------------

PARIS = ZoneInfo("Europe/Paris")
SAMPLED_AT = datetime.datetime(2026, 11, 23, 9, 30, tzinfo=PARIS)
CREATED_AT = datetime.datetime(2026, 11, 23, 10, 5, 12, tzinfo=PARIS)
PHARMACY = {"name": "Pharmacie des Lilas", "finess": "750000001", "address": "1 rue de Test"}
PHARMACIST = {"email": "pharmacist@example.org", "full_name": "Jean Dupont", "rpps": "10001234567"}


def sample_test(
    patient_fields=None, pharmacy_fields=None, pharmacist_fields=None, **test_fields
) -> ScreeningTest:
    """An unsaved test with everything an HL7 message reads."""
    pharmacy = Pharmacy(**{**PHARMACY, **(pharmacy_fields or {})})
    user = User(**{**PHARMACIST, **(pharmacist_fields or {})})
    patient = Patient(pharmacy=pharmacy, **{**PATIENT_DATA, **(patient_fields or {})})
    fields = {**TEST_DATA, "sampled_at": SAMPLED_AT, **test_fields}
    return ScreeningTest(pharmacy=pharmacy, patient=patient, performed_by=user, **fields)


# --- The REST API -------------------------------------------------------------------------


class ApiClient:
    """The Django test client, speaking JSON with a bearer token."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token

    def headers(self, extra: dict) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**headers, **extra}

    def get(self, path: str, headers=None, **params):
        return self.client.get(f"{API}{path}", params, headers=self.headers(headers or {}))

    def put(self, path: str, body, headers=None):
        return self.client.put(
            f"{API}{path}",
            json.dumps(body),
            content_type="application/json",
            headers=self.headers(headers or {}),
        )

    def post(
        self,
        path: str,
        body=None,
        raw: bytes | None = None,
        headers=None,
        content_type="application/json",
    ):
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(
            f"{API}{path}", data, content_type=content_type, headers=self.headers(headers or {})
        )
