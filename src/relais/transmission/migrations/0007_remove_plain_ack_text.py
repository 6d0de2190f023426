from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("transmission", "0006_encrypt_ack_texts"),
    ]

    operations = [
        migrations.RemoveField(model_name="transmission", name="ack_text_plain"),
    ]
