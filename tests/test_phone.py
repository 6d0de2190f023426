import pytest
from django.core.exceptions import ValidationError

from relais.phone import normalise_phone


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("0612345678", "+33612345678"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_valid_phone(value, expected):
    assert normalise_phone(value) == expected


@pytest.mark.parametrize("value", ["12345", "", "not a phone", "06 12 34"])
def test_invalid_phone(value):
    with pytest.raises(ValidationError) as excinfo:
        normalise_phone(value)
    assert excinfo.value.code == "phone"


def test_phone_region():
    assert normalise_phone("020 7946 0958", region="GB") == "+442079460958"
