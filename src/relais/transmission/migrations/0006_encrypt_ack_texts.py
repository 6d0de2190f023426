"""Encrypt the reasons SI-DEP gave so far (they may quote patient data), row by row,
bound to each row like every encrypted field. Its own migration (own transaction on
PostgreSQL), between the schema changes."""

from django.db import migrations

BATCH_SIZE = 500


def encrypt_ack_texts(apps, schema_editor):
    Transmission = apps.get_model("transmission", "Transmission")
    rows = Transmission.objects.exclude(ack_text_plain="").only("pk", "ack_text_plain")
    for row in rows.order_by("pk").iterator(chunk_size=BATCH_SIZE):
        row.ack_text = row.ack_text_plain  # encrypted by the field when saved
        row.save(update_fields=["ack_text"])


def decrypt_ack_texts(apps, schema_editor):
    Transmission = apps.get_model("transmission", "Transmission")
    rows = Transmission.objects.filter(ack_text__isnull=False).only("pk", "ack_text")
    for row in rows.order_by("pk").iterator(chunk_size=BATCH_SIZE):
        row.ack_text_plain = row.ack_text[:500]
        row.save(update_fields=["ack_text_plain"])


class Migration(migrations.Migration):
    dependencies = [
        ("transmission", "0005_ack_text_encrypted_column"),
    ]

    operations = [migrations.RunPython(encrypt_ack_texts, decrypt_ack_texts)]
