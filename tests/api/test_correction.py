import pytest

from relais.screening import services
from relais.transmission.models import Transmission
from tests.support.fictitious import api_submission

pytestmark = pytest.mark.django_db


def correction(**overrides):
    return api_submission(**overrides)["test"]


def correct(api, test, body, version=1):
    """POST the correction of `test` made from `version` (its ETag) as If-Match."""
    headers = {"If-Match": f'"{version}"'}
    return api.post(f"/tests/{test.pk}/correction", body, headers=headers)


def test_corrects_the_result(api, screening_test):
    body = correction(result="positive", sampled_at=screening_test.sampled_at.isoformat())
    response = correct(api, screening_test, body)
    assert response.status_code == 200, response.content
    assert response["ETag"] == '"2"' and response.json()["version"] == 2
    assert response.json()["result"] == "positive"
    assert "result" in response.json()["changed_fields"]
    screening_test.refresh_from_db()
    assert screening_test.result == "positive"


def test_correction_after_sending_queues_a_correction_message(api, screening_test):
    row = Transmission.objects.get(test=screening_test)
    row.state = Transmission.State.ACKNOWLEDGED
    row.save()
    body = correction(result="positive", sampled_at=screening_test.sampled_at.isoformat())
    correct(api, screening_test, body)
    kinds = list(Transmission.objects.filter(test=screening_test).values_list("kind", flat=True))
    assert kinds == ["new", "correction"]


def test_correction_is_validated_by_the_form(api, screening_test):
    body = correction(symptoms=True)  # without an onset date
    response = correct(api, screening_test, body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "/symptom_onset"
    screening_test.refresh_from_db()
    assert screening_test.symptoms is False


def test_a_cancelled_test_cannot_be_corrected(api, screening_test, pharmacist):
    reason = next(iter(services.CANCEL_REASONS))
    services.cancel_test(screening_test, pharmacist, reason)
    response = correct(api, screening_test, correction(result="positive"), version=2)
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
