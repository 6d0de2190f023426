"""The Tink keysets: one AEAD keyset for fields, one PRF keyset for blind indexes.

Both live in one JSON file: {"aead": <Tink JSON keyset>, "prf": <Tink JSON keyset>}.
When a wrapping key is configured, each keyset is stored encrypted by it (Tink's
encrypted keyset format), so the file alone reveals nothing.
"""

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import tink
from django.conf import settings
from tink import aead, prf, secret_key_access

from relais.env import write_private_file

aead.register()
prf.register()

KEYSET_AD = b"relais keyset"


@dataclass(frozen=True)
class Keys:
    aead_handle: tink.KeysetHandle
    prf_handle: tink.KeysetHandle

    @functools.cached_property
    def aead(self) -> aead.Aead:
        return self.aead_handle.primitive(aead.Aead)

    @functools.cached_property
    def prf_set(self) -> prf.PrfSet:
        return self.prf_handle.primitive(prf.PrfSet)


def new_keys() -> Keys:
    return Keys(
        aead_handle=tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM),
        prf_handle=tink.new_keyset_handle(prf.prf_key_templates.HMAC_SHA256),
    )


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

    return json.dumps(
        {
            "wrapped": wrapping is not None,
            "aead": one(keys.aead_handle),
            "prf": one(keys.prf_handle),
        },
        indent=1,
    )


def parse(text: str, wrapping: aead.Aead | None) -> Keys:
    data = json.loads(text)
    fmt = tink.json_proto_keyset_format

    def one(part: dict) -> tink.KeysetHandle:
        if data.get("wrapped"):
            if wrapping is None:
                raise tink.TinkError("the keyset is wrapped: set RELAIS_KEYSET_WRAPPING_KEY_FILE")
            return fmt.parse_encrypted(json.dumps(part), wrapping, KEYSET_AD)
        return fmt.parse(json.dumps(part), secret_key_access.TOKEN)

    return Keys(aead_handle=one(data["aead"]), prf_handle=one(data["prf"]))


def write_keys(path: Path, keys: Keys, wrapping_key_file: str | None = None) -> None:
    write_private_file(path, serialize(keys, _wrapping_aead(wrapping_key_file)))


@functools.cache
def get_keys() -> Keys:
    path = Path(settings.KEYSET_FILE)
    if settings.DEMO and not path.exists():
        try:
            write_keys(path, new_keys(), settings.KEYSET_WRAPPING_KEY_FILE)
        except FileExistsError:
            pass  # another demo process created it first
    return parse(path.read_text(), _wrapping_aead(settings.KEYSET_WRAPPING_KEY_FILE))
