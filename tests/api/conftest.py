import pytest

from relais.api.credentials import create_credential
from tests.support import factories
from tests.support.factories import ApiClient


@pytest.fixture
def credential_and_token(pharmacy, pharmacist):
    return create_credential(pharmacy, "LGO test", created_by=pharmacist)


@pytest.fixture
def credential(credential_and_token):
    return credential_and_token[0]


@pytest.fixture
def api(client, credential_and_token):
    return ApiClient(client, credential_and_token[1])


@pytest.fixture
def other_api(client, other_pharmacy, other_pharmacist):
    return ApiClient(client, create_credential(other_pharmacy, "Other LGO")[1])


@pytest.fixture
def screening_test(patient, credential, pharmacist):
    """A test the pharmacy's software recorded through `credential` (performed by
    `pharmacist`, whose RPPS it sent): the tests a credential reads and corrects (without
    "read all")."""
    return factories.make_test(patient, credential.service_user, performed_by=pharmacist)
