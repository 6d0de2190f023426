"""The REST API for pharmacy software, version 1, under /api/v1/.

Every answer is JSON; every error is an RFC 9457 problem (see problems.py). Each
operation is scoped to the calling credential's pharmacy: another pharmacy's test
answers 404, exactly like a missing one.
"""

import datetime
import json
import logging
import re
import traceback
import uuid
from dataclasses import dataclass, field
from functools import wraps

from django.conf import settings
from django.core import signing
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpRequest
from django.http.request import RawPostDataException
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from ninja import Header, NinjaAPI, Query
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from relais.api import credentials, idempotency, schemas
from relais.api.auth import CredentialAuth, check_rate
from relais.api.problems import (
    CONTENT_TYPE,
    PROBLEM_TYPES,
    Problem,
    beyond_the_schema,
    field_error,
    form_field_errors,
    problem_body,
    problem_response,
    stored_response,
)
from relais.api.schemas import (
    BatchIn,
    BatchItemIn,
    BatchOut,
    CancellationIn,
    HealthOut,
    PatientCorrected,
    PatientIn,
    PatientOut,
    ProblemOut,
    TestCorrected,
    TestCreated,
    TestIn,
    TestOut,
    TestPage,
    TestSubmission,
)
from relais.audit.events import event, record_many
from relais.lib.database import RETRY_AFTER_SECONDS
from relais.screening import catalogue, services, submissions
from relais.screening.forms import CheckingPatientForm, CheckingScreeningTestForm
from relais.screening.models import Patient, ScreeningTest
from relais.transmission.services import (
    changed_since,
    describe,
    load_transmissions,
    with_transmissions,
)

log = logging.getLogger(__name__)

WWW_AUTHENTICATE = 'Bearer realm="relais"'
CURSOR_SALT = "relais.api.cursor"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def error_responses(*statuses: int) -> dict:
    return {status: ProblemOut for status in statuses}


COMMON_ERRORS = (401, 414, 429, 500, 503)
BODY_ERRORS = (400, 413, 415, 422)


def body_limit(request) -> int:
    """The most bytes of JSON an operation reads: a batch carries up to 500 results."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name == "create_test_batch":
        return settings.API_MAX_BATCH_BYTES
    return settings.API_MAX_BODY_BYTES


def body_too_large(request) -> Problem:
    limit = body_limit(request)
    return Problem(
        "payload-too-large", _("The body may be %(limit)d bytes at most.") % {"limit": limit}
    )


class BoundedJsonParser(Parser):
    """Accepts at most RELAIS_API_MAX_BODY_BYTES of JSON (a batch RELAIS_API_MAX_BATCH_BYTES),
    whatever the headers say.

    (Django itself refuses to read more than RELAIS_MAX_REQUEST_BYTES into memory.)"""

    def parse_body(self, request):
        content_type = request.content_type or ""
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise Problem("unsupported-media-type", _("Send the body as application/json."))
        limit = body_limit(request)
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit() or int(declared) > limit:
            raise body_too_large(request)
        try:
            raw = request.read(limit + 1)
        except RawPostDataException:
            raw = request.body
        if len(raw) > limit:
            raise body_too_large(request)
        try:
            payload = json.loads(raw)
        except ValueError:
            raise Problem("malformed-json", _("The body is not valid JSON (UTF-8).")) from None
        if (pointer := first_unencodable_text(payload)) is not None:
            # JSON's \ud800 escapes decode to lone surrogates, which no UTF-8 text (the
            # database, HL7, the logs) can hold: refused here, not a 500 further down.
            raise Problem(
                "validation",
                _("Some fields are invalid."),
                [field_error(pointer, "invalid_text", _("Contains an invalid character."))],
            )
        request.relais_payload = payload
        return payload


def first_unencodable_text(value, pointer: str = "") -> str | None:
    """The JSON pointer of the first key or text that is not valid Unicode, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return pointer or "/"
        return None
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return None
    for key, item in items:
        name = str(key).replace("~", "~0").replace("/", "~1")
        if isinstance(key, str) and first_unencodable_text(key) is not None:
            return f"{pointer}/{name.encode('utf-8', 'replace').decode()}"
        if (found := first_unencodable_text(item, f"{pointer}/{name}")) is not None:
            return found
    return None


def header(description: str, schema: dict) -> dict:
    return {"description": description, "required": True, "schema": schema}


ETAG_HEADER = header(
    "The version of the test or patient, quoted.", {"type": "string", "pattern": r'^"[0-9]+"$'}
)
RETRY_AFTER_HEADER = header("Seconds to wait.", {"type": "integer", "minimum": 0})
# The headers every answer of a status carries (the server sets them on every one).
HEADERS_BY_STATUS = {
    401: {"WWW-Authenticate": header("The Bearer challenge.", {"type": "string"})},
    412: {"ETag": ETAG_HEADER},
    429: {"Retry-After": RETRY_AFTER_HEADER},
    503: {"Retry-After": RETRY_AFTER_HEADER},
}
# The operations whose success carries the test's or the patient's ETag (with_etag).
ETAG_OPERATIONS = {
    "create_test",
    "get_test",
    "correct_test",
    "cancel_test",
    "get_patient",
    "correct_patient",
}


class RelaisAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        """Errors are declared as application/problem+json, which is what they are, with
        the headers the server always sends."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for path_item in schema["paths"].values():
            for operation in path_item.values():
                name = operation["operationId"].rsplit("relais_api_v1_", 1)[-1]
                for parameter in operation.get("parameters", []):
                    for choice in parameter["schema"].get("anyOf", [parameter["schema"]]):
                        if choice.get("pattern") == RFC3339:  # a 30 February too is refused
                            choice["format"] = "date-time"
                for status, response in operation.get("responses", {}).items():
                    if int(status) >= 400 and "content" in response:
                        response["content"] = {
                            CONTENT_TYPE: response["content"]["application/json"]
                        }
                        response["description"] = str(PROBLEM_TYPES_BY_STATUS[int(status)])
                    headers = dict(HEADERS_BY_STATUS.get(int(status), {}))
                    if int(status) < 300 and name in ETAG_OPERATIONS:
                        headers["ETag"] = ETAG_HEADER
                    if headers:
                        response["headers"] = headers
        return schema


PROBLEM_TYPES_BY_STATUS = {status: title for status, title in reversed(PROBLEM_TYPES.values())}

api = RelaisAPI(
    title="Relais API",
    version="1",
    description=(
        "Send screening-test results from the pharmacy's software. Authenticate with "
        "`Authorization: Bearer rl_<prefix>_<secret>`, a credential the pharmacy owner "
        "creates in Relais. Errors are RFC 9457 problem details."
    ),
    urls_namespace="api-v1",
    docs_url=None,
    openapi_url="/openapi.json",
    auth=CredentialAuth(),
    parser=BoundedJsonParser(),
)


# --- Errors -------------------------------------------------------------------------------


@api.exception_handler(Problem)
def on_problem(request, exc: Problem):
    return problem_response(request, exc.slug, exc.detail, exc.errors, exc.headers, exc.extra)


@api.exception_handler(AuthenticationError)
def on_missing_credentials(request, exc):
    return problem_response(
        request,
        "unauthorized",
        _("Send an API credential as `Authorization: Bearer <token>`."),
        headers={"WWW-Authenticate": WWW_AUTHENTICATE},
    )


@api.exception_handler(ValidationError)
def on_schema_error(request, exc: ValidationError):
    errors = [schema_error(error) for error in exc.errors]
    if not request.body and any(error["field"] == "/" for error in errors):
        return problem_response(request, "malformed-json", _("The body is empty."))
    return problem_response(request, "validation", _("Some fields are invalid."), errors)


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return problem_response(request, "not-found")


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, Problem):  # raised by our parser, wrapped by ninja
        return on_problem(request, exc.__cause__)
    slug = {400: "malformed-json", 404: "not-found", 405: "method-not-allowed"}
    return problem_response(request, slug.get(exc.status_code, "server-error"))


@api.exception_handler(RequestDataTooBig)
def on_request_too_big(request, exc):
    return on_problem(request, body_too_large(request))


def on_database_unavailable(request, exc):
    """The database is down, restarting or frozen: try again later (a POST with the same
    Idempotency-Key, in case the failure hit its commit)."""
    log.error("API request %s: database unavailable (%s)", request.path, type(exc).__name__)
    return problem_response(
        request,
        "unavailable",
        _(
            "The service is briefly unavailable. Try again later, with the same "
            "Idempotency-Key for a POST."
        ),
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


api.add_exception_handler(OperationalError, on_database_unavailable)
api.add_exception_handler(InterfaceError, on_database_unavailable)


@api.exception_handler(Exception)
def on_unexpected_error(request, exc):
    # Frames only: an exception's message may quote the data that caused it.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("API request %s failed: %s\n%s", request.path, type(exc).__name__, frames)
    return problem_response(request, "server-error", _("The error has been logged."))


def schema_error(error: dict) -> dict:
    """A pydantic error from ninja as a problem entry: body fields as JSON pointers."""
    # "[key]": pydantic's mark of a refused key, which the pointer already ends with.
    location = [str(part) for part in error.get("loc", ()) if part != "[key]"]
    if location[:1] == ["body"]:
        field = "/" + "/".join(location[2:])
    else:
        field = ".".join(location[1:]) or "/"
    code = error.get("type", "invalid")
    message = {
        "extra_forbidden": _("Unknown field."),
        "missing": _("This field is required."),
        "literal_error": _("Not one of the allowed values."),
    }.get(code, error.get("msg", _("Invalid value.")))
    if code == "string_too_long":
        limit = error.get("ctx", {}).get("max_length", 0)
        message = _("At most %(limit)d characters.") % {"limit": limit}
    return field_error(field, code, message)


@csrf_exempt  # no session here: answer 404, not the CSRF failure page
def not_found_view(request: HttpRequest, path: str = ""):
    """Any other address under /api/v1/: a problem, not an HTML page."""
    return problem_response(request, "not-found")


def problem_urls(patterns):
    """Ninja answers an unsupported method with a bare 405; make it a problem too."""

    def wrap(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            if response.status_code == 405 and response.get("Content-Type") != CONTENT_TYPE:
                return problem_response(
                    request, "method-not-allowed", headers={"Allow": response.get("Allow", "")}
                )
            return response

        return wrapped

    for pattern in patterns:
        pattern.callback = wrap(pattern.callback)
    return patterns


# --- Helpers ------------------------------------------------------------------------------


def form_data(schema) -> dict:
    return {name: value for name, value in schema.model_dump().items() if value is not None}


def test_form_data(schema: TestIn) -> dict:
    """The test form's data: a multiplex kit's other results go in their own fields
    (an analyte the kit does not read is then refused by the form)."""
    data = form_data(schema)
    data.pop("performer_rpps", None)  # not the form's: see performer_of
    for analyte, result in data.pop("other_results", {}).items():
        if analyte not in catalogue.SECONDARY_ANALYTES:
            raise Problem(
                "validation",
                _("Some fields are invalid."),
                [
                    field_error(
                        f"/test/other_results/{analyte}",
                        "not_in_kit",
                        _("No kit reads this analyte after its first one."),
                    )
                ],
            )
        data[catalogue.other_result_field(analyte)] = result
    return data


COMPUTED_FIELDS = ("transmission", "changed_at")


# Fields the API names otherwise than the model.
API_FIELD_NAMES = {
    "performed_by": "performer_rpps",
    # A multiplex kit's other results: the form's fields, the API's other_results.
    **{
        catalogue.other_result_field(analyte): f"other_results/{analyte}"
        for analyte in catalogue.SECONDARY_ANALYTES
    },
}


def api_pointer(section: str, field: str) -> str:
    """The JSON pointer of a form's field in the request body."""
    return f"{section}/{API_FIELD_NAMES.get(field, field)}".rstrip("/")


UNKNOWN_PERFORMER = _("No pharmacist of the pharmacy has this RPPS number in Relais.")


def performer(request, rpps: str):
    """The pharmacist or owner of the credential's pharmacy with this RPPS, or None; read
    once per request (a batch names the same few pharmacists many times)."""
    known = request.__dict__.setdefault("relais_performers", {})
    if rpps not in known:
        known[rpps] = credentials.performer(request.auth, rpps)
    return known[rpps]


def performer_of(request, schema: TestIn, pointer: str):
    """The member of the credential's pharmacy the test names as its performer (422 if
    none: the RPPS of no pharmacist or owner of this pharmacy)."""
    member = performer(request, schema.performer_rpps)
    if member is None:
        raise Problem(
            "validation",
            _("Some fields are invalid."),
            [field_error(pointer, "unknown_performer", UNKNOWN_PERFORMER)],
        )
    return member


def submission_of(request, payload: TestSubmission) -> submissions.Submission:
    """The body of POST /tests (or a result of a batch) for the submission service; an
    unknown performer is an error of the submission, reported with the forms' own."""
    member = performer(request, payload.test.performer_rpps)
    unknown = submissions.FieldError(
        "test", "performed_by", "unknown_performer", str(UNKNOWN_PERFORMER)
    )
    return submissions.Submission(
        patient=form_data(payload.patient),
        test=test_form_data(payload.test),
        performer=member,
        errors=[unknown] if member is None else [],
    )


def created_body(checked: submissions.Checked) -> dict:
    return test_body(
        checked.recorded_test,
        TestCreated,
        patient_created=checked.patient_created,
        patient_id=disclosed_patient_id(checked),
    )


def test_body(test: ScreeningTest, schema=TestOut, **extra) -> dict:
    load_transmissions([test])  # one query for `describe` and `changed_at`, or none
    data = {
        field: getattr(test, field)
        for field in TestOut.model_fields
        if field not in COMPUTED_FIELDS
    }
    data["transmission"] = describe(test)
    data["changed_at"] = changed_at(test)
    return schema.model_validate({**data, **extra}).model_dump(mode="json")


def changed_at(test: ScreeningTest) -> datetime.datetime:
    """The later of the test's last change and its transmissions' last state change."""
    return max([test.updated_at, *(row.state_changed_at for row in test.transmissions.all())])


def disclosed_patient_id(checked: submissions.Checked) -> uuid.UUID | None:
    """The patient's id only when the caller created the patient or named it by its NIR:
    an id given for a name and birth date would let a leaked credential tie a person to
    the pharmacy's records of them."""
    patient = checked.recorded_test.patient
    typed_nir = checked.patient_form.cleaned_data.get("nir") if checked.patient_form else ""
    if checked.patient_created or (typed_nir and patient.nir == typed_nir):
        return patient.pk
    return None


def submission_problem(request, checked: submissions.Checked) -> Problem:
    """The refused submission's errors as one problem: 409 when the NIR or identity
    belongs to (or may be) another stored patient, or when the only error is a possible
    duplicate of a recent test (with that test's id if the credential may read it); else
    422."""
    earlier = checked.earlier_test
    # The earlier test is named (id, kind, time) only to a credential that may read it.
    readable = bool(
        earlier is not None
        and earlier.id is not None
        and credentials.readable_tests(request.auth).filter(pk=earlier.id).exists()
    )
    errors = [
        field_error(
            api_pointer(f"/{error.section}", error.field),
            error.code,
            error.message
            if error.code != submissions.DUPLICATE_TEST or readable
            else submissions.undisclosed_duplicate_message(),
        )
        for error in checked.errors
    ]
    codes = {error.code for error in checked.errors}
    if codes & submissions.CONFLICT_CODES:
        return Problem("patient-conflict", _("The patient conflicts with a stored record."), errors)
    if codes == {submissions.DUPLICATE_TEST}:
        return Problem(
            "possible-duplicate-test",
            _(
                "The patient has a test reading the same analyte sampled within 2 hours: "
                'send "new_sample": true in the test if this is a new sample.'
            ),
            errors,
            extra={"earlier_test_id": str(earlier.id)} if readable and earlier else None,
        )
    return Problem("validation", _("Some fields are invalid."), errors)


def validate_correction(test: ScreeningTest, corrected: TestIn) -> dict:
    form = CheckingScreeningTestForm(data=test_form_data(corrected), patient=test.patient)
    if not form.is_valid():
        errors = [
            {**error, "field": api_pointer("", error["field"].lstrip("/"))}
            for error in form_field_errors(form, "")
        ]
        raise Problem("validation", _("Some fields are invalid."), errors)
    return form.cleaned_data


def caller_of(request) -> submissions.Caller:
    """The credential's pharmacy and service user; the audit log names the credential."""
    credential = request.auth
    return submissions.Caller(
        pharmacy=credential.pharmacy,
        user=credential.service_user,
        request=request,
        details={"via": "api", "credential": credential.prefix},
    )


def audit(action: str, request, target=None, **details):
    audit_each(action, request, [target], **details)


def audit_each(action: str, request, targets: list, **details):
    """One event per target (one insert), so the log tells which records were read."""
    caller = caller_of(request)
    record_many(
        [
            event(
                action,
                request=request,
                actor=caller.user,
                pharmacy=caller.pharmacy,
                target=target,
                details={**caller.details, **details},
            )
            for target in targets
        ]
    )


def readable_test_or_404(request, test_id) -> ScreeningTest:
    """A test the credential may read; any other answers 404, exactly like a missing one."""
    test = (
        credentials.readable_tests(request.auth)
        .select_related("patient")
        .filter(pk=test_id)
        .first()
    )
    if test is None:
        raise Http404
    return test


def idempotent(request, key: str | None, handler) -> tuple[int, str]:
    key = idempotency.read_key(request) if key is not None else None
    canonical = idempotency.canonical_request(
        request.method, request.path, getattr(request, "relais_payload", None)
    )
    return idempotency.run_once(request.auth.pharmacy, key, canonical, handler)


IDEMPOTENCY_KEY = Header(
    None,
    alias="Idempotency-Key",
    description="Any unique string (e.g. a UUID). A retry with the same key and body "
    "gets the first answer; keys are kept 24 hours.",
    min_length=1,
    max_length=idempotency.MAX_KEY_LENGTH,
    pattern=idempotency.KEY_PATTERN,
)


# Real months, days, hours, minutes and seconds (no leap second: Python has none), ASCII
# digits; the OpenAPI document adds format "date-time", which rules out a 30 February.
RFC3339 = (
    rf"^{schemas.YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]"
    r":[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
SINCE = Query(
    None,
    description="Only tests recorded at or after this time (RFC 3339, with seconds and offset).",
    pattern=RFC3339,
)
UPDATED_SINCE = Query(
    None,
    description="Only tests whose data or transmission state (e.g. acknowledged, "
    "rejected) changed at or after this time (RFC 3339, with seconds and offset), "
    "in the order of their `changed_at`. Poll with the largest `changed_at` you read.",
    pattern=RFC3339,
)
CURSOR = Query(None, description="`next_cursor` of the previous page.", max_length=500)
LIMIT = Query(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Page size.")


# --- Operations ---------------------------------------------------------------------------


@api.get(
    "/health",
    auth=None,
    response={200: HealthOut, **error_responses(414, 500)},
    summary="Health check",
    tags=["service"],
)
def health(request):
    """Answers without touching the database."""
    return {"status": "ok"}


@api.post(
    "/tests",
    response={201: TestCreated, **error_responses(*COMMON_ERRORS, *BODY_ERRORS, 409)},
    summary="Record a test result",
    tags=["tests"],
)
def create_test(request, payload: TestSubmission, idempotency_key: str | None = IDEMPOTENCY_KEY):
    """Finds the patient (by NIR, else by birth name, birth date and given names) or
    creates it, records the test, and queues its transmission to SI-DEP. The patient's
    stored record is not changed when found; a stored patient with the same NIR (or name
    and birth date) but another birth date, sex or birth name is a conflict (409), and
    the test is checked against the stored record (e.g. `notify_by` needs its phone or
    e-mail). A new patient whose birth name and birth date are a stored patient's, with
    the same given names but another NIR, or close given names (another order, fewer),
    may be that patient: refused (409 patient-conflict; register a second person at the
    counter). A test of the same patient reading the same analyte as a non-cancelled
    test sampled within 2 hours is refused as a possible duplicate (409
    possible-duplicate-test, with `earlier_test_id` when the credential may read that
    test) unless `test.new_sample` is true."""

    def submit():
        [checked] = submissions.submit(caller_of(request), [submission_of(request, payload)])
        if not checked.ok:
            raise submission_problem(request, checked)
        return 201, created_body(checked)

    status, body = idempotent(request, idempotency_key, submit)
    return with_etag(stored_response(status, body))


@api.post(
    "/tests/batch",
    url_name="create_test_batch",
    response={200: BatchOut, **error_responses(*COMMON_ERRORS, *BODY_ERRORS)},
    summary="Record many test results",
    tags=["tests"],
)
def create_test_batch(request, payload: BatchIn):
    """Up to 500 results in one request (the day's results of the pharmacy's software),
    each as the body of POST /tests, recorded in one transaction by the same rules. The
    answer is 200 with one outcome per result, in their order: what POST /tests would
    have answered for it (201 with the test, or 409 / 422 with the problem, nothing
    recorded for that result) when it breaks a rule this document cannot state (a NIR's
    key, a conflict with a stored patient, a possible duplicate...). A body against this
    document (a missing or unknown field, a value not in its enum, more than 500
    results) is refused whole (422, nothing recorded), as is a body over
    RELAIS_API_MAX_BATCH_BYTES (413). Each result may carry its own `idempotency_key`:
    a retried batch gets the first answer of every result recorded with a key, and
    records the others afresh. The rate limit counts one request per result."""
    check_rate(request.auth, cost=len(payload.items) - 1)  # the request itself is counted
    raw_items = request.relais_payload["items"]
    items = [
        BatchItem(index, schema, raw)
        for index, (schema, raw) in enumerate(zip(payload.items, raw_items, strict=True))
    ]
    with transaction.atomic():
        answer_batch(request, items)
    return stored_response(200, {"items": [item.outcome() for item in items]})


CREATE_TEST_PATH = "/api/v1/tests"


@dataclass
class BatchItem:
    """One result of a batch: its schema, its canonical request (the same as POST /tests
    with the same body, so that both share idempotency keys), and its answer once known."""

    index: int
    schema: BatchItemIn
    raw: dict
    status: int = 0
    body: dict = field(default_factory=dict)
    problem: Problem | None = None  # why it was refused, as POST /tests would say

    @property
    def key(self) -> str | None:
        return self.schema.idempotency_key

    @property
    def canonical(self) -> str:
        body = {name: value for name, value in self.raw.items() if name != "idempotency_key"}
        return idempotency.canonical_request("POST", CREATE_TEST_PATH, body)

    def answer(self, status: int, body: dict) -> None:
        self.status, self.body = status, body

    def refuse(self, request, problem: Problem) -> None:
        """The problem POST /tests would answer, its fields named within the batch."""
        pointer = f"/items/{self.index}"
        errors = [{**error, "field": pointer + error["field"]} for error in problem.errors]
        body = problem_body(problem.slug, problem.detail, request.path, errors, problem.extra)
        self.answer(problem.status, body)
        self.problem = problem

    def outcome(self) -> dict:
        succeeded = self.status < 300
        return {
            "status": self.status,
            "test": self.body if succeeded else None,
            "problem": None if succeeded else self.body,
        }


def answer_batch(request, items: list[BatchItem]) -> None:
    """Replay the answers of live keys, submit the other results together, keep the
    answers of the results recorded with a key and give back the keys of the refused
    ones. A key repeated within the batch gets its first result's answer (or, with
    another body, idempotency-key-reused)."""
    pharmacy = request.auth.pharmacy
    first_with_key: dict[str, BatchItem] = {}
    for item in items:
        if item.key is not None:
            first_with_key.setdefault(item.key, item)
    canonicals = {key: item.canonical for key, item in first_with_key.items()}
    owned = idempotency.claim_many(pharmacy, canonicals)
    held = {key: canonical for key, canonical in canonicals.items() if key not in owned}
    for key, stored in idempotency.replay_many(pharmacy, held).items():
        item = first_with_key[key]
        if isinstance(stored, Problem):
            item.refuse(request, idempotency.key_reused("/idempotency_key"))
        else:
            item.answer(stored[0], json.loads(stored[1]))
    new = [
        item
        for item in items
        if item.key is None or (item.key in owned and first_with_key[item.key] is item)
    ]
    submit_batch(request, new)
    idempotency.keep_answers(
        {
            owned[item.key]: (item.status, idempotency.to_json(item.body))
            for item in new
            if item.key is not None and item.status < 300
        }
    )
    idempotency.release([owned[item.key] for item in new if item.key and item.status >= 300])
    for item in items:
        if item.key is not None and first_with_key[item.key] is not item:
            first = first_with_key[item.key]
            if first.canonical != item.canonical:
                item.refuse(request, idempotency.key_reused("/idempotency_key"))
            elif first.problem is not None:
                item.refuse(request, first.problem)  # named at this result's place
            else:
                item.answer(first.status, first.body)


def beyond_the_document(item: BatchItemIn, error: dict) -> bool:
    """Whether a result's error breaks a rule the OpenAPI document cannot state. The form
    reads a sampling time of the documented shape or not (a two-digit year, a date
    alone: the same messages as the web's); only one of the documented shape that is no
    real time (a day past its month's end) is beyond the document."""
    if error["field"] == "/test/sampled_at":
        return bool(re.fullmatch(schemas.DATETIME_PATTERN, item.test.sampled_at))
    return beyond_the_schema(error)


def submit_batch(request, items: list[BatchItem]) -> None:
    """Check and record the results through the submission service, all at once. A
    result breaking a rule the OpenAPI document states (an enum, a pattern) refuses the
    whole batch, as the document says: the software sending it is at fault, and the
    transaction is rolled back."""
    ready: list[tuple[BatchItem, submissions.Submission]] = []
    refused: list[tuple[BatchItem, Problem]] = []
    for item in items:
        try:
            ready.append((item, submission_of(request, item.schema)))
        except Problem as refusal:
            refused.append((item, refusal))
    checked = submissions.submit(caller_of(request), [submission for _, submission in ready])
    refused += [
        (item, submission_problem(request, one))
        for (item, _submission), one in zip(ready, checked, strict=True)
        if not one.ok
    ]
    against_the_document = [
        {**error, "field": f"/items/{item.index}{error['field']}"}
        for item, problem in sorted(refused, key=lambda pair: pair[0].index)
        for error in problem.errors
        if not beyond_the_document(item.schema, error)
    ]
    if against_the_document:
        raise Problem("validation", _("Some fields are invalid."), against_the_document)
    for item, problem in refused:
        item.refuse(request, problem)
    recorded = [one.recorded_test for one in checked if one.ok]
    load_transmissions(recorded)
    for (item, _submission), one in zip(ready, checked, strict=True):
        if one.ok:
            item.answer(201, created_body(one))


@api.get(
    "/tests",
    response={200: TestPage, **error_responses(*COMMON_ERRORS, 422)},
    summary="List tests",
    tags=["tests"],
)
def list_tests(
    request,
    since: str | None = SINCE,
    updated_since: str | None = UPDATED_SINCE,
    cursor: str | None = CURSOR,
    limit: int = LIMIT,
):
    """Tests recorded through this credential (every test of the pharmacy if the owner
    granted the credential "read all"), oldest recorded first, with their transmission
    state. With `updated_since`, the tests changed since then (their data, or their
    transmission's state: sent, acknowledged, rejected...), in the order of their
    `changed_at`; a test changed again while you page through comes again later. Each
    test listed is written to the audit log."""
    refuse_unknown_parameters(request, {"since", "updated_since", "cursor", "limit"})
    tests = credentials.readable_tests(request.auth)
    if since is not None:
        tests = tests.filter(created_at__gte=parse_since(since, "since"))
    order = "created_at"
    if updated_since is not None:
        after = parse_since(updated_since, "updated_since")
        tests = changed_since(tests, request.auth.pharmacy, after)
        order = "changed"
    if cursor:
        after_time, after_id = read_cursor(cursor, order)
        tests = tests.filter(
            Q(**{f"{order}__gt": after_time}) | Q(**{order: after_time, "id__gt": after_id})
        )
    page = list(with_transmissions(tests.order_by(order, "id"))[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    audit_each("test.api_list", request, page)
    body = {
        "items": [test_body(test) for test in page],
        "next_cursor": make_cursor(page[-1], order) if more else None,
    }
    return stored_response(200, body)


def refuse_unknown_parameters(request, known: set[str]) -> None:
    """Like unknown JSON fields, an unknown query parameter is a client's mistake (a typo
    in `since` would otherwise silently list everything)."""
    unknown = sorted(set(request.GET) - known)
    if unknown:
        raise Problem(
            "validation",
            _("Some fields are invalid."),
            [field_error(name[:100], "unknown", _("Unknown parameter.")) for name in unknown],
        )


def parse_since(value: str, name: str) -> datetime.datetime:
    try:
        if re.match(RFC3339, value):
            return in_utc(datetime.datetime.fromisoformat(value))
    except ValueError:
        pass
    raise Problem(
        "validation",
        _("Some fields are invalid."),
        [field_error(name, "datetime", _("Give a time like 2026-11-23T09:30:00+01:00."))],
    )


def in_utc(moment: datetime.datetime) -> datetime.datetime:
    """The time in UTC; one beyond Python's years (0001-01-01T00:00+05:00) is the first or
    the last time there is."""
    try:
        return moment.astimezone(datetime.UTC)
    except OverflowError:
        extreme = datetime.datetime.min if moment.year == 1 else datetime.datetime.max
        return extreme.replace(tzinfo=datetime.UTC)


def make_cursor(test: ScreeningTest, order: str) -> str:
    """The position after `test` in a listing ordered by `order` (then id)."""
    at = getattr(test, order)
    return signing.dumps([order, at.isoformat(), str(test.id)], salt=CURSOR_SALT)


def read_cursor(cursor: str, order: str) -> tuple[datetime.datetime, uuid.UUID]:
    """A cursor of a listing in the same order (one of `updated_since` is refused in a
    plain listing, and the other way round)."""
    try:
        cursor_order, at, test_id = signing.loads(cursor, salt=CURSOR_SALT)
        if cursor_order != order:
            raise ValueError("cursor of another listing")
        return datetime.datetime.fromisoformat(at), uuid.UUID(test_id)
    except (signing.BadSignature, ValueError, TypeError):
        raise Problem(
            "validation",
            _("The cursor is not one this API gave."),
            [field_error("cursor", "cursor", _("Invalid cursor."))],
        ) from None


@api.get(
    "/tests/{uuid:test_id}",
    response={200: TestOut, **error_responses(*COMMON_ERRORS, 404)},
    summary="Get a test and its transmission state",
    tags=["tests"],
)
def get_test(request, test_id: uuid.UUID):
    """The test and its transmission to SI-DEP: state, next attempt, and SI-DEP's reason
    when it rejected the message. Only a test recorded through this credential (any test
    of the pharmacy with "read all"); another answers 404."""
    test = readable_test_or_404(request, test_id)
    audit("test.view", request, test)
    return with_etag(stored_response(200, test_body(test)))


# --- Versions: ETag and If-Match ----------------------------------------------------------
#
# A test's ETag names its version (which grows by one on each change of its recorded data;
# its transmission state is not part of it). A correction must say which version it was
# made from: without If-Match it is refused (428), since a correction made from a stale
# read would silently undo another one (the lost update this rule exists for); with an
# older version, 412, and the client reads the test again.


def etag(version: int) -> str:
    return f'"{version}"'


def with_etag(response):
    """The answer of a read or write of one test, with the test's ETag."""
    if response.status_code < 300:
        response["ETag"] = etag(json.loads(response.content)["version"])
    return response


def if_match_version(request) -> int:
    """The version the If-Match header names (one strong ETag of this API)."""
    header = request.headers.get("If-Match")
    if header is None or not re.fullmatch(r'"\d{1,9}"', header.strip()):
        raise Problem(
            "precondition-required",
            _('Send the ETag of the test you corrected as If-Match (e.g. If-Match: "3").'),
            [field_error("If-Match", "if_match", _("A quoted version from the ETag header."))],
        )
    return int(header.strip().strip('"'))


@api.post(
    "/tests/{uuid:test_id}/correction",
    response={
        200: TestCorrected,
        **error_responses(*COMMON_ERRORS, *BODY_ERRORS, 404, 409, 412, 428),
    },
    summary="Correct a test result",
    tags=["tests"],
)
def correct_test(
    request, test_id: uuid.UUID, payload: TestIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    """Send the whole test as it should be, with the ETag of the version it was made from
    as If-Match (428 without it; 412 if the test changed since: read it again). The
    changed fields are saved and SI-DEP gets the corrected result (as a correction,
    OBX-11 = C, if it may already hold the first one). A cancelled test cannot be
    corrected (409)."""
    credential = request.auth

    def submit():
        # A credential corrects only what it may read (a leaked one cannot touch the
        # pharmacy's web tests unless the owner granted it "read all").
        test = readable_test_or_404(request, test_id)
        built_from = services.BuiltFrom(if_match_version(request))
        data = validate_correction(test, payload)
        data["performed_by"] = performer_of(request, payload, "/performer_rpps")
        try:
            changed = services.correct_test(test, credential.service_user, data, built_from)
        except services.TestCancelled:
            raise Problem("test-cancelled", _("This test was cancelled.")) from None
        except services.ChangedMeanwhile as meanwhile:
            raise changed_meanwhile(meanwhile) from None
        if changed:
            audit("test.correct", request, test, fields=changed)
        named = [API_FIELD_NAMES.get(name, name) for name in changed]
        return 200, test_body(test, TestCorrected, changed_fields=named)

    status, body = idempotent(request, idempotency_key, submit)
    return with_etag(stored_response(status, body))


def changed_meanwhile(meanwhile: services.ChangedMeanwhile) -> Problem:
    return Problem(
        "precondition-failed",
        _("The test changed since the version you sent: read it again."),
        headers={"ETag": etag(meanwhile.current.version)},
    )


@api.post(
    "/tests/{uuid:test_id}/cancellation",
    response={
        200: TestOut,
        **error_responses(*COMMON_ERRORS, *BODY_ERRORS, 404, 409, 412, 428),
    },
    summary="Cancel a test",
    tags=["tests"],
)
def cancel_test(
    request,
    test_id: uuid.UUID,
    payload: CancellationIn,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
):
    """Cancel a test recorded in error, with the ETag of the version you read as If-Match
    (428 without it; 412 if the test changed since). SI-DEP is told to delete the result
    it may hold. A cancelled test is final: cancelling it again answers 409
    test-cancelled (retry with the same Idempotency-Key to get the first answer again)."""

    def submit():
        test = readable_test_or_404(request, test_id)
        built_from = services.BuiltFrom(if_match_version(request))
        if payload.reason not in services.CANCEL_REASONS:
            raise Problem(
                "validation",
                _("Some fields are invalid."),
                [field_error("/reason", "invalid_choice", _("Not a cancellation reason."))],
            )
        try:
            services.cancel_test(test, request.auth.service_user, payload.reason, built_from)
        except services.TestCancelled:
            raise Problem("test-cancelled", _("This test was cancelled.")) from None
        except services.ChangedMeanwhile as meanwhile:
            raise changed_meanwhile(meanwhile) from None
        audit("test.cancel", request, test, reason=payload.reason)
        return 200, test_body(test)

    status, body = idempotent(request, idempotency_key, submit)
    return with_etag(stored_response(status, body))


# --- Patients -----------------------------------------------------------------------------


def readable_patient_or_404(request, patient_id) -> Patient:
    """A patient of a test the credential may read; any other answers 404."""
    readable = credentials.readable_tests(request.auth).filter(patient=OuterRef("pk"))
    patient = (
        Patient.objects.for_pharmacy(request.auth.pharmacy)
        .filter(Exists(readable), pk=patient_id)
        .first()
    )
    if patient is None:
        raise Http404
    return patient


def patient_body(patient: Patient, schema=PatientOut, **extra) -> dict:
    data = {field: getattr(patient, field) for field in PatientOut.model_fields}
    return schema.model_validate({**data, **extra}).model_dump(mode="json")


@api.get(
    "/patients/{uuid:patient_id}",
    response={200: PatientOut, **error_responses(*COMMON_ERRORS, 404)},
    summary="Get a patient",
    tags=["patients"],
)
def get_patient(request, patient_id: uuid.UUID):
    """The patient's identity and contact, with its version (ETag) to correct it. Only a
    patient of a test the credential may read; another answers 404."""
    patient = readable_patient_or_404(request, patient_id)
    audit("patient.view", request, patient)
    return with_etag(stored_response(200, patient_body(patient)))


@api.put(
    "/patients/{uuid:patient_id}",
    response={
        200: PatientCorrected,
        **error_responses(*COMMON_ERRORS, *BODY_ERRORS, 404, 409, 412, 428),
    },
    summary="Correct a patient",
    tags=["patients"],
)
def correct_patient(
    request,
    patient_id: uuid.UUID,
    payload: PatientIn,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
):
    """Send the whole identity and contact as they should be, with the patient's ETag
    as If-Match (428 without it; 412 if the patient changed since: read it again). Only
    a patient of a test the credential may read (404 otherwise). A NIR another patient
    of the pharmacy holds is a conflict (409 patient-conflict). SI-DEP gets a correction
    of every result it may hold for the patient."""

    def submit():
        patient = readable_patient_or_404(request, patient_id)
        built_from = services.BuiltFrom(if_match_version(request))
        form = CheckingPatientForm(data=form_data(payload))
        if not form.is_valid():
            raise Problem("validation", _("Some fields are invalid."), form_field_errors(form, ""))
        conflict = submissions.nir_held_by_another(patient, form.cleaned_data)
        try:
            if conflict is not None:
                raise services.NirTaken
            changed = services.update_patient(patient, form.cleaned_data, built_from)
        except services.NirTaken:
            taken = submissions.nir_taken()
            raise Problem(
                "patient-conflict",
                _("The patient conflicts with a stored record."),
                [field_error("/nir", taken.code, taken.message)],
            ) from None
        except services.ChangedMeanwhile as meanwhile:
            raise Problem(
                "precondition-failed",
                _("The patient changed since the version you sent: read it again."),
                headers={"ETag": etag(meanwhile.current.version)},
            ) from None
        if changed:
            audit("patient.update", request, patient, fields=changed)
        return 200, patient_body(patient, PatientCorrected, changed_fields=changed)

    status, body = idempotent(request, idempotency_key, submit)
    return with_etag(stored_response(status, body))
