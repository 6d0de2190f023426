import pytest

from relais.crypto.signing import BadSignature, sign, verify


def test_a_signature_verifies_over_the_same_bytes():
    verify(sign(b"checkpoint 42"), b"checkpoint 42")


def test_other_bytes_do_not_verify():
    with pytest.raises(BadSignature):
        verify(sign(b"checkpoint 42"), b"checkpoint 43")


@pytest.mark.parametrize("signature", [b"", b"\x00" * 64])
def test_a_forged_signature_does_not_verify(signature):
    with pytest.raises(BadSignature):
        verify(signature, b"checkpoint 42")


def test_a_flipped_bit_does_not_verify():
    signature = bytearray(sign(b"checkpoint 42"))
    signature[-1] ^= 1
    with pytest.raises(BadSignature):
        verify(bytes(signature), b"checkpoint 42")
