"""Schemathesis against the OpenAPI document, in-process through WSGI, with every check
it has: generated requests (valid and invalid) must never cause a server error, every
answer must match the document (status codes, content types, bodies, headers), what the
document calls invalid must be refused, and what it calls valid must be accepted.

`RELAIS_SCHEMATHESIS_EXAMPLES` raises the number of examples per operation (to hunt)."""

import json
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.specs.openapi.checks import positive_data_acceptance

from relais.api.credentials import create_credential
from relais.api.problems import beyond_the_schema

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
EXAMPLES = int(os.environ.get("RELAIS_SCHEMATHESIS_EXAMPLES", "25"))


def positive_data_acceptance_within_the_schema(ctx, response, case):
    """positive_data_acceptance, except for a 422 naming only rules beyond the schema."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except AssertionError:
        if response.status_code == 422:
            errors = json.loads(response.content)["errors"]
            if errors and all(beyond_the_schema(error) for error in errors):
                return None
        raise


load_all_checks()
ALL_CHECKS = [
    check if check is not positive_data_acceptance else positive_data_acceptance_within_the_schema
    for check in CHECKS.get_all()
]


@pytest.fixture
def token(pharmacy, pharmacist, settings):
    settings.API_RATE_LIMIT = 1_000_000
    # Like Django's test client: the WSGI handler must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield create_credential(pharmacy, "schemathesis")[1]
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def with_the_pharmacists_rpps(case, rpps: str) -> None:
    """Valid data names the pharmacy's pharmacist as the performer (as a valid id names a
    stored record): its other fields then reach the form's rules."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if isinstance(case.body, dict):
        test = case.body.get("test", case.body)
        if isinstance(test, dict) and isinstance(test.get("performer_rpps"), str):
            test["performer_rpps"] = rpps


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_its_openapi_document(case, token, pharmacist):
    with_the_pharmacists_rpps(case, pharmacist.rpps)
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=ALL_CHECKS)
