"""The printable result slip: for a patient without a phone or e-mail, from the test page."""

import re

import pytest
from django.core.cache import cache

from relais.audit.models import AuditEvent
from relais.patient_access import codes
from relais.patient_access.models import ResultLink
from relais.screening import services
from tests.support.factories import log_in, make_member, make_test
from tests.support.fictitious import date_fields
from tests.support.patient_pages import BIRTH_DATE, in_english, post_date

MULTIPLEX = {
    "kind": "sars_cov_2_influenza_ab_antigen",
    "result": "positive",
    "other_results": {"influenza_a_antigen": "negative", "influenza_b_antigen": "invalid"},
}
CODE = re.compile(r'<strong class="slip__code">([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</strong>')
BASE_URL = "https://relais.example"
QR_URL = re.compile(r"https://relais\.example/r/([A-Za-z0-9_-]{43})")


@pytest.fixture(autouse=True)
def fresh_rate_limit_counts(settings):
    settings.BASE_URL = BASE_URL
    cache.clear()
    yield
    cache.clear()


def slip_url(test) -> str:
    return f"/tests/{test.pk}/slip/"


def print_slip(client, test, paper="a4"):
    return in_english(client).post(slip_url(test), {"format": paper})


def printed_code(response) -> str:
    return CODE.search(response.content.decode()).group(1)


def printed_token(response) -> str:
    """The token of the link the QR code encodes (the view's context keeps its address)."""
    return QR_URL.search(response.context["qr_url"]).group(1)


def test_the_test_page_offers_the_slip_and_no_message_when_there_is_no_channel(
    pharmacist_client, patient, pharmacist
):
    test = make_test(patient, pharmacist, notify_by="none")
    page = in_english(pharmacist_client).get(f"/tests/{test.pk}/").content.decode()
    assert f'action="{slip_url(test)}"' in page
    assert "No message can reach this patient" in page
    assert "Send a new link" not in page


def test_the_slip_shows_whose_result_the_test_every_result_advice_and_the_way_in(
    pharmacist_client, patient, pharmacist
):
    test = make_test(patient, pharmacist, device="Demo Multiplex Kit", **MULTIPLEX)
    response = print_slip(pharmacist_client, test)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    assert "Pharmacie Test" in page
    assert "MARTIN Élodie Anne" in page and "March 14, 1985" in page
    assert "Demo Multiplex Kit" in page
    for analyte in ("SARS-CoV-2 antigen", "Influenza A antigen", "Influenza B antigen"):
        assert analyte in page
    assert page.count("result--positive") == 1 and page.count("result--invalid") == 1
    assert "What to do now" in page and "Contact the pharmacy to take the test again." in page
    assert 'class="slip slip--a4"' in page and "<svg" in page
    assert f"{BASE_URL}/r/code/" in page
    code = printed_code(response)
    link = ResultLink.objects.get(test=test)
    assert link.issued_for == "slip" and link.revoked_at is None
    # Only the keyed digest is kept: neither the code nor its plain hash.
    assert link.code_digest in codes.digest_candidates(codes.normalise(code))
    assert code.replace("-", "") not in link.code_digest


def test_the_receipt_format_and_the_slip_link_opens_with_the_birth_date(
    pharmacist_client, client, patient, pharmacist
):
    test = make_test(patient, pharmacist)
    response = print_slip(pharmacist_client, test, "receipt")
    assert 'class="slip slip--receipt"' in response.content.decode()
    token = printed_token(response)
    assert post_date(client, token, BIRTH_DATE)["Location"] == "/r/result/"
    assert client.get("/r/result/").status_code == 200


def test_printing_is_audited_without_personal_data(pharmacist_client, patient, pharmacist):
    test = make_test(patient, pharmacist)
    response = print_slip(pharmacist_client, test, "receipt")
    event = AuditEvent.objects.get(action="test.print", target_id=str(test.pk))
    assert event.actor_id == pharmacist.pk and event.details == {"format": "receipt"}
    stored = str(event.details)
    assert printed_code(response) not in stored and "Martin" not in stored


def test_each_print_closes_the_links_before_it(pharmacist_client, client, patient, pharmacist):
    test = make_test(patient, pharmacist, notify_by="sms")
    sms_token = ResultLink.objects.get(test=test).notifications.get().token
    first = printed_code(print_slip(pharmacist_client, test))
    second = printed_code(print_slip(pharmacist_client, test))
    assert first != second
    assert ResultLink.objects.filter(test=test, revoked_at__isnull=True).count() == 1
    assert post_date(client, sms_token, BIRTH_DATE).context["reason"] == "revoked"
    old = type(client)().post("/r/code/", {"code": first, **date_fields(BIRTH_DATE)})
    assert old.status_code == 403 and old.context["reason"] == "revoked"
    new = type(client)().post("/r/code/", {"code": second, **date_fields(BIRTH_DATE)})
    assert new["Location"] == "/r/result/"


def test_an_assistant_may_print(client, pharmacy, patient, pharmacist):
    assistant = make_member(pharmacy, email="assistant@example.org", role="assistant")
    test = make_test(patient, pharmacist)
    log_in(client, assistant)
    assert print_slip(client, test).status_code == 200


def test_another_pharmacys_test_is_a_404(client, patient, pharmacist, other_pharmacist):
    test = make_test(patient, pharmacist)
    log_in(client, other_pharmacist)
    assert print_slip(client, test).status_code == 404
    assert not ResultLink.objects.filter(test=test).exists()
    assert not AuditEvent.objects.filter(action="test.print").exists()


def test_no_slip_for_a_test_in_progress(pharmacist_client, patient, pharmacist):
    test = make_test(patient, pharmacist, result="")
    assert test.validated_at is None
    page = in_english(pharmacist_client).get(f"/tests/{test.pk}/").content.decode()
    assert slip_url(test) not in page
    response = print_slip(pharmacist_client, test)
    assert response.status_code == 302 and response["Location"] == f"/tests/{test.pk}/"
    assert not ResultLink.objects.filter(test=test).exists()
    assert not AuditEvent.objects.filter(action="test.print").exists()


def test_no_slip_for_a_cancelled_test(pharmacist_client, patient, pharmacist):
    test = make_test(patient, pharmacist)
    services.cancel_test(test, pharmacist, "entered_in_error")
    page = in_english(pharmacist_client).get(f"/tests/{test.pk}/").content.decode()
    assert slip_url(test) not in page
    assert print_slip(pharmacist_client, test).status_code == 302
    assert not ResultLink.objects.filter(test=test).exists()


def test_the_slip_is_post_only_and_needs_a_login(pharmacist_client, patient, pharmacist):
    test = make_test(patient, pharmacist)
    assert pharmacist_client.get(slip_url(test)).status_code == 405
    anonymous = type(pharmacist_client)()
    response = anonymous.post(slip_url(test), {"format": "a4"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not ResultLink.objects.filter(test=test).exists()


def test_an_unknown_format_prints_a4(pharmacist_client, patient, pharmacist):
    test = make_test(patient, pharmacist)
    page = print_slip(pharmacist_client, test, "<script>").content.decode()
    assert 'class="slip slip--a4"' in page and "<script>" not in page.split("<main")[1]


def test_resending_to_a_patient_without_channel_points_to_the_slip(
    pharmacist_client, patient, pharmacist
):
    test = make_test(patient, pharmacist, notify_by="none")
    response = in_english(pharmacist_client).post(f"/tests/{test.pk}/resend-link/", follow=True)
    assert "Print the result slip and give it to them instead." in response.content.decode()
    assert f'action="{slip_url(test)}"' in response.content.decode()
    assert not ResultLink.objects.filter(test=test).exists()
