"""The worker's signed anchors of the audit chain, and `relais audit verify` against them."""

import json
import stat

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from relais.audit import anchors, chain
from relais.audit.events import record
from relais.audit.models import AuditEvent, ChainHead
from relais.lib import jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def anchor_path(tmp_path, settings):
    settings.AUDIT_ANCHOR_FILE = str(tmp_path / "anchors" / "audit-anchors.log")
    return tmp_path / "anchors" / "audit-anchors.log"


def record_and_chain(count: int) -> None:
    for number in range(count):
        record("test.view", details={"n": number})
    chain.chain_all()


def verify(capsys, *args) -> str:
    call_command("audit", "verify", *args)
    return capsys.readouterr().out


def test_the_worker_anchors_the_head_once_per_interval(anchor_path):
    assert [name for name, _ in jobs.registered()][-2:] == ["audit chain", "audit anchor"]
    record_and_chain(5)
    assert anchors.anchor_if_due() == 1
    record_and_chain(3)
    assert anchors.anchor_if_due() == 0  # the latest is minutes old
    [line] = anchor_path.read_text().splitlines()
    anchor = json.loads(line)
    assert anchor["sequence"] == 5 and anchor["hash"] == AuditEvent.objects.get(chain_seq=5).hash
    assert {"database_time", "signature"} <= anchor.keys()
    assert stat.S_IMODE(anchor_path.stat().st_mode) == 0o600


def test_verify_reports_the_latest_anchor_and_its_age(anchor_path, capsys):
    record_and_chain(4)
    call_command("audit", "anchor")
    record_and_chain(2)
    out = verify(capsys)
    assert f"1 anchor(s) in {anchor_path}; the latest (position 4) is 0.0 h old." in out
    assert "OK: chain intact up to position 6" in out


def test_a_tail_cut_before_the_latest_anchor_fails_verify(anchor_path):
    record_and_chain(10)
    call_command("audit", "anchor")
    events = list(AuditEvent.objects.order_by("chain_seq"))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE chain_seq > 7")
    ChainHead.objects.filter(pk=1).update(last_seq=7, last_hash=events[6].hash)
    assert chain.verify_chain().ok  # what the chain alone shows: a consistent shorter chain
    with pytest.raises(CommandError, match=r"shorter than an anchor \(position 10\)"):
        call_command("audit", "verify")


def test_a_forged_anchor_line_fails_verify(anchor_path):
    record_and_chain(3)
    call_command("audit", "anchor")
    anchor = json.loads(anchor_path.read_text())
    anchor["sequence"] = 2
    with anchor_path.open("a") as handle:
        handle.write(json.dumps(anchor) + "\n")
    with pytest.raises(CommandError, match="line 2: checkpoint signature is invalid"):
        call_command("audit", "verify")


def test_a_line_torn_by_a_crash_is_ignored_and_the_next_starts_afresh(anchor_path, capsys):
    record_and_chain(3)
    call_command("audit", "anchor")
    with anchor_path.open("a") as handle:
        handle.write('{"format": "relais-audit-chec')  # the process died mid-write
    assert "1 line(s) of the anchor file were cut short" in verify(capsys)
    assert anchors.anchor_if_due() == 1  # the torn line is no anchor: a new one is due
    lines = anchor_path.read_text().splitlines()
    assert len(lines) == 3 and chain.read_checkpoint(lines[2])["sequence"] == 3
    assert "2 anchor(s)" in verify(capsys)


def test_anchors_off_are_reported_and_write_nothing(settings, capsys):
    settings.AUDIT_ANCHOR_FILE = ""
    record_and_chain(1)
    assert anchors.anchor_if_due() == 0
    assert "no anchor file" in verify(capsys)
    with pytest.raises(CommandError, match="RELAIS_AUDIT_ANCHOR_FILE is off"):
        call_command("audit", "anchor")


def test_the_chain_is_keyed(anchor_path, settings):
    """The same events under another key give other hashes: without the key, a rewritten
    chain cannot be made to verify."""
    record_and_chain(3)
    assert chain.verify_chain().ok
    settings.AUDIT_KEY = settings.AUDIT_KEY + "-other"
    result = chain.verify_chain()
    assert result.broken_at == 1 and "altered" in result.reason


def test_the_migration_rechains_every_event_with_the_key(anchor_path):
    """Migration 0003 unchains every event (keeping the unkeyed head in an event); the
    worker then chains them all again, keyed."""
    from importlib import import_module

    from django.apps import apps

    rekey = import_module("relais.audit.migrations.0003_rekey_chain_with_hmac")
    record_and_chain(4)
    head = ChainHead.objects.get()
    rekey.unchain_for_rekeying(apps, None)
    assert not AuditEvent.objects.filter(chain_seq__isnull=False).exists()
    assert not ChainHead.objects.exists()
    marker = AuditEvent.objects.get(action="audit.chain_rekeyed")
    assert marker.details == {"unkeyed_last_seq": 4, "unkeyed_last_hash": head.last_hash}
    assert chain.chain_all() == 5
    assert chain.verify_chain().ok
