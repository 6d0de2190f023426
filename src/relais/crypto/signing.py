"""Signatures by the keyset's audit signing key (ECDSA P-256), for audit checkpoints."""

from relais.crypto.blobs import CryptoError
from relais.crypto.keyset import get_keys

__all__ = ["CryptoError", "sign", "verify"]


def sign(data: bytes) -> bytes:
    return get_keys().signer.sign(data)


def verify(signature: bytes, data: bytes) -> None:
    """Raises CryptoError unless `signature` is ours over `data` (or with no signing key)."""
    get_keys().verifier.verify(signature, data)
