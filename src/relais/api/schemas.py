"""The API's request and response shapes.

Request schemas only check JSON types and refuse unknown fields; the rules (formats,
lengths, NIR, dates, catalogue) are the web forms', applied by the views. The enums
shown in the OpenAPI document come from the same catalogue the forms use.
"""

import datetime
import uuid

from ninja import Schema
from pydantic import ConfigDict, Field, StrictBool, StrictStr

from relais.screening import catalogue
from relais.screening.models import IdentityStatus, NotifyBy, Sex
from relais.screening.services import CANCEL_REASONS


class StrictInput(Schema):
    model_config = ConfigDict(extra="forbid")


class PatientIn(StrictInput):
    birth_name: StrictStr = Field(
        description="Birth name (nom de naissance), at most 100 characters."
    )
    used_name: StrictStr = Field("", description="Used name, if different, at most 100 characters.")
    given_names: StrictStr = Field(
        description="Given names, space-separated, at most 100 characters."
    )
    birth_date: StrictStr = Field(description="Birth date, YYYY-MM-DD.")
    sex: StrictStr = Field(
        description="M, F or U (unknown).", json_schema_extra={"enum": list(Sex.values)}
    )
    birthplace_code: StrictStr = Field(
        "", description="INSEE code of the birthplace (99xxx abroad), at most 5 characters."
    )
    nir: StrictStr = Field("", description="Social security number (15 characters).")
    address: StrictStr = Field("", description="Street address, at most 200 characters.")
    postal_code: StrictStr = Field("", description="Postal code (5 digits), at most 5 characters.")
    city: StrictStr = Field("", description="City, at most 100 characters.")
    phone: StrictStr = Field("", description="Mobile phone, national or E.164 form.")
    email: StrictStr = Field("", description="E-mail address, at most 254 characters.")
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


class TestIn(StrictInput):
    performer_rpps: StrictStr = Field(
        description="RPPS number (11 digits) of the pharmacist who did the test: a "
        "pharmacist or the owner of the credential's pharmacy, with this RPPS in their "
        "Relais account. SI-DEP gets it as the test's performer."
    )
    kind: StrictStr = Field(
        "",
        description="Test kind, from the catalogue (may be left empty with device_code).",
        json_schema_extra={"enum": ["", *catalogue.TEST_KINDS]},
    )
    device_code: StrictStr = Field(
        "",
        description="The device's code in the device catalogue (the EU list of rapid "
        "antigen tests, or a kit of ours, 'FR-...'); it names the kind when kind is empty.",
    )
    device: StrictStr = Field(
        "",
        description="An unlisted device's brand and reference, at most 120 characters "
        "(ignored with device_code).",
    )
    lot: StrictStr = Field("", description="The kit's lot number, at most 40 characters.")
    lot_expiry: StrictStr | None = Field(None, description="The lot's expiry date, YYYY-MM-DD.")
    specimen: StrictStr = Field(
        description="Specimen, allowed for the kind.",
        json_schema_extra={"enum": list(catalogue.SPECIMENS)},
    )
    sampled_at: StrictStr = Field(
        description="Sampling time, ISO 8601 with a UTC offset (without one, Europe/Paris time)."
    )
    result: StrictStr = Field(
        description="Result (of the kit's first analyte for a multiplex kit).",
        json_schema_extra={"enum": list(catalogue.RESULTS)},
    )
    other_results: dict[str, StrictStr] = Field(
        {},
        description="A multiplex kit's other results, by analyte (e.g. "
        '{"influenza_a_antigen": "negative", "influenza_b_antigen": "positive"}).',
    )
    symptoms: StrictBool = Field(False, description="The patient has symptoms.")
    symptom_onset: StrictStr | None = Field(
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


class PatientOut(Schema):
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


class TransmissionOut(Schema):
    state: str = Field(
        description="none, pending, in_flight, acknowledged, rejected, dead or withdrawn."
    )
    label: str = Field(description="The state in words, in the request's language.")
    next_attempt_at: datetime.datetime | None = Field(description="Next try, while waiting.")
    reason: str = Field(description="SI-DEP's answer for a rejection; empty otherwise.")


class TestOut(Schema):
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


class TestPage(Schema):
    items: list[TestOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class FieldError(Schema):
    field: str = Field(description="JSON pointer (body) or parameter name.")
    code: str
    message: str


class ProblemOut(Schema):
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


class HealthOut(Schema):
    status: str
