"""Short codes: how a patient without a phone or e-mail reaches their result link.

A printed result slip carries the link as a QR code and, for typing, a short code of
60 random bits written in Crockford's base 32 (no I, L, O or U; typed I/L read as 1 and
O as 0), grouped by four: `ABCD-EFGH-JKMN`. The code opens nothing by itself: like the
link, it leads to the date-of-birth check, with the link's expiry and tries.

The database keeps only a keyed digest of the code (the blind-index PRF of the data
keyset): 60 bits could be found back from an unkeyed hash, not from this one without the
keys. Guessing online is bounded by the per-address limit of the code page: at 10 tries
per address every 10 minutes, finding one of a million live codes takes a single address
about 2^40 tries, some twenty thousand years.
"""

import secrets

from relais.crypto.blind_index import blind_index, blind_index_candidates

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BITS = 60
LENGTH = BITS // 5  # 12 characters
GROUP = 4
PURPOSE = "patient_access.short_code"
# Confusable characters as Crockford reads them; hyphens and spaces are layout only.
TYPED = str.maketrans({"I": "1", "L": "1", "O": "0", "-": None, " ": None, "\u00a0": None})


def new_code() -> str:
    """A fresh code, normalised (12 characters, no hyphens)."""
    value = secrets.randbits(BITS)
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(LENGTH)))


def grouped(code: str) -> str:
    """ "ABCDEFGHJKMN" -> "ABCD-EFGH-JKMN", as printed."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def normalise(typed: str) -> str | None:
    """The code a patient typed, normalised; None when it cannot be one."""
    code = typed.strip().upper().translate(TYPED)
    if len(code) != LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code


def digest(code: str) -> str:
    """What the database keeps: the keyed digest under the current primary key."""
    return blind_index(PURPOSE, "", code)


def digest_candidates(code: str) -> list[str]:
    """The digests `code` may be stored under (one per key, while keys rotate)."""
    return blind_index_candidates(PURPOSE, "", code)
