"""Anchors: signed checkpoints of the audit chain, appended to a file the database cannot
rewrite.

A database insider who holds neither the audit key nor the keyset can still cut events
from the end of the chain and move its head back: every remaining hash stays valid. The
worker therefore appends, at least every RELAIS_AUDIT_ANCHOR_MINUTES, one line to
RELAIS_AUDIT_ANCHOR_FILE: the chain's head (position and hash) and the database's time,
signed with the keyset's signing key. `relais audit verify` then requires the chain to
still hold every anchored hash at its position, and says how old the latest anchor is.

The file lives on the application host (by default under var/, mode 0600), never in the
database: the database's administrators cannot touch it, and the operator can make it
append-only (`chattr +a`) or ship it to write-once storage. Lines are only ever appended
(O_APPEND, then fsync); several workers on one host take an exclusive lock so only one of
them writes per interval. A line cut short by a crash (not even JSON) is ignored; a whole
line that is no valid signed anchor fails verification.
"""

import datetime
import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from relais.audit import chain
from relais.audit.models import ChainHead
from relais.lib.clock import database_now

# The last line of the file is found by reading this much of its end (a line is ~300 B).
TAIL_BYTES = 8192


def anchor_file() -> Path | None:
    path = settings.AUDIT_ANCHOR_FILE
    return Path(path) if path else None


def interval() -> datetime.timedelta:
    return datetime.timedelta(minutes=settings.AUDIT_ANCHOR_MINUTES)


@dataclass
class AnchorFile:
    anchors: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # invalid anchors: verification fails
    torn_lines: int = 0  # not even JSON: a crash while appending; harmless

    @property
    def latest(self) -> dict | None:
        return self.anchors[-1] if self.anchors else None


def read_anchors(path: Path) -> AnchorFile:
    """Every anchor in the file, each signature checked. A missing file has no anchor."""
    result = AnchorFile()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return result
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        try:
            result.anchors.append(chain.read_checkpoint(line))
        except ValueError as error:
            if _is_json(line):  # a whole line that is no valid anchor: forged or damaged
                result.problems.append(f"{path}, line {number}: {error}")
            else:
                result.torn_lines += 1
    return result


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _latest_in_tail(handle) -> dict | None:
    size = os.fstat(handle.fileno()).st_size
    handle.seek(max(0, size - TAIL_BYTES))
    for line in reversed(handle.read().decode(errors="replace").split("\n")):
        if line.strip():
            try:
                return chain.read_checkpoint(line)
            except ValueError:
                return None  # a torn line: write a fresh anchor
    return None


def append_anchor(path: Path, checkpoint: dict, handle=None) -> None:
    """Append one line and make it durable before returning."""
    line = json.dumps(checkpoint, sort_keys=True, separators=(",", ":")) + "\n"
    if handle is None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    else:
        fd = handle.fileno()
    try:
        size = os.fstat(fd).st_size
        if size and _ends_without_newline(path, size):
            line = "\n" + line  # never glue an anchor onto a torn line
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        if handle is None:
            os.close(fd)


def _ends_without_newline(path: Path, size: int) -> bool:
    with open(path, "rb") as reader:
        reader.seek(size - 1)
        return reader.read(1) != b"\n"


def current_head() -> tuple[int, str]:
    head = ChainHead.objects.filter(pk=1).first()
    return (head.last_seq, head.last_hash) if head else (0, chain.GENESIS_HASH)


def anchor_now(path: Path) -> dict:
    """Chain what is pending, then append an anchor of the head; returns it."""
    chain.chain_all()
    checkpoint = chain.make_checkpoint(*current_head())
    append_anchor(path, checkpoint)
    return checkpoint


def anchor_if_due() -> int:
    """Worker job: append an anchor when the latest is older than the interval; returns 1
    when it wrote one. Runs after the chaining job, so the head is current."""
    path = anchor_file()
    if path is None:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "rb+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the file is closed
        latest = _latest_in_tail(handle)
        now = database_now()
        if latest is not None and now - chain.checkpoint_time(latest) < interval():
            return 0
        append_anchor(path, chain.make_checkpoint(*current_head()), handle)
    return 1
