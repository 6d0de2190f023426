"""Issue 15: SI-DEP's rejection text (it may quote patient data) reaches only the
pharmacy's own credential: another pharmacy's credential, even one that reads all of its
own pharmacy's tests, gets 404 for the test and never sees it in a list."""

import pytest

from relais.api.credentials import create_credential
from relais.transmission.models import Transmission
from tests.support.factories import ApiClient, make_test

pytestmark = pytest.mark.django_db
REASON = "PID-5: nom de naissance LEFEVRE incohérent avec l'INS"


@pytest.fixture
def rejected(patient, credential):
    test = make_test(patient, credential.service_user)
    row = Transmission.objects.get(test=test)
    row.state, row.ack_code, row.ack_text = Transmission.State.REJECTED, "AE", REASON
    row.save()
    return test


def test_the_pharmacy_reads_the_reason(api, rejected):
    assert api.get(f"/tests/{rejected.pk}").json()["transmission"]["reason"] == REASON
    listed = {item["id"]: item for item in api.get("/tests").json()["items"]}
    assert listed[str(rejected.pk)]["transmission"]["reason"] == REASON


def test_another_pharmacy_never_reads_it(client, rejected, other_pharmacy):
    other = ApiClient(client, create_credential(other_pharmacy, "Other LGO", read_all=True)[1])
    one = other.get(f"/tests/{rejected.pk}")
    assert one.status_code == 404 and "LEFEVRE" not in one.content.decode()
    listed = other.get("/tests")
    assert listed.status_code == 200 and "LEFEVRE" not in listed.content.decode()
    assert str(rejected.pk) not in listed.content.decode()
