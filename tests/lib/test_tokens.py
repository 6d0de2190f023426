import hashlib

from relais.lib.tokens import token_digest


def test_a_token_is_stored_as_its_sha256():
    assert token_digest("abc") == hashlib.sha256(b"abc").hexdigest()


def test_hostile_text_gives_a_digest_not_an_error():
    for token in ("\ud800", "", "é" * 10_000, "\x00"):
        assert len(token_digest(token)) == 64
