"""The crypto API the other apps use: blobs under the data keyset, backup streams under
the backup keyset (signatures: test_signing.py). No app outside relais.crypto reaches a key."""

import io
import re
from pathlib import Path

import pytest

from relais.crypto.blobs import (
    CryptoError,
    backup_decrypting_stream,
    backup_encrypting_stream,
    decrypt_blob,
    encrypt_blob,
)
from relais.crypto.keyset import ciphertext_key_id, get_keys, new_backup_keyset_json, primary_key_id

SRC = Path(__file__).resolve().parents[2] / "src" / "relais"
AD = b"imports.chunk 42 errors 0"


def test_a_blob_round_trips_under_the_primary_data_key():
    sealed = encrypt_blob(b"line 1\nline 2\n", AD)
    assert b"line 1" not in sealed
    assert ciphertext_key_id(sealed) == primary_key_id(get_keys().aead_handle)
    assert decrypt_blob(sealed, AD) == b"line 1\nline 2\n"
    assert decrypt_blob(memoryview(sealed), AD) == b"line 1\nline 2\n"  # as a database gives it


@pytest.mark.parametrize(
    "hostile",
    [
        lambda sealed: (sealed, b"imports.chunk 43 errors 0"),  # moved to another place
        lambda sealed: (sealed[:-1] + bytes([sealed[-1] ^ 1]), AD),  # one bit changed
        lambda sealed: (sealed[:20], AD),  # truncated
        lambda sealed: (b"", AD),
    ],
)
def test_an_altered_or_moved_blob_is_refused(hostile):
    ciphertext, associated_data = hostile(encrypt_blob(b"secret", AD))
    with pytest.raises(CryptoError):
        decrypt_blob(ciphertext, associated_data)


@pytest.fixture
def backup_key(tmp_path):
    path = tmp_path / "backup-key.json"
    path.write_text(new_backup_keyset_json())
    return str(path)


def seal(data: bytes, key_file: str, ad: bytes = b"backup") -> bytes:
    out = io.BytesIO()
    out.close = lambda: None  # keep the buffer readable after the stream closes it
    with backup_encrypting_stream(out, ad, key_file) as stream:
        stream.write(data)
    return out.getvalue()


def test_a_backup_stream_round_trips(backup_key):
    data = b"x" * 3_000_000  # several 1 MB segments
    sealed = seal(data, backup_key)
    assert b"xxxx" not in sealed
    with backup_decrypting_stream(io.BytesIO(sealed), b"backup", backup_key) as stream:
        assert stream.read() == data


def test_a_backup_stream_refuses_another_key_or_other_associated_data(backup_key, tmp_path):
    sealed = seal(b"rows", backup_key)
    other = tmp_path / "other.json"
    other.write_text(new_backup_keyset_json())
    for key_file, ad in ((str(other), b"backup"), (backup_key, b"another format")):
        with pytest.raises(CryptoError):
            with backup_decrypting_stream(io.BytesIO(sealed), ad, key_file) as stream:
                stream.read()


def test_no_app_reaches_the_keys_outside_crypto():
    """Key material stays in relais.crypto: nobody else calls get_keys or parses a keyset."""
    pattern = re.compile(r"get_keys\(\)|json_proto_keyset_format|\.primitive\(")
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "crypto" not in path.relative_to(SRC).parts and pattern.search(path.read_text())
    ]
    assert offenders == []
