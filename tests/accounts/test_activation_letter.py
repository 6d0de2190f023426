"""The activation letter: a code posted to the pharmacy's address in the establishment
directory proves the application at activation (relais.accounts.ownership)."""

import pytest
from django.test import Client
from django.utils import timezone

from relais.accounts.models import ActivationLetter, PharmacyApplication
from relais.audit.models import AuditEvent
from tests.accounts.onboarding_helpers import approve, import_sample_directory
from tests.accounts.test_psc import APPLICATION, finish_activation, open_activation
from tests.support.factories import log_in, make_platform_admin


@pytest.fixture(autouse=True)
def setup(db, settings):
    settings.LANGUAGE_CODE = "en"
    settings.PSC_ISSUER = ""  # without Pro Santé Connect, the letter is the way
    import_sample_directory()


@pytest.fixture
def admin():
    return log_in(Client(), make_platform_admin())


@pytest.fixture
def application(admin):
    Client().post("/apply/", APPLICATION)
    application = PharmacyApplication.objects.get()
    response = approve(admin, application)
    assert response.status_code == 302
    return application


def print_letter(admin, application) -> str:
    page = admin.post(f"/platform/applications/{application.pk}/letter/")
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    text = page.content.decode()
    assert "1 PL DE LA GARE, 75010 PARIS" in text  # the directory's address
    code = text.split('class="letter__code mono">')[1].split("<")[0].strip()
    assert len(code.replace("-", "")) == 12
    return code


def test_the_letters_code_proves_the_application(admin, application, settings):
    first = print_letter(admin, application)
    code = print_letter(admin, application)  # a new letter voids the first
    assert ActivationLetter.objects.filter(voided_at__isnull=True).count() == 1
    assert not ActivationLetter.objects.filter(code_hash__icontains=code.replace("-", "")).exists()
    browser = open_activation(application)
    page = browser.get("/accounts/activate/")
    assert "Pro Santé Connect" not in page.content.decode()
    wrong = browser.post("/accounts/activate/", {"code": first})
    assert b"This code is not valid" in wrong.content
    right = browser.post("/accounts/activate/", {"code": code.lower().replace("-", " ")})
    assert right.status_code == 302
    application.refresh_from_db()
    assert application.owner_proof == "letter"
    assert len(finish_activation(browser)) == 10
    assert AuditEvent.objects.filter(action="activation_letter.issued").count() == 2


def test_a_letter_locks_after_its_tries_and_expires(admin, application, settings):
    settings.ACTIVATION_LETTER_MAX_TRIES = 2
    code = print_letter(admin, application)
    browser = open_activation(application)
    for _ in range(2):
        browser.post("/accounts/activate/", {"code": "AAAA-AAAA-AAAA"})
    locked = browser.post("/accounts/activate/", {"code": code})
    assert b"This code is not valid" in locked.content
    code = print_letter(admin, application)
    ActivationLetter.objects.filter(voided_at__isnull=True).update(expires_at=timezone.now())
    expired = browser.post("/accounts/activate/", {"code": code})
    assert b"This code is not valid" in expired.content
    application.refresh_from_db()
    assert application.owner_proven_at is None
