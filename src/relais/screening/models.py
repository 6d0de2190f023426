import datetime
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from relais.accounts.models import Pharmacy
from relais.accounts.scoping import PharmacyScopedQuerySet
from relais.crypto.blind_index import blind_index
from relais.crypto.fields import EncryptedDateField, EncryptedTextField
from relais.phone import can_receive_sms
from relais.screening import catalogue, devices
from relais.screening.validation import normalise_name

NIR_INDEX = "patient.nir"
IDENTITY_INDEX = "patient.birth_name+birth_date"


class Versioned(models.Model):
    """A record people edit from forms and the API: `version` names the state a form or an
    ETag was built from. It grows by one on every change, and only through
    `screening.services.save_if_version` (a conditional UPDATE), so a stale form cannot
    silently overwrite a newer state."""

    version = models.PositiveIntegerField(default=1)

    class Meta:
        abstract = True


class Sex(models.TextChoices):
    MALE = "M", _("male")
    FEMALE = "F", _("female")
    UNKNOWN = "U", _("unknown")


class IdentityStatus(models.TextChoices):
    """How far a patient's identity can be trusted: three of the four statuses of the
    Référentiel national d'identitovigilance (RNIV, ANS, exigence EXI SI 07; codes of the
    FR Core code system fr-core-cs-identity-status). The fourth, RECUP (INS fetched from
    INSi, no identity document seen), needs an INSi call Relais does not make.

    Only a qualified identity (INS fetched from the INSi service *and* compared with an
    identity document) may be sent with its INS: see docs/sidep.md."""

    PROVISIONAL = "PROV", _("provisional")
    VALIDATED = "VALI", _("validated (identity document seen)")
    QUALIFIED = "QUAL", _("qualified (INS from the INSi service)")


class Patient(Versioned):
    """A person tested at one pharmacy. Every identity trait is encrypted."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.PROTECT, related_name="patients")
    birth_name = EncryptedTextField()
    used_name = EncryptedTextField()
    given_names = EncryptedTextField()
    birth_date = EncryptedDateField()
    sex = EncryptedTextField()
    birthplace_code = EncryptedTextField()
    nir = EncryptedTextField()
    address = EncryptedTextField()
    postal_code = EncryptedTextField()
    city = EncryptedTextField()
    phone = EncryptedTextField()
    email = EncryptedTextField()
    identity_status = models.CharField(
        max_length=4, choices=IdentityStatus.choices, default=IdentityStatus.PROVISIONAL
    )
    nir_index = models.CharField(max_length=64, blank=True, db_index=True)
    identity_index = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    objects = PharmacyScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            # One record per NIR in a pharmacy: two simultaneous submissions for the same
            # new person cannot both create it (the second finds the first, see
            # submissions.submit).
            models.UniqueConstraint(
                fields=["pharmacy", "nir_index"],
                condition=~Q(nir_index=""),
                name="screening_patient_one_per_nir",
            )
        ]

    def __str__(self):
        return f"Patient {self.pk}"

    def save(self, *args, **kwargs):
        self.refresh_indexes()
        super().save(*args, **kwargs)

    def refresh_indexes(self) -> None:
        scope = str(self.pharmacy_id)
        self.nir_index = blind_index(NIR_INDEX, scope, self.nir) if self.nir else ""
        self.identity_index = blind_index(
            IDENTITY_INDEX, scope, identity_key(self.birth_name, self.birth_date)
        )

    @property
    def display_name(self) -> str:
        return f"{(self.used_name or self.birth_name).upper()} {self.given_names}"


def is_duplicate_nir(error: Exception) -> bool:
    """Whether an IntegrityError is the one-patient-per-NIR index refusing a second record
    (PostgreSQL names the constraint, SQLite its columns)."""
    text = str(error)
    return "screening_patient_one_per_nir" in text or "screening_patient.nir_index" in text


def identity_key(birth_name: str, birth_date) -> str:
    return f"{normalise_name(birth_name)}|{birth_date.isoformat()}"


class NotifyBy(models.TextChoices):
    """How the patient chose, at the counter, to be told their result is ready."""

    NONE = "none", _("no message")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("e-mail")
    BOTH = "both", _("SMS and e-mail")


# The one rule of notification channels: which channels each choice means, and which
# field of the patient record each channel needs (the test form refuses a channel without
# it; result links are only sent where there is one).
NOTIFY_CHANNELS: dict[str, tuple[str, ...]] = {
    NotifyBy.NONE: (),
    NotifyBy.SMS: ("sms",),
    NotifyBy.EMAIL: ("email",),
    NotifyBy.BOTH: ("sms", "email"),
}
CHANNEL_ADDRESS_FIELD = {"sms": "phone", "email": "email"}
# What makes an address usable by a channel beyond being there: an SMS needs a mobile
# number (a landline is a valid phone number of the record, but cannot receive one).
CHANNEL_ADDRESS_USABLE: dict[str, Callable[[str], bool]] = {"sms": can_receive_sms, "email": bool}


def unusable_address(channel: str, patient: "Patient") -> bool:
    """The record has an address for `channel`, but one the channel cannot reach."""
    address = getattr(patient, CHANNEL_ADDRESS_FIELD[channel])
    return bool(address) and not CHANNEL_ADDRESS_USABLE[channel](address)


def reachable_channels(notify_by: str, patient: "Patient") -> list[str]:
    """The channels `notify_by` means for which the patient record has a usable address."""
    return [
        channel
        for channel in NOTIFY_CHANNELS.get(notify_by, ())
        if getattr(patient, CHANNEL_ADDRESS_FIELD[channel])
        and not unusable_address(channel, patient)
    ]


class ScreeningTest(Versioned):
    class Result(models.TextChoices):
        POSITIVE = "positive", _("positive")
        NEGATIVE = "negative", _("negative")
        INVALID = "invalid", _("invalid")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.PROTECT, related_name="tests")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="tests")
    kind = models.CharField(max_length=40, choices=catalogue.kind_choices())
    # The device as shown and sent: the catalogue's label, or the text typed for a device
    # the catalogue does not list (then device_code is empty: "unlisted").
    device = models.CharField(max_length=120, blank=True)
    device_code = models.CharField(max_length=20, blank=True)
    lot = models.CharField(max_length=40, blank=True)
    lot_expiry = models.DateField(null=True, blank=True)
    specimen = models.CharField(max_length=40, choices=catalogue.specimen_choices())
    sampled_at = models.DateTimeField(db_index=True)
    # The result of the kind's first analyte ("" while the test is in progress); a
    # multiplex kit's other analytes in other_results ({analyte kind: result}).
    result = models.CharField(max_length=16, choices=Result.choices, blank=True)
    other_results = models.JSONField(default=dict, blank=True)
    # When the result was validated; None while the test is in progress (the kit is
    # reading): nothing is sent to SI-DEP, nor to the patient, before.
    validated_at = models.DateTimeField(null=True, blank=True)
    symptoms = models.BooleanField(default=False)
    symptom_onset = models.DateField(null=True, blank=True)
    consent_transmission = models.BooleanField()
    notify_by = models.CharField(max_length=8, choices=NotifyBy.choices, default=NotifyBy.NONE)
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The account that recorded the test: the pharmacist at the counter (then also its
    # performer), the importer of a file, or an API credential's service user (the
    # credential reads what it recorded; its performer is the member it named by RPPS).
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = PharmacyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-sampled_at"]
        indexes = [
            models.Index(fields=["pharmacy", "sampled_at"]),
            # The tests in progress of a pharmacy, on top of every day page.
            models.Index(
                fields=["pharmacy", "sampled_at"],
                condition=Q(validated_at__isnull=True, cancelled_at__isnull=True),
                name="screening_test_in_progress",
            ),
            # A patient's tests near a sample time: the look-up of possible duplicates
            # (screening.submissions.TestsNearby), one per batch of submissions.
            models.Index(fields=["patient", "sampled_at"], name="screening_test_patient_time"),
            # The API's tests changed since a time (`updated_since`).
            models.Index(fields=["pharmacy", "updated_at"], name="screening_test_updated"),
        ]

    def __str__(self):
        return f"Test {self.pk}"

    @property
    def kind_info(self) -> catalogue.TestKind:
        return catalogue.TEST_KINDS[self.kind]

    @property
    def in_progress(self) -> bool:
        return self.validated_at is None and self.cancelled_at is None

    @property
    def catalogue_device(self) -> devices.Device | None:
        return devices.get(self.device_code) if self.device_code else None

    @property
    def reading_due_at(self) -> datetime.datetime:
        """When the kit can be read: its device's reading time, else its kind's."""
        device = self.catalogue_device
        minutes = device.reading_minutes if device else self.kind_info.reading_minutes
        return self.sampled_at + datetime.timedelta(minutes=minutes)

    def analyte_results(self) -> list[tuple[catalogue.TestKind, str]]:
        """(analyte, result code) for each analyte the test reads, in the kit's order:
        one for a single test, several for a multiplex kit ("" while in progress)."""
        analytes = self.kind_info.analytes
        first, others = analytes[0], analytes[1:]
        return [(first, self.result)] + [
            (analyte, (self.other_results or {}).get(analyte.code, "")) for analyte in others
        ]


class FormToken(models.Model):
    """A one-time form token that saved something (see screening.form_tokens): the same
    form posted again by the same user is shown `outcome` instead of saving twice. Holds
    no personal data: the token's digest and the address of what it saved."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64)
    outcome = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "digest"], name="screening_formtoken_once")
        ]
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self):
        return f"Form token {self.pk}"
