"""last_error holds a code (worded when shown) instead of an English sentence, with the
HTTP status in its own column; the sentences already stored become their codes."""

import re

import django.utils.timezone
from django.db import migrations, models

# Every sentence the worker and the operator's retry have written, and its code.
SENTENCE_CODES = {
    "SI-DEP could not be reached": "unreachable",
    "SI-DEP answered with a server error": "server_error",
    "SI-DEP's acknowledgement could not be read": "ack_unreadable",
    "SI-DEP refused the request": "client_error",
    "The record could not be written as an HL7 message": "build_failed",
    "SI-DEP's answer had no acknowledgement for this message": "no_ack",
    "A worker stopped while sending it too many times": "lease_lost",
    "Retried by the operator": "operator_retry",
}
WITH_STATUS = re.compile(r"^(?P<sentence>.*) \(HTTP (?P<status>\d{3})\)\.$")
INTERNAL = re.compile(r"^Internal error while sending \(\w+\)\.$")


def code_of(sentence: str) -> tuple[str, int | None] | None:
    """(code, status) for an old sentence; None for anything else (left as it is)."""
    status = None
    if match := WITH_STATUS.match(sentence):
        sentence, status = match["sentence"] + ".", int(match["status"])
    if INTERNAL.match(sentence):
        return "internal_error", None
    code = SENTENCE_CODES.get(sentence.removesuffix("."))
    return (code, status) if code else None


def sentences_to_codes(apps, schema_editor):
    Transmission = apps.get_model("transmission", "Transmission")
    sentences = (
        Transmission.objects.exclude(last_error="").values_list("last_error", flat=True).distinct()
    )
    for sentence in list(sentences):
        if found := code_of(sentence):
            code, status = found
            Transmission.objects.filter(last_error=sentence).update(
                last_error=code, last_error_status=status
            )


class Migration(migrations.Migration):
    dependencies = [
        ("transmission", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="transmission",
            name="last_error_status",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="transmission",
            name="next_attempt_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RunPython(sentences_to_codes, migrations.RunPython.noop),
    ]
