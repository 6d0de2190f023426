"""A corrected result: its message says it was corrected, and the link it replaced says
why it closed (and nothing else)."""

import pytest
from django.core import mail

from relais.patient_access import notify
from relais.patient_access.models import Notification, ResultLink
from relais.screening import services
from tests.support.factories import built_from
from tests.support.patient_pages import BIRTH_DATE, follow_link, in_english, post_date


@pytest.fixture
def corrected(linked_test, pharmacist, settings):
    """(test, old token, new link) after the result was corrected to negative."""
    settings.LANGUAGE_CODE = "en"
    settings.BASE_URL = "https://relais.example"
    test, old_token = linked_test
    services.correct_test(test, pharmacist, {"result": "negative"}, built_from(test))
    new = ResultLink.objects.get(test=test, revoked_at__isnull=True)
    return test, old_token, new


def test_the_new_message_says_the_result_was_corrected(corrected):
    test, old_token, new = corrected
    assert new.issued_for == ResultLink.Purpose.CORRECTION
    notification = new.notifications.get()
    text = notify.message_text(new, notification.token)
    assert "your result at Pharmacie Test was corrected" in text
    assert f"https://relais.example/r/{notification.token}" in text
    assert "negative" not in text and "positive" not in text


def test_a_first_message_does_not_say_corrected(linked_test, settings):
    settings.LANGUAGE_CODE = "en"
    test, token = linked_test
    link = ResultLink.objects.get(test=test)
    assert "corrected" not in notify.message_text(link, token)
    assert notify.message_subject(link) == "Your result is ready"


def test_the_corrected_e_mail_says_so_in_its_subject(linked_test, pharmacist, settings):
    settings.LANGUAGE_CODE = "en"
    settings.BASE_URL = "https://relais.example"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    test, old_token = linked_test
    services.correct_test(
        test, pharmacist, {"result": "negative", "notify_by": "email"}, built_from(test)
    )
    Notification.objects.filter(link__revoked_at__isnull=False).update(
        state=Notification.State.FAILED
    )
    assert notify.send_due_notifications() == 1
    [message] = mail.outbox
    assert message.subject == "Your corrected result is ready"
    assert "was corrected" in message.body


def test_the_old_link_says_it_was_replaced_by_a_corrected_result(client, corrected):
    test, old_token, new = corrected
    response = follow_link(in_english(client), old_token)
    assert response.status_code == 403 and response.context["reason"] == "corrected"
    page = response.content.decode()
    assert "Your result was corrected, so this link was replaced." in page
    assert "A new message with a new link was sent to you." in page
    # Nothing else: neither the result nor whose it is.
    for secret in ("negative", "positive", "Martin", "MARTIN", "1985"):
        assert secret not in page.split("<main")[1]
    again = post_date(client, old_token, BIRTH_DATE)
    assert again.status_code == 403 and again.context["reason"] == "corrected"


def test_a_new_channel_alone_is_not_called_a_correction(client, linked_test, pharmacist):
    test, old_token = linked_test
    services.correct_test(test, pharmacist, {"notify_by": "both"}, built_from(test))
    new = ResultLink.objects.get(test=test, revoked_at__isnull=True)
    assert new.issued_for == ResultLink.Purpose.RESEND
    assert follow_link(client, old_token).context["reason"] == "revoked"


def test_the_test_page_tells_the_pharmacist(pharmacist_client, corrected):
    test, old_token, new = corrected
    ResultLink.objects.filter(pk=new.pk).delete()  # the panel shows the latest link
    page = in_english(pharmacist_client).get(f"/tests/{test.pk}/").content.decode()
    assert "Replaced by the link of the corrected result" in page
