import datetime

import pytest
from django.core.cache import cache

from tests.support.factories import make_patient, make_test
from tests.support.sms import SmsProvider


@pytest.fixture(autouse=True)
def fresh_rate_limit_counts():
    """The rate limiter counts in the cache: each test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def linked_test(patient, pharmacist):
    """A test whose patient chose SMS: (test, token) of the link that was issued."""
    pharmacist.full_name = "Claire Dubois"
    pharmacist.save()
    test = make_test(patient, pharmacist, notify_by="sms", result="positive")
    notification = test.result_links.get().notifications.get()
    return test, notification.token


@pytest.fixture
def sms_provider(settings):
    with SmsProvider() as provider:
        settings.SMS_BACKEND = "http"
        settings.SMS_URL = provider.url
        settings.SMS_TOKEN = "test-provider-token"
        settings.SMS_TIMEOUT_SECONDS = 5
        yield provider


@pytest.fixture
def patient_b(pharmacy, pharmacist):
    return make_patient(
        pharmacy,
        pharmacist,
        birth_name="Bernard",
        used_name="",
        given_names="Paul",
        birth_date=datetime.date(1990, 7, 2),
        nir="",
        phone="+33698765432",
        email="paul.bernard@example.org",
    )
