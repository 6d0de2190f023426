import pytest
from django.core.exceptions import ValidationError
from django.template import Context, Template

from relais.phone import can_receive_sms, national_format, normalise_phone


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


# --- SMS: only to a number that can receive one ------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "06 12 34 56 78",
        "07 81 23 45 67",
        "0692 12 34 56",  # Réunion
        "0693 12 34 56",  # Réunion
        "0690 12 34 56",  # Guadeloupe (Saint-Martin, Saint-Barthélemy)
        "0691 28 34 56",  # Guadeloupe
        "0639 01 23 45",  # Mayotte
        "0694 20 12 34",  # French Guiana
        "0696 20 12 34",  # Martinique
        "0697 12 34 56",  # Martinique
        "+1 202 555 0143",  # FIXED_LINE_OR_MOBILE: the plan does not tell
    ],
)
def test_a_mobile_can_receive_an_sms(value):
    assert can_receive_sms(normalise_phone(value))


@pytest.mark.parametrize(
    "value",
    ["01 23 45 67 89", "05 56 12 34 56", "0262 12 34 56", "09 12 34 56 78", "+44 20 7946 0958"],
)
def test_a_landline_cannot(value):
    assert not can_receive_sms(normalise_phone(value))


def test_no_number_cannot():
    assert not can_receive_sms("")


def test_overseas_numbers_typed_as_in_france_are_overseas():
    assert normalise_phone("0692 12 34 56") == "+262692123456"
    assert normalise_phone("0690 12 34 56") == "+590690123456"
    assert normalise_phone("0639 01 23 45") == "+262639012345"
    assert normalise_phone("0693 12 34 56") == "+262693123456"
    assert normalise_phone("0691 28 34 56") == "+590691283456"
    assert normalise_phone("0694 20 12 34") == "+594694201234"
    assert normalise_phone("0696 20 12 34") == "+596696201234"
    assert normalise_phone("0697 12 34 56") == "+596697123456"


# --- Shown in the national format ---------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("+33612345678", "06 12 34 56 78"),
        ("+33123456789", "01 23 45 67 89"),
        ("+262692123456", "0692 12 34 56"),
        ("+590690123456", "0690 12 34 56"),
        ("+442079460958", "+44 20 7946 0958"),  # foreign: international
        ("", ""),
        ("not a number", "not a number"),  # shown as it is
    ],
)
def test_national_format(stored, shown):
    assert national_format(stored) == shown
    assert (
        Template("{% load relais_format %}{{ value|phone }}").render(Context({"value": stored}))
        == shown
    )
