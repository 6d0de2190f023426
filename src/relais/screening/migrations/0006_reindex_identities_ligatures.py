"""Names are now compared with their ligatures split (Œ as OE, Æ as AE: "Lætitia" is
"Laetitia"): the identity index of a birth name holding one is recomputed."""

from django.db import migrations


def reindex(apps, schema_editor):
    from relais.screening.services import reindex_identities

    reindex_identities(apps.get_model("screening", "Patient"))


class Migration(migrations.Migration):
    dependencies = [("screening", "0005_test_patient_time_index")]

    operations = [migrations.RunPython(reindex, migrations.RunPython.noop)]
