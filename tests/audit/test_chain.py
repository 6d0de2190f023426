import datetime
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from relais.audit import chain
from relais.audit.events import record
from relais.audit.models import AuditEvent, ChainHead

pytestmark = pytest.mark.django_db


def record_events(count: int, start: int = 0) -> None:
    for number in range(start, start + count):
        record("test.view", details={"n": number})


def raw(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def chained():
    record_events(20)
    assert chain.chain_all() == 20
    return list(AuditEvent.objects.order_by("chain_seq"))


def test_events_are_inserted_unchained_and_the_worker_chains_them_in_order():
    record_events(3)
    assert AuditEvent.objects.filter(chain_seq__isnull=True).count() == 3
    assert chain.chain_lag().unchained == 3
    assert chain.chain_pending() == 3
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.chain_seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == chain.GENESIS_HASH
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    assert ChainHead.objects.get().last_hash == events[2].hash
    assert chain.chain_lag().unchained == 0
    assert chain.chain_pending() == 0


def test_chaining_continues_from_the_head_in_batches():
    record_events(5)
    assert chain.chain_pending(batch=2) == 2
    assert chain.chain_pending(batch=2) == 2
    record_events(2, start=5)
    assert chain.chain_all() == 3
    assert chain.verify_chain().ok
    assert chain.verify_chain().checked == 7


def test_a_late_committed_lower_id_gets_the_next_position(chained):
    # An event whose transaction committed after higher ids were chained.
    late = AuditEvent.objects.create(action="patient.view", details={})
    raw("UPDATE audit_auditevent SET id = %s WHERE id = %s", [0, late.pk])
    assert chain.chain_pending() == 1
    assert AuditEvent.objects.get(pk=0).chain_seq == 21
    assert chain.verify_chain().ok


def test_intact_chain_verifies(chained):
    result = chain.verify_chain()
    assert result.ok and result.checked == 20 and result.last_hash == chained[-1].hash


def test_altered_row_is_caught(chained):
    raw("UPDATE audit_auditevent SET action = 'login.succeeded' WHERE id = %s", [chained[6].pk])
    result = chain.verify_chain()
    assert result.broken_at == 7 and "altered" in result.reason


def test_altered_details_are_caught(chained):
    raw(
        "UPDATE audit_auditevent SET details = %s WHERE id = %s",
        [json.dumps({"n": 999}), chained[3].pk],
    )
    assert chain.verify_chain().broken_at == 4


def test_altered_time_is_caught(chained):
    moved = chained[9].created_at - datetime.timedelta(hours=1)
    AuditEvent.objects.filter(pk=chained[9].pk).update(created_at=moved)
    assert chain.verify_chain().broken_at == 10


def test_deleted_row_is_caught(chained):
    raw("DELETE FROM audit_auditevent WHERE id = %s", [chained[11].pk])
    result = chain.verify_chain()
    assert result.broken_at == 12 and "missing" in result.reason


def test_deleted_row_with_renumbered_positions_is_caught(chained):
    raw("DELETE FROM audit_auditevent WHERE id = %s", [chained[11].pk])
    for event in chained[12:]:
        raw(
            "UPDATE audit_auditevent SET chain_seq = %s WHERE id = %s",
            [event.chain_seq - 1, event.pk],
        )
    assert chain.verify_chain().broken_at == 12


def test_deleted_last_row_is_caught(chained):
    raw("DELETE FROM audit_auditevent WHERE id = %s", [chained[-1].pk])
    result = chain.verify_chain()
    assert result.broken_at == 20 and "head" in result.reason


def test_inserted_row_is_caught(chained):
    # A forged event slipped in at position 5, the later ones pushed back by one.
    for event in reversed(chained[4:]):
        raw(
            "UPDATE audit_auditevent SET chain_seq = %s WHERE id = %s",
            [event.chain_seq + 1, event.pk],
        )
    forged = AuditEvent.objects.create(action="patient.view", details={})
    row = AuditEvent.objects.filter(pk=forged.pk).values_list(*chain.HASHED_FIELDS).get()
    forged_hash = chain.link_hash(chained[3].hash, 5, row)
    AuditEvent.objects.filter(pk=forged.pk).update(
        chain_seq=5, prev_hash=chained[3].hash, hash=forged_hash
    )
    result = chain.verify_chain()
    assert result.broken_at == 6


def test_inserted_row_at_the_end_is_caught(chained):
    forged = AuditEvent.objects.create(action="patient.view", details={})
    row = AuditEvent.objects.filter(pk=forged.pk).values_list(*chain.HASHED_FIELDS).get()
    AuditEvent.objects.filter(pk=forged.pk).update(
        chain_seq=21, prev_hash=chained[-1].hash, hash=chain.link_hash(chained[-1].hash, 21, row)
    )
    assert chain.verify_chain().broken_at == 21


def test_reordered_rows_are_caught(chained):
    first, second = chained[7], chained[8]
    raw("UPDATE audit_auditevent SET chain_seq = %s WHERE id = %s", [-1, first.pk])
    raw("UPDATE audit_auditevent SET chain_seq = %s WHERE id = %s", [8, second.pk])
    raw("UPDATE audit_auditevent SET chain_seq = %s WHERE id = %s", [9, first.pk])
    assert chain.verify_chain().broken_at == 8


def test_swapped_contents_are_caught(chained):
    first, second = chained[2], chained[3]
    raw("UPDATE audit_auditevent SET details = %s WHERE id = %s", ['{"n": 3}', first.pk])
    raw("UPDATE audit_auditevent SET details = %s WHERE id = %s", ['{"n": 2}', second.pk])
    assert chain.verify_chain().broken_at == 3


def test_models_refuse_update_and_delete(chained):
    with pytest.raises(ValueError):
        chained[0].save()
    with pytest.raises(ValueError):
        chained[0].delete()


def test_verify_command_reports_ok_and_lag(chained, capsys):
    record_events(2, start=100)
    call_command("audit", "verify")
    out = capsys.readouterr().out
    assert "22 event(s) checked" in out and "OK" in out
    assert "worker lag: 2 event(s) were not yet chained (oldest " in out


def test_verify_command_fails_on_tampering(chained):
    raw("DELETE FROM audit_auditevent WHERE id = %s", [chained[2].pk])
    with pytest.raises(CommandError, match="BROKEN at position 3"):
        call_command("audit", "verify")


def test_signed_checkpoint_proves_history_was_not_rewritten(chained, tmp_path, capsys):
    out = tmp_path / "checkpoint.json"
    call_command("audit", "checkpoint", "--out", str(out))
    checkpoint = json.loads(out.read_text())
    assert checkpoint["sequence"] == 20 and checkpoint["hash"] == chained[-1].hash
    assert out.stat().st_mode & 0o777 == 0o600
    assert AuditEvent.objects.get(action="audit.checkpoint").details == {"sequence": 20}
    record_events(3, start=50)
    call_command("audit", "verify", "--checkpoint", str(out))
    assert "matches the checkpoint" in capsys.readouterr().out


def test_rewritten_history_is_caught_by_the_checkpoint(chained, tmp_path):
    out = tmp_path / "checkpoint.json"
    call_command("audit", "checkpoint", "--out", str(out))
    # The attacker rewrites event 5 and recomputes every later hash and the head.
    raw("UPDATE audit_auditevent SET action = 'nothing' WHERE id = %s", [chained[4].pk])
    prev = chained[3].hash
    for event in AuditEvent.objects.filter(chain_seq__gte=5).order_by("chain_seq"):
        row = AuditEvent.objects.filter(pk=event.pk).values_list(*chain.HASHED_FIELDS).get()
        digest = chain.link_hash(prev, event.chain_seq, row)
        AuditEvent.objects.filter(pk=event.pk).update(prev_hash=prev, hash=digest)
        prev = digest
    ChainHead.objects.filter(pk=1).update(last_hash=prev)
    assert chain.verify_chain().ok  # without the checkpoint, the rewrite is consistent
    with pytest.raises(CommandError, match="differs from the signed checkpoint"):
        call_command("audit", "verify", "--checkpoint", str(out))


def test_truncated_history_is_caught_by_the_checkpoint(chained, tmp_path):
    out = tmp_path / "checkpoint.json"
    call_command("audit", "checkpoint", "--out", str(out))
    raw("DELETE FROM audit_auditevent WHERE chain_seq > 15")
    ChainHead.objects.filter(pk=1).update(last_seq=15, last_hash=chained[14].hash)
    with pytest.raises(CommandError, match="shorter than the signed checkpoint"):
        call_command("audit", "verify", "--checkpoint", str(out))


def test_forged_checkpoint_is_refused(chained, tmp_path):
    out = tmp_path / "checkpoint.json"
    call_command("audit", "checkpoint", "--out", str(out))
    checkpoint = json.loads(out.read_text())
    checkpoint["sequence"] = 3
    out.write_text(json.dumps(checkpoint))
    with pytest.raises(CommandError, match="signature is invalid"):
        call_command("audit", "verify", "--checkpoint", str(out))


def test_garbage_checkpoint_is_refused(tmp_path):
    out = tmp_path / "checkpoint.json"
    out.write_text("not json")
    with pytest.raises(CommandError, match="invalid"):
        call_command("audit", "verify", "--checkpoint", str(out))


def test_checkpoint_refuses_a_broken_chain(chained, tmp_path):
    raw("DELETE FROM audit_auditevent WHERE id = %s", [chained[2].pk])
    out = tmp_path / "checkpoint.json"
    with pytest.raises(CommandError, match="BROKEN"):
        call_command("audit", "checkpoint", "--out", str(out))
    assert not out.exists()


def test_verify_ten_thousand_events_quickly():
    AuditEvent.objects.bulk_create(
        [AuditEvent(action="test.view", details={"n": n}) for n in range(10_000)],
        batch_size=2000,
    )
    assert chain.chain_all() == 10_000
    result = chain.verify_chain()
    assert result.ok and result.checked == 10_000
