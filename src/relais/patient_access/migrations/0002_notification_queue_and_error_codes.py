"""Notifications join the queue engine (a lease with claimed_until and claim_token, a
"sending" state), and last_error holds a code instead of a sentence; the sentences
already stored become their codes."""

import re

import django.utils.timezone
from django.db import migrations, models

SENTENCE_CODES = {
    "the link was replaced or has closed": "link_closed",
    "RELAIS_BASE_URL is not set": "no_base_url",
    "no sms address on the patient record": "no_address",
    "no email address on the patient record": "no_address",
    "SMS: RELAIS_SMS_URL is not set": "sms_not_configured",
}
SMS_STATUS = re.compile(r"^SMS: HTTP (?P<status>\d{3})$")


def code_of(sentence: str) -> tuple[str, int | None]:
    if sentence in SENTENCE_CODES:
        return SENTENCE_CODES[sentence], None
    if match := SMS_STATUS.match(sentence):
        return "sms_refused", int(match["status"])
    if sentence.startswith("SMS: "):  # "SMS: ConnectError" and other transport errors
        return "sms_unreachable", None
    if sentence.startswith("e-mail: "):
        return "email_failed", None
    return sentence, None


def sentences_to_codes(apps, schema_editor):
    Notification = apps.get_model("patient_access", "Notification")
    sentences = (
        Notification.objects.exclude(last_error="").values_list("last_error", flat=True).distinct()
    )
    for sentence in list(sentences):
        code, status = code_of(sentence)
        Notification.objects.filter(last_error=sentence).update(
            last_error=code, last_error_status=status
        )


class Migration(migrations.Migration):
    dependencies = [
        ("patient_access", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="claim_token",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="notification",
            name="claimed_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="notification",
            name="last_error_status",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="notification",
            name="next_attempt_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name="notification",
            name="state",
            field=models.CharField(
                choices=[
                    ("pending", "waiting to be sent"),
                    ("sending", "being sent"),
                    ("sent", "sent"),
                    ("failed", "failed"),
                ],
                default="pending",
                max_length=8,
            ),
        ),
        migrations.RunPython(sentences_to_codes, migrations.RunPython.noop),
    ]
