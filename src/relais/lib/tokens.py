"""Secret tokens (account links, API credentials, patient links) are stored as digests."""

import hashlib


def token_digest(token: str) -> str:
    """SHA-256 of the token: enough for a random secret of 256 bits (nothing to guess, so
    no key is needed), and the stored hashes never change with SECRET_KEY. Any text,
    even a lone surrogate from a hostile URL, gives a digest rather than an error."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
