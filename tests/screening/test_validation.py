import datetime
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from relais.screening.validation import (
    check_birth_date,
    check_nir_consistency,
    check_sampled_at,
    clean_person_name,
    clean_printable,
    normalise_email,
    normalise_name,
    normalise_nir,
)

# Under pytest-django the project settings are already loaded; this only lets the
# module run on its own (e.g. with -p no:django). Only check_sampled_at reads them
# (for the local time zone).
if not settings.configured:
    settings.configure(USE_I18N=False, USE_TZ=True, TIME_ZONE="Europe/Paris")

PARIS = ZoneInfo("Europe/Paris")


def make_nir(first13: str) -> str:
    """Append the key to the first 13 characters of an NIR."""
    digits = first13.replace("2A", "19").replace("2B", "18")
    return f"{first13}{97 - int(digits) % 97:02d}"


def codes(error: ValidationError) -> list[str]:
    return [e.code for e in error.error_list]


def assert_invalid(code, func, *args, **kwargs):
    with pytest.raises(ValidationError) as excinfo:
        func(*args, **kwargs)
    assert codes(excinfo.value) == [code]


# A man born in May 1985 in Paris (75), and a woman born in December 1990.
MALE_NIR = make_nir("1850575123456")
FEMALE_NIR = make_nir("2901269123456")
MALE_BIRTH = datetime.date(1985, 5, 14)
FEMALE_BIRTH = datetime.date(1990, 12, 1)


# normalise_nir


def test_make_nir_matches_known_valid_number():
    # Example from the python-stdnum documentation.
    assert make_nir("2951099126111") == "295109912611193"


@pytest.mark.parametrize("nir", [MALE_NIR, FEMALE_NIR])
def test_valid_nir(nir):
    assert normalise_nir(nir) == nir


def test_nir_with_separators_and_lowercase():
    nir = make_nir("253072A073004")
    spaced = (
        f" {nir[0]} {nir[1:3]}.{nir[3:5]}-{nir[5:7].lower()} {nir[7:10]} {nir[10:13]} {nir[13:]} "
    )
    assert normalise_nir(spaced) == nir


@pytest.mark.parametrize("first13", ["253072A073004", "253072B073004"])
def test_corsica(first13):
    nir = make_nir(first13)
    assert normalise_nir(nir) == nir


@pytest.mark.parametrize(
    "first13",
    [
        "1850597101123",  # Guadeloupe (971)
        "2850597205123",  # Martinique (972)
        "1850597302123",  # Guyane (973)
        "2850597411123",  # La Réunion (974)
        "1850597502123",  # Saint-Pierre-et-Miquelon (975)
        "2850597611123",  # Mayotte (976)
        "1850598714123",  # French Polynesia (987)
        "2850598818123",  # New Caledonia (988)
        "1850599135123",  # born abroad (99)
    ],
)
def test_overseas_and_abroad(first13):
    nir = make_nir(first13)
    assert normalise_nir(nir) == nir


def test_wrong_key():
    wrong = MALE_NIR[:13] + f"{int(MALE_NIR[13:]) % 97 + 1:02d}"  # any other key in 01..97
    assert_invalid("nir_key", normalise_nir, wrong)


def test_typo_detected_by_key():
    typo = MALE_NIR[:7] + ("1" if MALE_NIR[7] != "1" else "2") + MALE_NIR[8:]
    assert_invalid("nir_key", normalise_nir, typo)


@pytest.mark.parametrize("value", ["", "12345", MALE_NIR[:14], MALE_NIR + "0"])
def test_wrong_length(value):
    assert_invalid("nir_format", normalise_nir, value)


@pytest.mark.parametrize(
    "value",
    [
        "1850575A23456" + "00",  # letter outside the department
        "253072C07300443",  # 2C is no department
        "18505751234５６",  # non-ASCII digits
    ],
)
def test_bad_characters(value):
    assert_invalid("nir_format", normalise_nir, value)


# check_nir_consistency


def test_consistent_nir():
    check_nir_consistency(MALE_NIR, "M", MALE_BIRTH)
    check_nir_consistency(FEMALE_NIR, "F", FEMALE_BIRTH)


def test_sex_mismatch():
    assert_invalid("nir_sex", check_nir_consistency, MALE_NIR, "F", MALE_BIRTH)
    assert_invalid("nir_sex", check_nir_consistency, FEMALE_NIR, "M", FEMALE_BIRTH)


@pytest.mark.parametrize("nir", [MALE_NIR, FEMALE_NIR])
def test_unknown_sex_accepts_either_parity(nir):
    check_nir_consistency(nir, "U", datetime.date(int("19" + nir[1:3]), int(nir[3:5]), 1))


@pytest.mark.parametrize("first_digit", ["0", "5", "6", "9"])
def test_invalid_sex_digit(first_digit):
    nir = make_nir(first_digit + MALE_NIR[1:13])
    assert_invalid("nir_sex_digit", check_nir_consistency, nir, "U", MALE_BIRTH)


def test_year_mismatch():
    with pytest.raises(ValidationError) as excinfo:
        check_nir_consistency(MALE_NIR, "M", MALE_BIRTH.replace(year=1986))
    assert codes(excinfo.value) == ["nir_year"]
    assert excinfo.value.error_list[0].params == {"nir_year": 1985, "year": 1986}


def test_messages_name_the_values():
    # Checks that the params fit the placeholders; digits survive translation.
    with pytest.raises(ValidationError) as excinfo:
        check_nir_consistency(make_nir("1851375123456"), "M", datetime.date(1986, 5, 1))
    year_message, month_message = excinfo.value.messages
    assert "1985" in year_message and "1986" in year_message
    assert "13" in month_message


def test_year_mismatch_across_centuries():
    # "99" next to a 2001 birth date is reported as 1999.
    nir = make_nir("1990575123456")
    with pytest.raises(ValidationError) as excinfo:
        check_nir_consistency(nir, "M", datetime.date(2001, 5, 1))
    assert excinfo.value.error_list[0].params == {"nir_year": 1999, "year": 2001}


def test_same_two_year_digits_other_century_accepted():
    # The NIR only holds two year digits: 1905 and 2005 both read "05".
    nir = make_nir("1050575123456")
    check_nir_consistency(nir, "M", datetime.date(1905, 5, 1))
    check_nir_consistency(nir, "M", datetime.date(2005, 5, 1))


def test_month_mismatch():
    assert_invalid("nir_month", check_nir_consistency, MALE_NIR, "M", MALE_BIRTH.replace(month=6))


# INSEE gives 20 to 42 and 50 to 99 when the month is unknown or the civil record
# incomplete (people born abroad among them): any birth month agrees with them.
@pytest.mark.parametrize("month", ["20", "30", "42", "50", "62", "99"])
def test_special_months_accepted(month):
    nir = make_nir("185" + month + "75123456")
    check_nir_consistency(nir, "M", MALE_BIRTH)


@pytest.mark.parametrize("month", ["00", "13", "19", "43", "49"])
def test_invalid_months_rejected(month):
    nir = make_nir("185" + month + "75123456")
    assert_invalid("nir_month", check_nir_consistency, nir, "M", MALE_BIRTH)


def test_all_problems_reported_together():
    wrong = datetime.date(1986, 6, 1)
    with pytest.raises(ValidationError) as excinfo:
        check_nir_consistency(MALE_NIR, "F", wrong)
    assert codes(excinfo.value) == ["nir_sex", "nir_year", "nir_month"]


@pytest.mark.parametrize(
    ("first13", "sex"),
    [("7990099123456", "M"), ("8004399123456", "F"), ("7123499123456", "U")],
)
def test_nia_any_year_and_month_accepted(first13, sex):
    check_nir_consistency(make_nir(first13), sex, MALE_BIRTH)


@pytest.mark.parametrize(("first13", "sex"), [("7990099123456", "F"), ("8004399123456", "M")])
def test_nia_sex_still_checked(first13, sex):
    assert_invalid("nir_sex", check_nir_consistency, make_nir(first13), sex, MALE_BIRTH)


@pytest.mark.parametrize("first_digit", ["3", "4"])
def test_other_sex_digits(first_digit):
    nir = make_nir(first_digit + MALE_NIR[1:13])
    check_nir_consistency(nir, "M" if first_digit == "3" else "F", MALE_BIRTH)


# normalise_email


def test_valid_email():
    assert normalise_email("marie.dupont@example.fr") == "marie.dupont@example.fr"


def test_email_domain_lowercased():
    assert normalise_email("Marie.Dupont@Example.FR") == "Marie.Dupont@example.fr"


@pytest.mark.parametrize("value", ["foo@", "", "foo", "@example.fr", "a b@example.fr"])
def test_invalid_email(value):
    assert_invalid("email", normalise_email, value)


# normalise_name


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  d'Artagnan-Éloïse ", "D ARTAGNAN ELOISE"),
        ("N’Diaye", "N DIAYE"),
        ("Le   Gall", "LE GALL"),
        ("jean--édouard", "JEAN EDOUARD"),
        ("François", "FRANCOIS"),
        ("E\u0301lodie", "ELODIE"),  # accent typed as a combining mark
        ("Lætitia Cœur", "LAETITIA COEUR"),  # ligatures typed as one letter or two
        ("ŒUVRARD", "OEUVRARD"),
    ],
)
def test_normalise_name(value, expected):
    assert normalise_name(value) == expected


# clean_person_name


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Le Gall", "Le Gall"),
        ("N'Diaye", "N'Diaye"),
        ("N’Diaye", "N’Diaye"),
        ("Jean-Édouard", "Jean-Édouard"),
        ("  Marie   St. Clair ", "Marie St. Clair"),
        ("E\u0301lodie", "Élodie"),
        ("a" * 100, "a" * 100),
    ],
)
def test_clean_person_name_accepts(value, expected):
    assert clean_person_name(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "   ", "Jean2", "Louis XIV 14", "a" * 101, "Marie@", "Jean_Pierre", "-", "' ."],
)
def test_clean_person_name_rejects(value):
    assert_invalid("name", clean_person_name, value)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Marie@", "“@” (U+0040 COMMERCIAL AT)"),
        ("Jean\x07", 'U+0007 "\\x07"'),  # a control character: invisible on the page
        ("Jean\u200bPierre", "U+200B ZERO WIDTH SPACE"),
        ("L\x92Hôpital", 'U+0092 "\\x92"'),  # ’ of a Windows file read as Latin-1
    ],
)
def test_a_refused_name_names_the_character_visibly(value, shown):
    with pytest.raises(ValidationError) as excinfo:
        clean_person_name(value)
    assert shown in excinfo.value.messages[0]


def test_a_refused_lot_names_the_character_visibly():
    with pytest.raises(ValidationError) as excinfo:
        clean_printable("AB\x1b12")
    assert excinfo.value.code == "printable"
    assert 'U+001B "\\x1b"' in excinfo.value.messages[0]


# check_birth_date

TODAY = datetime.date(2024, 3, 15)


def test_birth_date_today_accepted():
    check_birth_date(TODAY, today=TODAY)


def test_birth_date_1900_accepted():
    check_birth_date(datetime.date(1900, 1, 1), today=TODAY)


def test_birth_date_future_rejected():
    assert_invalid("birth_date_future", check_birth_date, TODAY.replace(day=16), today=TODAY)


def test_birth_date_before_1900_rejected():
    assert_invalid("birth_date_past", check_birth_date, datetime.date(1899, 12, 31), today=TODAY)


# check_sampled_at

NOW = datetime.datetime(2024, 3, 15, 10, 0, tzinfo=PARIS)


def test_sampled_now_accepted():
    check_sampled_at(NOW, MALE_BIRTH, now=NOW)


def test_sampled_slightly_ahead_accepted():
    check_sampled_at(NOW + datetime.timedelta(minutes=2), MALE_BIRTH, now=NOW)


def test_sampled_future_rejected():
    later = NOW + datetime.timedelta(minutes=6)
    assert_invalid("sampled_future", check_sampled_at, later, MALE_BIRTH, now=NOW)


def test_sampled_on_birth_day_accepted():
    check_sampled_at(NOW, NOW.date(), now=NOW)


def test_sampled_before_birth_rejected():
    birth = NOW.date() + datetime.timedelta(days=1)
    assert_invalid("sampled_before_birth", check_sampled_at, NOW, birth, now=NOW)


def test_sampled_on_birth_day_given_in_utc_accepted():
    # 00:30 in Paris on the birth day is still the previous day in UTC.
    sampled = datetime.datetime(2024, 3, 14, 23, 30, tzinfo=datetime.UTC)
    check_sampled_at(sampled, datetime.date(2024, 3, 15), now=NOW)
