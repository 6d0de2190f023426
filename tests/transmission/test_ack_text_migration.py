"""Issue 15: the reasons SI-DEP gave before they were encrypted are encrypted by the
migration (0005-0007), and the way back restores them as they were."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from relais.transmission.models import Transmission
from tests.support.factories import make_test

PLAIN = ("transmission", "0005_ack_text_encrypted_column")
REASON = "NIR 285037505612306 inconnu pour LEFEVRE"


def migrate(target) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


def latest() -> list:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_plain_reasons_are_encrypted_and_come_back_on_the_way_back(patient, pharmacist):
    rejected = make_test(patient, pharmacist).transmissions.get()
    accepted = make_test(patient, pharmacist).transmissions.get()
    try:
        migrate([PLAIN])
        old = MigrationExecutor(connection).loader.project_state([PLAIN]).apps
        OldTransmission = old.get_model("transmission", "Transmission")
        OldTransmission.objects.filter(pk=rejected.pk).update(ack_text_plain=REASON)
        migrate(latest())
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT ack_text FROM {Transmission._meta.db_table}")
            raw = [bytes(value) for (value,) in cursor.fetchall() if value is not None]
        assert len(raw) == 1 and b"LEFEVRE" not in raw[0] and b"285037505612306" not in raw[0]
        assert Transmission.objects.get(pk=rejected.pk).ack_text == REASON
        assert Transmission.objects.get(pk=accepted.pk).ack_text == ""
        migrate([PLAIN])
        old = MigrationExecutor(connection).loader.project_state([PLAIN]).apps
        OldTransmission = old.get_model("transmission", "Transmission")
        assert OldTransmission.objects.get(pk=rejected.pk).ack_text_plain == REASON
    finally:
        migrate(latest())
