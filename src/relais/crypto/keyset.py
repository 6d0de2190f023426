"""The Tink keysets: AEAD for fields, PRF for blind indexes, a signature key for audit checkpoints.

All live in one JSON file: {"aead": <Tink JSON keyset>, "prf": ..., "audit_signing": ...}.
When a wrapping key is configured, each keyset is stored encrypted by it (Tink's
encrypted keyset format), so the file alone reveals nothing.

Processes keep the parsed keyset in memory and look at the file's identity (inode,
mtime, size) at most once per RELOAD_CHECK_SECONDS, so a web process picks up a key
added by `relais keys rotate` within a second and can read rows re-encrypted under it.
"""

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import tink
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from tink import aead, prf, secret_key_access, signature, streaming_aead
from tink.proto import tink_pb2

from relais.env import write_private_file

aead.register()
prf.register()
signature.register()
streaming_aead.register()

KEYSET_AD = b"relais keyset"
AEAD_TEMPLATE = aead.aead_key_templates.AES256_GCM
PRF_TEMPLATE = prf.prf_key_templates.HMAC_SHA256
SIGNING_TEMPLATE = signature.signature_key_templates.ECDSA_P256
BACKUP_TEMPLATE = streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_1MB
RELOAD_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Keys:
    aead_handle: tink.KeysetHandle
    prf_handle: tink.KeysetHandle
    # Signs audit checkpoints; absent from keysets made before it existed (rotate adds it).
    signing_handle: tink.KeysetHandle | None = None

    @property
    def aead(self) -> aead.Aead:
        return _primitive(self.aead_handle, aead.Aead)

    @property
    def prf_set(self) -> prf.PrfSet:
        return _primitive(self.prf_handle, prf.PrfSet)

    @property
    def signer(self) -> signature.PublicKeySign:
        if self.signing_handle is None:
            raise tink.TinkError("this keyset has no audit signing key: run `relais keys rotate`")
        return _primitive(self.signing_handle, signature.PublicKeySign)

    @property
    def verifier(self) -> signature.PublicKeyVerify:
        if self.signing_handle is None:
            raise tink.TinkError("this keyset has no audit signing key: run `relais keys rotate`")
        public = self.signing_handle.public_keyset_handle()
        return _primitive(public, signature.PublicKeyVerify)


def _primitive(handle: tink.KeysetHandle, kind: type):
    # Building a primitive is the costly part: keep it on the (immutable) handle.
    cache = handle.__dict__.setdefault("_relais_primitives", {})
    if kind not in cache:
        cache[kind] = handle.primitive(kind)
    return cache[kind]


def new_keys() -> Keys:
    return Keys(
        aead_handle=tink.new_keyset_handle(AEAD_TEMPLATE),
        prf_handle=tink.new_keyset_handle(PRF_TEMPLATE),
        signing_handle=tink.new_keyset_handle(SIGNING_TEMPLATE),
    )


def new_backup_keyset_json() -> str:
    """A streaming-AEAD keyset for backups (RELAIS_BACKUP_KEY_FILE), kept apart from data keys."""
    handle = tink.new_keyset_handle(BACKUP_TEMPLATE)
    return tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN)


def new_wrapping_keyset_json() -> str:
    """An AEAD keyset that wraps the keyset file (RELAIS_KEYSET_WRAPPING_KEY_FILE)."""
    handle = tink.new_keyset_handle(AEAD_TEMPLATE)
    return tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN)


# --- Key management on Tink keysets (through their protobuf form) -----------------------


def _keyset_proto(handle: tink.KeysetHandle) -> tink_pb2.Keyset:
    raw = tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
    return tink_pb2.Keyset.FromString(raw)


def _handle(keyset: tink_pb2.Keyset) -> tink.KeysetHandle:
    return tink.proto_keyset_format.parse(keyset.SerializeToString(), secret_key_access.TOKEN)


def key_ids(handle: tink.KeysetHandle) -> list[int]:
    return [info.key_id for info in handle.keyset_info().key_info]


def primary_key_id(handle: tink.KeysetHandle) -> int:
    return handle.keyset_info().primary_key_id


def with_new_primary(handle: tink.KeysetHandle, template) -> tink.KeysetHandle:
    """The same keyset plus a fresh key of `template`, made primary."""
    keyset = _keyset_proto(handle)
    fresh = _keyset_proto(tink.new_keyset_handle(template)).key[0]
    used = {key.key_id for key in keyset.key}
    while fresh.key_id in used:  # ids are random 32-bit numbers; collisions are rare
        fresh.key_id = int.from_bytes(os.urandom(4), "big") or 1
    keyset.key.append(fresh)
    keyset.primary_key_id = fresh.key_id
    return _handle(keyset)


def without_keys(handle: tink.KeysetHandle, drop: set[int]) -> tink.KeysetHandle:
    keyset = _keyset_proto(handle)
    if keyset.primary_key_id in drop:
        raise ValueError("the primary key cannot be dropped")
    kept = [key for key in keyset.key if key.key_id not in drop]
    del keyset.key[:]
    keyset.key.extend(kept)
    return _handle(keyset)


def ciphertext_key_id(ciphertext: bytes) -> int | None:
    """Tink's TINK output prefix: version byte 0x01, then the key id (4 bytes, big-endian)."""
    if len(ciphertext) < 5 or ciphertext[0] != 1:
        return None
    return int.from_bytes(ciphertext[1:5], "big")


# --- The keyset file ----------------------------------------------------------------------


def _wrapping_aead(path: str | None) -> aead.Aead | None:
    if not path:
        return None
    handle = tink.json_proto_keyset_format.parse(Path(path).read_text(), secret_key_access.TOKEN)
    return handle.primitive(aead.Aead)


def serialize(keys: Keys, wrapping: aead.Aead | None) -> str:
    def one(handle: tink.KeysetHandle) -> dict:
        fmt = tink.json_proto_keyset_format
        if wrapping is None:
            text = fmt.serialize(handle, secret_key_access.TOKEN)
        else:
            text = fmt.serialize_encrypted(handle, wrapping, KEYSET_AD)
        return json.loads(text)

    data = {"wrapped": wrapping is not None, "aead": one(keys.aead_handle)}
    data["prf"] = one(keys.prf_handle)
    if keys.signing_handle is not None:
        data["audit_signing"] = one(keys.signing_handle)
    return json.dumps(data, indent=1)


def parse(text: str, wrapping: aead.Aead | None) -> Keys:
    data = json.loads(text)
    fmt = tink.json_proto_keyset_format

    def one(part: dict) -> tink.KeysetHandle:
        if data.get("wrapped"):
            if wrapping is None:
                raise tink.TinkError("the keyset is wrapped: set RELAIS_KEYSET_WRAPPING_KEY_FILE")
            return fmt.parse_encrypted(json.dumps(part), wrapping, KEYSET_AD)
        return fmt.parse(json.dumps(part), secret_key_access.TOKEN)

    signing = data.get("audit_signing")
    return Keys(
        aead_handle=one(data["aead"]),
        prf_handle=one(data["prf"]),
        signing_handle=one(signing) if signing else None,
    )


def write_keys(path: Path, keys: Keys, wrapping_key_file: str | None = None) -> None:
    write_private_file(path, serialize(keys, _wrapping_aead(wrapping_key_file)))


def replace_keys(path: Path, keys: Keys, wrapping_key_file: str | None = None) -> None:
    """Replace the keyset file atomically (a reader sees the old file or the new one)."""
    content = serialize(keys, _wrapping_aead(wrapping_key_file))
    write_private_file(path, content, replace=True)
    _cache.clear()


def load_keys() -> Keys:
    """Read the configured keyset file now (no cache)."""
    path = Path(settings.KEYSET_FILE)
    text = path.read_text()
    if not text.strip():
        # Never "no keys": that would read as a fresh start and orphan every ciphertext.
        raise ImproperlyConfigured(
            f"The keyset file {path} is empty: restore it from its copy (never regenerate it)."
        )
    return parse(text, _wrapping_aead(settings.KEYSET_WRAPPING_KEY_FILE))


class _KeyCache:
    def __init__(self):
        self.lock = threading.Lock()
        self.clear()

    def clear(self):
        self.keys: Keys | None = None
        self.stamp = None
        self.checked_at = float("-inf")

    def get(self) -> Keys:
        if self.keys is not None and time.monotonic() - self.checked_at < RELOAD_CHECK_SECONDS:
            return self.keys
        with self.lock:
            path = Path(settings.KEYSET_FILE)
            if settings.DEMO and not path.exists():
                try:
                    write_keys(path, new_keys(), settings.KEYSET_WRAPPING_KEY_FILE)
                except FileExistsError:
                    pass  # another demo process created it first
                except OSError as error:  # a full disk: no file at all, never an empty one
                    raise ImproperlyConfigured(
                        f"Cannot create the keyset file {path}: {error.strerror}."
                    ) from None
            status = path.stat()
            stamp = (str(path), status.st_ino, status.st_mtime_ns, status.st_size)
            if self.keys is None or stamp != self.stamp:
                self.keys = load_keys()
                self.stamp = stamp
            self.checked_at = time.monotonic()
            return self.keys


_cache = _KeyCache()


class _GetKeys:
    """`get_keys()`: the configured keys, re-read when the file changes;
    `get_keys.cache_clear()` forgets them (tests, after a rotation)."""

    def __call__(self) -> Keys:
        return _cache.get()

    def cache_clear(self) -> None:
        _cache.clear()


get_keys = _GetKeys()
