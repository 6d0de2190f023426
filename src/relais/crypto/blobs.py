"""Encrypted bytes for code outside relais.crypto: apps ask for encryption here and never
touch a key or a keyset themselves.

- encrypt_blob / decrypt_blob: one value under the data AEAD keyset (the keyset of the
  encrypted fields; `relais keys rotate` adds a primary key to both at once), bound to
  `associated_data` so a blob moved to another place fails to decrypt.
- backup streams: Tink streaming AEAD under the separate backup keyset
  (RELAIS_BACKUP_KEY_FILE), never the data keys, for files too large to hold in memory.

Decryption of altered, truncated, moved or foreign data raises CryptoError.
"""

import io
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

import tink
from tink import secret_key_access, streaming_aead

from relais.crypto.keyset import ciphertext_key_id, get_keys, key_ids

CryptoError = tink.TinkError

# The data key a stored blob (or encrypted field value) was made with, read from its prefix.
blob_key_id = ciphertext_key_id


def data_key_ids() -> dict[str, list[int]]:
    """The ids of the data keys in the current keyset: AEAD (fields, blobs) and PRF
    (blind indexes), as a backup header records them."""
    keys = get_keys()
    return {"aead": key_ids(keys.aead_handle), "prf": key_ids(keys.prf_handle)}


def encrypt_blob(plaintext: bytes, associated_data: bytes) -> bytes:
    return get_keys().aead.encrypt(plaintext, associated_data)


def decrypt_blob(ciphertext: bytes, associated_data: bytes) -> bytes:
    return get_keys().aead.decrypt(bytes(ciphertext), associated_data)


def _backup_cipher(key_file: str) -> streaming_aead.StreamingAead:
    text = Path(key_file).read_text()
    handle = tink.json_proto_keyset_format.parse(text, secret_key_access.TOKEN)
    return handle.primitive(streaming_aead.StreamingAead)


def backup_encrypting_stream(
    destination: BinaryIO | io.RawIOBase, associated_data: bytes, key_file: str
) -> AbstractContextManager[BinaryIO]:
    """A writable stream that encrypts into `destination` with the backup key in
    `key_file`; closing it writes the last segment (and closes `destination`)."""
    return _backup_cipher(key_file).new_encrypting_stream(destination, associated_data)


def backup_decrypting_stream(
    source: BinaryIO, associated_data: bytes, key_file: str
) -> AbstractContextManager[BinaryIO]:
    """A readable stream of what `source` holds, decrypted with the backup key in
    `key_file`; reading raises CryptoError at the first altered or missing segment."""
    return _backup_cipher(key_file).new_decrypting_stream(source, associated_data)
