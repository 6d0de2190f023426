"""The hash chain over audit events, built by the worker, checked by `relais audit verify`.

Web requests insert events without any shared lock. The worker's job `chain_pending`
takes the events not yet chained, in id order, and gives each the next position in the
chain (`chain_seq`), the previous event's hash (`prev_hash`) and
hash = SHA-256(prev_hash || canonical JSON of the event, its chain position included).

Why a separate chain position rather than the id: ids are handed out when a
transaction inserts, but transactions commit in any order, so an event with a lower id
can become visible after a higher one was chained. Chaining strictly by id would then
either skip that event for ever or stall behind ids that never commit (rolled back).
Here the chain follows the order in which the worker sees events: a late-committed
event simply gets the next position, nothing waits, nothing is skipped, and a
rolled-back id leaves no hole. Deleting a chained event leaves a hole in `chain_seq`
(or a prev_hash mismatch); altering one breaks its hash; moving one changes the
position it was hashed with; and `ChainHead` catches events cut from the end.

The lag (events not yet chained, age of the oldest) is bounded by the worker's round
time and shown by `relais audit verify` and the audit log page.
"""

import base64
import datetime
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Count, Min
from django.utils import timezone

from relais.audit.models import AuditEvent, ChainHead
from relais.crypto.signing import BadSignature, sign, verify
from relais.lib.clock import database_now

GENESIS_HASH = "0" * 64
CHAIN_BATCH = 2000
HASHED_FIELDS = (
    "id", "created_at", "actor_id", "pharmacy_id", "action", "target_type", "target_id",
    "request_id", "source", "details",
)  # fmt: skip
LINK_SQL = "UPDATE audit_auditevent SET chain_seq = %s, prev_hash = %s, hash = %s WHERE id = %s"
# Format 2: keyed chain, time from the database's clock. Format 1 checkpoints vouched for
# the unkeyed chain, which migration audit 0003 re-keyed: they no longer apply.
CHECKPOINT_FORMAT = "relais-audit-checkpoint-2"
SIGNED_FIELDS = ("format", "sequence", "hash", "database_time")


def _text(value) -> str | None:
    return None if value is None else str(value)


def canonical(seq: int, row: tuple) -> bytes:
    """The event as hashed: sorted keys, no spaces, UTC time with microseconds."""
    event_id, created_at, actor, pharmacy, action, target_type, target_id, req, src, det = row
    document = {
        "seq": seq,
        "id": event_id,
        "created_at": created_at.astimezone(datetime.UTC).isoformat(timespec="microseconds"),
        "actor_id": _text(actor),
        "pharmacy_id": _text(pharmacy),
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "request_id": req,
        "source": src,
        "details": det,
    }
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def audit_key() -> bytes:
    key = settings.AUDIT_KEY
    if not key:
        raise ImproperlyConfigured(
            "RELAIS_AUDIT_KEY is not set: the audit chain cannot be built or verified."
        )
    return key.encode()


def link_hash(prev_hash: str, seq: int, row: tuple, key: bytes | None = None) -> str:
    message = bytes.fromhex(prev_hash) + canonical(seq, row)
    return hmac.new(key or audit_key(), message, hashlib.sha256).hexdigest()


def _head_for_update() -> ChainHead:
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = ChainHead.objects.create(pk=1, last_seq=0, last_hash=GENESIS_HASH)
    return head


def chain_pending(batch: int = CHAIN_BATCH) -> int:
    """Worker job: chain up to `batch` unchained events; returns how many."""
    with transaction.atomic():
        head = _head_for_update()  # serialises chaining workers only, never web requests
        rows = list(
            AuditEvent.objects.filter(chain_seq__isnull=True)
            .order_by("id")
            .values_list(*HASHED_FIELDS)[:batch]
        )
        if not rows:
            return 0
        seq, prev = head.last_seq, head.last_hash
        key = audit_key()
        linked = []
        for row in rows:
            seq += 1
            digest = link_hash(prev, seq, row, key)
            linked.append((seq, prev, digest, row[0]))
            prev = digest
        with connection.cursor() as cursor:
            cursor.executemany(LINK_SQL, linked)
        head.last_seq, head.last_hash = seq, prev
        head.save(update_fields=["last_seq", "last_hash", "updated_at"])
    return len(rows)


def chain_all() -> int:
    total = 0
    while done := chain_pending():
        total += done
    return total


@dataclass
class Lag:
    unchained: int
    oldest_unchained_seconds: float | None


def chain_lag() -> Lag:
    summary = AuditEvent.objects.filter(chain_seq__isnull=True).aggregate(
        count=Count("id"), oldest=Min("created_at")
    )
    oldest = summary["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else None
    return Lag(summary["count"], age)


@dataclass
class Verification:
    checked: int
    last_seq: int
    last_hash: str
    broken_at: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(checkpoint: dict | None = None, anchors: Sequence[dict] = ()) -> Verification:
    """Walk the whole chain in order; stop at the first broken link.

    `checkpoint` (an exported file) and `anchors` (the worker's anchor file) each name a
    position and its hash: the chain must still hold that hash at that position.
    """
    expected_at: dict[int, tuple[str, str]] = {}
    for anchor in anchors:
        expected_at[anchor["sequence"]] = (anchor["hash"], "an anchor")
    if checkpoint:
        expected_at[checkpoint["sequence"]] = (checkpoint["hash"], "the signed checkpoint")
    expected_at.pop(0, None)  # an empty chain is a prefix of every chain
    key = audit_key()
    prev, expected = GENESIS_HASH, 1
    rows = (
        AuditEvent.objects.filter(chain_seq__isnull=False)
        .order_by("chain_seq")
        .values_list("chain_seq", "prev_hash", "hash", *HASHED_FIELDS)
    )
    for seq, prev_hash, stored_hash, *fields in rows.iterator(chunk_size=5000):
        where = f"event #{fields[0]} at position {seq}"
        if seq != expected:
            return Verification(
                expected - 1, expected - 1, prev, expected, f"position {expected} is missing"
            )
        if prev_hash != prev:
            reason = f"{where}: its previous hash does not match the event before it"
            return Verification(seq - 1, seq - 1, prev, seq, reason)
        digest = link_hash(prev, seq, tuple(fields), key)
        if digest != stored_hash:
            reason = f"{where}: its content does not match its hash (altered)"
            return Verification(seq - 1, seq - 1, prev, seq, reason)
        if seq in expected_at:
            anchored_hash, what = expected_at.pop(seq)
            if digest != anchored_hash:
                reason = f"{where}: history differs from {what}"
                return Verification(seq - 1, seq - 1, prev, seq, reason)
        prev, expected = digest, expected + 1
    last = expected - 1
    head = ChainHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.last_seq, head.last_hash) if head else (0, GENESIS_HASH)
    if (head_seq, head_hash) != (last, prev):
        reason = f"the chain ends at position {last} but its head records position {head_seq}"
        first_wrong = min(last, head_seq) + 1 if head_seq != last else last
        return Verification(last, last, prev, first_wrong, reason)
    if expected_at:
        beyond = max(expected_at)
        what = expected_at[beyond][1]
        reason = (
            f"the chain is shorter than {what} (position {beyond}): events were cut from its end"
        )
        return Verification(last, last, prev, last + 1, reason)
    return Verification(last, last, prev)


# --- Signed checkpoints ------------------------------------------------------------------


def _signed_bytes(checkpoint: dict) -> bytes:
    fields = {name: checkpoint[name] for name in SIGNED_FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def make_checkpoint(sequence: int, head_hash: str) -> dict:
    """A signed statement that the chain held `head_hash` at `sequence`, at database time."""
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "sequence": sequence,
        "hash": head_hash,
        "database_time": database_now().isoformat(timespec="seconds"),
    }
    signature = sign(_signed_bytes(checkpoint))
    checkpoint["signature"] = base64.b64encode(signature).decode()
    return checkpoint


def checkpoint_of(verification: Verification) -> dict:
    if not verification.ok:
        raise ValueError("refusing to sign a broken chain")
    return make_checkpoint(verification.last_seq, verification.last_hash)


def checkpoint_time(checkpoint: dict) -> datetime.datetime:
    return datetime.datetime.fromisoformat(checkpoint["database_time"])


def read_checkpoint(text: str) -> dict:
    """Parse and check the signature; raises ValueError with the reason."""
    try:
        checkpoint = json.loads(text)
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise ValueError("not a Relais audit checkpoint of the keyed chain")
        if not isinstance(checkpoint["sequence"], int) or checkpoint["sequence"] < 0:
            raise ValueError("bad sequence")
        if not isinstance(checkpoint["hash"], str):
            raise ValueError("bad hash")
        checkpoint_time(checkpoint)
        signature = base64.b64decode(checkpoint["signature"], validate=True)
        verify(signature, _signed_bytes(checkpoint))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"checkpoint is invalid: {error}") from None
    except BadSignature:
        raise ValueError("checkpoint signature is invalid") from None
    return checkpoint
