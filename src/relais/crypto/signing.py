"""Signatures with the keyset's signing key, for callers that do not touch key material
(the audit log's checkpoints)."""

import tink

from relais.crypto.keyset import get_keys


class BadSignature(Exception):
    """The signature was not made by our key over these bytes."""


def sign(data: bytes) -> bytes:
    return get_keys().signer.sign(data)


def verify(signature: bytes, data: bytes) -> None:
    """Returns if `signature` is ours over `data`; raises BadSignature otherwise."""
    try:
        get_keys().verifier.verify(signature, data)
    except tink.TinkError as error:
        raise BadSignature(str(error)) from None
