"""docs/api.md: every JSON body its curl examples send is one the API takes."""

import json
import pathlib
import re

import pytest

from relais.api import schemas

GUIDE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "api.md"

# (operation in the example, the schema of its body)
SCHEMAS = {
    '"$RELAIS/tests"': schemas.TestSubmission,
    '"$RELAIS/tests/batch"': schemas.BatchIn,
    "/correction": schemas.TestIn,
    "/cancellation": schemas.CancellationIn,
    "/patients/$PATIENT_ID": schemas.PatientIn,
}


def examples() -> list[tuple[str, str]]:
    """(the curl command, its -d body) of each example that sends one."""
    found = []
    for command in re.findall(r"curl -sS -X \w+ (.*?)'\n\s*```", GUIDE.read_text(), re.S):
        address = command.split()[0]
        body = command.split("-d '", 1)[1]
        found.append((address, body))
    return found


def test_the_guide_has_an_example_of_each_write():
    addresses = " ".join(address for address, _ in examples())
    for operation in SCHEMAS:
        assert operation in addresses


@pytest.mark.parametrize(("address", "body"), examples())
def test_each_example_body_fits_its_schema(address, body):
    [model] = [model for operation, model in SCHEMAS.items() if operation in address]
    model.model_validate(json.loads(body))
