"""The API's request and response shapes.

Request schemas check JSON types, refuse unknown fields, and say (and enforce) every rule
a JSON Schema can: lengths, the shape of numbers and dates, the catalogue's enums. The
rules beyond a schema (letters in names, the NIR's key, dates against today, which kit
reads what, who the performer is) are the web forms', applied by the views. The enums
come from the same catalogue the forms use.
"""

import datetime
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from pydantic.json_schema import JsonDict

from relais.api.idempotency import KEY_PATTERN, MAX_KEY_LENGTH
from relais.screening import catalogue
from relais.screening.models import IdentityStatus, NotifyBy, Sex
from relais.screening.services import CANCEL_REASONS

# Plain pydantic models, not ninja's Schema: it wraps every value in an attribute getter
# (to read model instances), which costs more than the rest of validating a body, and
# bodies and answers here are dicts.


class StrictInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ASCII digits only ("\\d" is any script's digits in some regex engines); years 0001 to
# 9999 (Python has no year 0).
YEAR = r"(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
DATE_PATTERN = rf"^{YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
# A local time (Europe/Paris) without an offset.
DATETIME_PATTERN = (
    rf"^{YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]"
    r"(:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$"
)


NO_NUL = r"^[^\x00]*$"


def text(
    default=..., *, max_length: int, pattern: str | None = None, min_length: int = 0, **kwargs
):
    """A text of `min_length` to `max_length` characters as sent (checked here). `pattern`
    is the document's statement of the form's rules (checked by the form, with its
    messages and together with the form's other errors); without a pattern, the text may
    hold anything but NUL, which every form field refuses."""
    extra: JsonDict = {"pattern": pattern or NO_NUL}
    return Field(
        default,
        min_length=min_length or None,
        max_length=max_length,
        json_schema_extra=extra,
        **kwargs,
    )


def date(default=..., **kwargs):
    """YYYY-MM-DD, a real calendar day (format "date"): the form's rule, as above. The
    form would read "" as no date, which the pattern refuses: refused here (min_length)."""
    extra: JsonDict = {"pattern": DATE_PATTERN, "format": "date"}
    return Field(default, min_length=1, json_schema_extra=extra, **kwargs)


class PatientIn(StrictInput):
    birth_name: StrictStr = text(
        max_length=100,
        min_length=1,
        description="Birth name (nom de naissance), at most 100 characters.",
    )
    used_name: StrictStr = text(
        "", max_length=100, description="Used name, if different, at most 100 characters."
    )
    given_names: StrictStr = text(
        max_length=100,
        min_length=1,
        description="Given names, space-separated, at most 100 characters.",
    )
    birth_date: StrictStr = date(description="Birth date, YYYY-MM-DD.")
    sex: StrictStr = Field(
        description="M, F or U (unknown).", json_schema_extra={"enum": list(Sex.values)}
    )
    birthplace_code: StrictStr = text(
        "",
        max_length=5,
        pattern=r"^([0-9]{5}|2[ABab][0-9]{3})?$",
        description="INSEE code of the birthplace (99xxx abroad): 5 digits, or 2A/2B then "
        "3 digits.",
    )
    nir: StrictStr = text(
        "",
        max_length=21,
        description="Social security number: 15 characters (digits, 2A/2B for Corsica), "
        "spaces, dots or hyphens between them allowed.",
    )
    address: StrictStr = text(
        "", max_length=200, description="Street address, at most 200 characters."
    )
    postal_code: StrictStr = text(
        "", max_length=5, pattern=r"^([0-9]{5})?$", description="Postal code (5 digits)."
    )
    city: StrictStr = text("", max_length=100, description="City, at most 100 characters.")
    phone: StrictStr = text(
        "",
        max_length=30,
        description="Mobile phone, national or E.164 form, at most 30 characters.",
    )
    email: StrictStr = text(
        "", max_length=254, description="E-mail address, at most 254 characters."
    )
    identity_status: StrictStr = Field(
        IdentityStatus.PROVISIONAL.value,
        description="The identity's status (Référentiel national d'identitovigilance): PROV "
        "provisional; VALI validated, an identity document was seen; QUAL qualified, the INS "
        "was fetched from the INSi service by the caller's software and compared with an "
        "identity document - then nir and birthplace_code are required and must be the "
        "traits INSi returned. Empty means provisional. Only a qualified identity is sent "
        "to SI-DEP with its INS.",
        json_schema_extra={"enum": ["", *IdentityStatus.values]},
    )


SecondaryAnalyte = Literal[catalogue.SECONDARY_ANALYTES]  # type: ignore[valid-type]
ResultCode = Literal[tuple(catalogue.RESULTS)]  # type: ignore[valid-type]


class TestIn(StrictInput):
    # No form checks it: the pattern is enforced here (a batch refuses a body against
    # the document whole, and an RPPS of another shape is that).
    performer_rpps: StrictStr = Field(
        max_length=11,
        pattern=r"^[0-9]{11}$",
        description="RPPS number (11 digits) of the pharmacist who did the test: a "
        "pharmacist or the owner of the credential's pharmacy, with this RPPS in their "
        "Relais account. SI-DEP gets it as the test's performer.",
    )
    kind: StrictStr = Field(
        "",
        description="Test kind, from the catalogue (may be left empty with device_code).",
        json_schema_extra={"enum": ["", *catalogue.TEST_KINDS]},
    )
    device_code: StrictStr = text(
        "",
        max_length=20,
        description="The device's code in the device catalogue (the EU list of rapid "
        "antigen tests, or a kit of ours, 'FR-...'); it names the kind when kind is empty.",
    )
    device: StrictStr = text(
        "",
        max_length=120,
        description="An unlisted device's brand and reference, at most 120 characters "
        "(ignored with device_code).",
    )
    lot: StrictStr = text(
        "", max_length=40, description="The kit's lot number, at most 40 characters."
    )
    lot_expiry: StrictStr | None = date(None, description="The lot's expiry date, YYYY-MM-DD.")
    specimen: StrictStr = Field(
        description="Specimen, allowed for the kind.",
        json_schema_extra={"enum": list(catalogue.SPECIMENS)},
    )
    sampled_at: StrictStr = Field(
        json_schema_extra={"pattern": DATETIME_PATTERN},
        description="Sampling time, ISO 8601 (YYYY-MM-DDTHH:MM, seconds optional) with a UTC "
        "offset (without one, Europe/Paris time).",
    )
    result: StrictStr = Field(
        description="Result (of the kit's first analyte for a multiplex kit).",
        json_schema_extra={"enum": list(catalogue.RESULTS)},
    )
    other_results: dict[SecondaryAnalyte, ResultCode] = Field(  # type: ignore[valid-type]
        {},
        description="A multiplex kit's other results, by analyte (e.g. "
        '{"influenza_a_antigen": "negative", "influenza_b_antigen": "positive"}).',
    )
    symptoms: StrictBool = Field(False, description="The patient has symptoms.")
    symptom_onset: StrictStr | None = date(
        None, description="Date the symptoms began, YYYY-MM-DD (required with symptoms)."
    )
    consent_transmission: StrictBool = Field(
        description="The patient was informed of the transmission to SI-DEP."
    )
    notify_by: StrictStr = Field(
        NotifyBy.NONE.value,
        description="How the patient is told the result is ready.",
        json_schema_extra={"enum": list(NotifyBy.values)},
    )


class NewTestIn(TestIn):
    new_sample: StrictBool = Field(
        False,
        description="This is a new sample: record it even though the patient has a test "
        "reading the same analyte sampled within 2 hours (without it, such a test is "
        "refused as a possible duplicate, 409 possible-duplicate-test).",
    )


class TestSubmission(StrictInput):
    patient: PatientIn
    test: NewTestIn


# The most results one batch may carry (POST /api/v1/tests/batch).
MAX_BATCH_ITEMS = 500


class BatchItemIn(TestSubmission):
    idempotency_key: StrictStr | None = Field(
        None,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=KEY_PATTERN,
        description="Like the Idempotency-Key header of POST /tests, for this result alone "
        "(the same keys: a result sent alone and then in a batch with the same key and "
        "body is recorded once). Kept 24 hours.",
    )


class BatchIn(StrictInput):
    items: list[BatchItemIn] = Field(
        min_length=1,
        max_length=MAX_BATCH_ITEMS,
        description=f"1 to {MAX_BATCH_ITEMS} results, each as the body of POST /tests.",
    )


class PatientOut(BaseModel):
    """A patient's identity and contact as stored (the phone in E.164 form)."""

    id: uuid.UUID
    birth_name: str
    used_name: str
    given_names: str
    birth_date: datetime.date
    sex: str
    birthplace_code: str
    nir: str
    address: str
    postal_code: str
    city: str
    phone: str
    email: str
    version: int = Field(
        description="Grows by one on each change; the ETag header carries it. Send it back "
        "as If-Match to correct the patient."
    )


class PatientCorrected(PatientOut):
    changed_fields: list[str] = Field(
        description="Fields the correction changed (none: nothing sent)."
    )


class CancellationIn(StrictInput):
    reason: StrictStr = Field(
        description="Why the test is cancelled: wrong_patient (recorded for the wrong "
        "patient: SI-DEP is told the result was for someone else), entered_in_error, "
        "duplicate or not_performed.",
        json_schema_extra={"enum": list(CANCEL_REASONS)},
    )


class TransmissionOut(BaseModel):
    state: str = Field(
        description="none, pending, in_flight, acknowledged, rejected, dead or withdrawn."
    )
    label: str = Field(description="The state in words, in the request's language.")
    next_attempt_at: datetime.datetime | None = Field(description="Next try, while waiting.")
    reason: str = Field(description="SI-DEP's answer for a rejection; empty otherwise.")


class TestOut(BaseModel):
    """A test as the API shows it: no identity, and no patient id (reading a test must not
    tie it to a person the caller may not have identified)."""

    id: uuid.UUID
    kind: str
    device_code: str
    device: str
    lot: str
    lot_expiry: datetime.date | None
    specimen: str
    sampled_at: datetime.datetime
    result: str = Field(description="Empty while the test is in progress (see validated_at).")
    other_results: dict[str, str]
    validated_at: datetime.datetime | None = Field(
        description="When the result was entered; null while the test is in progress."
    )
    symptoms: bool
    symptom_onset: datetime.date | None
    consent_transmission: bool
    notify_by: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    cancelled_at: datetime.datetime | None
    version: int = Field(
        description="Grows by one on each change; the ETag header carries it. Send it back "
        "as If-Match to correct the test."
    )
    changed_at: datetime.datetime = Field(
        description="The last change of the test or of its transmission state (the later "
        "of updated_at and the latest transmission state change): what `updated_since` "
        "compares."
    )
    transmission: TransmissionOut


class TestCreated(TestOut):
    patient_created: bool = Field(description="A new patient record was created.")
    patient_id: uuid.UUID | None = Field(
        description="The patient's id when this request created the patient or gave its "
        "NIR; null when a stored patient was found by name and birth date."
    )


class TestCorrected(TestOut):
    changed_fields: list[str] = Field(
        description="Fields the correction changed (none: nothing sent)."
    )


class TestPage(BaseModel):
    items: list[TestOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class FieldError(BaseModel):
    field: str = Field(description="JSON pointer (body) or parameter name.")
    code: str
    message: str


class ProblemOut(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError]
    earlier_test_id: uuid.UUID | None = Field(
        None,
        description="possible-duplicate-test only: the test this one may duplicate, when "
        "the credential may read it.",
    )


class BatchItemOut(BaseModel):
    status: int = Field(
        description="What POST /tests would have answered for this result: 201 recorded, "
        "409 or 422 refused (nothing recorded for it).",
        json_schema_extra={"enum": [201, 409, 422]},
    )
    test: TestCreated | None = Field(description="The recorded test (201); null otherwise.")
    problem: ProblemOut | None = Field(
        description="Why the result was refused (409, 422), its fields as JSON pointers "
        "into the batch (/items/3/patient/nir); null otherwise."
    )


class BatchOut(BaseModel):
    items: list[BatchItemOut] = Field(description="One outcome per result, in their order.")


class HealthOut(BaseModel):
    status: str
