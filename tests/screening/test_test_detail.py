from django.urls import reverse

from relais.audit.models import AuditEvent
from tests.support.factories import log_in


def url(test):
    return reverse("screening:test_detail", args=[test.pk])


def test_shows_the_test(pharmacist_client, screening_test):
    response = pharmacist_client.get(url(screening_test))
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="test.view", target_id=str(screening_test.pk)).exists()


def test_another_pharmacys_test_is_404(client, screening_test, other_pharmacist):
    assert log_in(client, other_pharmacist).get(url(screening_test)).status_code == 404


def test_anonymous_is_sent_to_login(client, screening_test):
    assert client.get(url(screening_test)).status_code == 302
