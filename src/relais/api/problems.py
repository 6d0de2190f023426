"""Errors as RFC 9457 problem details (application/problem+json), for every error."""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _

from relais.screening.submissions import CONFLICT_CODES, DUPLICATE_TEST

CONTENT_TYPE = "application/problem+json"
DOCS_PATH = "/api/v1/docs"

# slug: (status, title). The docs page lists them; `type` points at its entry.
PROBLEM_TYPES = {
    "malformed-json": (400, _("Malformed JSON")),
    "unauthorized": (401, _("Missing or invalid credentials")),
    "not-found": (404, _("Not found")),
    "method-not-allowed": (405, _("Method not allowed")),
    "test-cancelled": (409, _("The test was cancelled")),
    "patient-conflict": (409, _("The patient conflicts with a stored record")),
    "possible-duplicate-test": (409, _("Possible duplicate of a recent test")),
    "precondition-failed": (412, _("The test changed since the version you sent")),
    "payload-too-large": (413, _("Request body too large")),
    "uri-too-long": (414, _("URI too long")),
    "unsupported-media-type": (415, _("Unsupported media type")),
    "validation": (422, _("Invalid request")),
    "idempotency-key-reused": (422, _("Idempotency key reused for another request")),
    "precondition-required": (428, _("If-Match required")),
    "rate-limited": (429, _("Too many requests")),
    "server-error": (500, _("Internal server error")),
    "unavailable": (503, _("Service temporarily unavailable")),
}


# The rules a JSON Schema cannot state, so valid data by the document may still break
# them (422 with these error codes only, 409 for the conflicts with stored records):
# letters in names, the NIR's key and its agreement with the sex and birth date, dates
# against today and the birth date, which kit reads which specimen and analytes, the
# contact a notification needs, a qualified identity's traits, the performer's RPPS
# being one of the pharmacy's, the e-mail and phone number checks, a cursor being one
# the API signed. A batch (POST /tests/batch) answers these per result; any other
# error refuses the whole batch, as the document says it would.
BEYOND_THE_SCHEMA = {
    "name",
    "printable",
    "nir_format",
    "nir_key",
    "nir_sex",
    "nir_sex_digit",
    "nir_year",
    "nir_month",
    "email",
    "phone",
    "mobile",
    "birth_date_future",
    "birth_date_past",
    "sampled_future",
    "sampled_before_birth",
    "onset_required",
    "onset_future",
    "onset_birth",
    "lot_expired",
    "specimen_kind",
    "device_unknown",
    "device_kind",
    "device_specimen",
    "not_in_kit",
    "notify_landline",
    "notify_no_phone",
    "notify_no_email",
    "qualified_without_ins",
    "qualified_without_birthplace",
    "unknown_performer",
    "cursor",
    *CONFLICT_CODES,
    DUPLICATE_TEST,
}
# "required" of a field the schema makes optional: one of two fields (kind or
# device_code), a multiplex kit's other results, a name of spaces only.
REQUIRED_BEYOND_THE_SCHEMA = {
    "/test/kind",
    "/kind",
    "/patient/birth_name",
    "/patient/given_names",
    "/birth_name",
    "/given_names",
}


# A local sampling time (no offset) of a day past its month's end: format "date-time"
# needs an offset, so only the pattern states it.
INVALID_BEYOND_THE_SCHEMA = {"/test/sampled_at", "/sampled_at"}


def beyond_the_schema(error: dict) -> bool:
    """Whether a problem's error (pointers as POST /tests names them) breaks a rule the
    OpenAPI document cannot state: the data's fault, not the client software's."""
    if error["code"] == "invalid":
        return error["field"] in INVALID_BEYOND_THE_SCHEMA
    if error["code"] == "required":
        return error["field"] in REQUIRED_BEYOND_THE_SCHEMA or "/other_results/" in error["field"]
    return error["code"] in BEYOND_THE_SCHEMA


def field_error(field: str, code: str, message) -> dict:
    return {"field": field, "code": code, "message": str(message)}


class Problem(Exception):
    """Raised anywhere in the API; the API turns it into a problem response."""

    def __init__(
        self, slug: str, detail="", errors: list[dict] | None = None, headers=None, extra=None
    ):
        super().__init__(slug)
        self.slug = slug
        self.detail = str(detail)
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra or {}  # extension members of the problem (RFC 9457, 3.2)

    @property
    def status(self) -> int:
        return PROBLEM_TYPES[self.slug][0]


def problem_body(slug: str, detail="", instance: str = "", errors=None, extra=None) -> dict:
    status, title = PROBLEM_TYPES[slug]
    return {
        "type": f"{DOCS_PATH}#problem-{slug}",
        "title": str(title),
        "status": status,
        "detail": str(detail) or str(title),
        "instance": instance,
        "errors": errors or [],
        **(extra or {}),
    }


def problem_response(
    request, slug: str, detail="", errors=None, headers=None, extra=None
) -> HttpResponse:
    instance = request.path if request is not None else ""
    body = problem_body(slug, detail, instance, errors, extra)
    return stored_response(body["status"], body, headers)


def stored_response(status: int, body: dict | str, headers=None) -> HttpResponse:
    """A JSON answer (a dict, or JSON text already); problem+json when it is an error."""
    content_type = CONTENT_TYPE if status >= 400 else "application/json"
    text = body if isinstance(body, str) else json.dumps(body, cls=DjangoJSONEncoder)
    response = HttpResponse(text, status=status, content_type=content_type)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def form_field_errors(form, pointer: str) -> list[dict]:
    """A Django form's errors as problem `errors`, each field named by a JSON pointer."""
    found = []
    for name, errors in form.errors.as_data().items():
        field = pointer if name == "__all__" else f"{pointer}/{name}"
        for error in errors:
            for message in error.messages:
                found.append(field_error(field, error.code or "invalid", message))
    return found
