"""Keyed blind indexes (HMAC-SHA256 through Tink's PRF) for exact look-ups.

An index is computed over a purpose, a scope (the owning pharmacy) and a normalised
value, so the same person has unrelated indexes in two pharmacies and an index of one
kind cannot be matched against another. Look-ups try every key of the PRF keyset, so
they keep working while a rotation recomputes the stored indexes.
"""

from relais.crypto.keyset import get_keys

INDEX_BYTES = 32


def _message(purpose: str, scope: str, value: str) -> bytes:
    return "\x1f".join((purpose, scope, value)).encode()


def blind_index(purpose: str, scope: str, value: str) -> str:
    prf_set = get_keys().prf_set
    return prf_set.primary().compute(_message(purpose, scope, value), INDEX_BYTES).hex()


def blind_index_candidates(purpose: str, scope: str, value: str) -> list[str]:
    message = _message(purpose, scope, value)
    return [p.compute(message, INDEX_BYTES).hex() for p in get_keys().prf_set.all().values()]
