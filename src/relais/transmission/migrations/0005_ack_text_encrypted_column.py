"""SI-DEP's reason (ack_text) becomes an encrypted field: the plain column is renamed
aside, the encrypted one added under the name the associated data binds (0006 moves the
texts across, 0007 drops the plain column)."""

from django.db import migrations

import relais.crypto.fields


class Migration(migrations.Migration):
    dependencies = [
        ("transmission", "0004_transmission_cancel_reason"),
    ]

    operations = [
        migrations.RenameField(
            model_name="transmission", old_name="ack_text", new_name="ack_text_plain"
        ),
        migrations.AddField(
            model_name="transmission",
            name="ack_text",
            field=relais.crypto.fields.EncryptedTextField(blank=True, null=True),
        ),
    ]
