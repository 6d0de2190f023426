"""Keyed blind indexes (HMAC-SHA256 through Tink's PRF) for exact look-ups.

An index is computed over a purpose, a scope (the owning pharmacy) and a normalised
value, so the same person has unrelated indexes in two pharmacies and an index of one
kind cannot be matched against another. Look-ups try every key of the PRF keyset, so
they keep working while a rotation recomputes the stored indexes.

An index is 64 hex characters: the PRF key id (8) then 28 bytes of HMAC output (56), so
`relais keys status` can count which key each stored index uses without any secret.
"""

from relais.crypto.keyset import get_keys

INDEX_BYTES = 28
KEY_ID_HEX = 8


def _message(purpose: str, scope: str, value: str) -> bytes:
    return "\x1f".join((purpose, scope, value)).encode()


def _index(key_id: int, prf, message: bytes) -> str:
    return f"{key_id:08x}{prf.compute(message, INDEX_BYTES).hex()}"


def blind_index(purpose: str, scope: str, value: str) -> str:
    prf_set = get_keys().prf_set
    return _index(prf_set.primary_id(), prf_set.primary(), _message(purpose, scope, value))


def blind_index_candidates(purpose: str, scope: str, value: str) -> list[str]:
    message = _message(purpose, scope, value)
    return [_index(key_id, p, message) for key_id, p in get_keys().prf_set.all().items()]


def index_key_id(index: str) -> int | None:
    try:
        return int(index[:KEY_ID_HEX], 16) if len(index) == 2 * INDEX_BYTES + KEY_ID_HEX else None
    except ValueError:
        return None
