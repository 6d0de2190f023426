"""Phone numbers as stored everywhere (patients, pharmacies, staff): E.164.

A project-wide helper rather than screening's, since accounts needs it too and must not
import screening. The rules about numbers live here: how a typed number is read (a French
national number may be an overseas one: 0692… is Réunion, 0690… Guadeloupe, 0639… Mayotte),
which numbers can receive an SMS, and how a stored number is shown (national format).
"""

import functools

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# The overseas departments and collectivities that share the French national numbering
# plan: a number typed "0692 …" in France is dialled as such and reaches Réunion.
FRENCH_OVERSEAS_REGIONS = ("RE", "YT", "GP", "MQ", "GF", "BL", "MF", "PM")

# Their country codes, and metropolitan France's: numbers shown in the national format.
FRENCH_COUNTRY_CODES = frozenset({33, 262, 508, 590, 594, 596})

# The kinds of number an SMS can reach. FIXED_LINE_OR_MOBILE is how the numbering plan
# answers for countries that do not tell them apart (the United States, among others).
SMS_CAPABLE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


def _parse(value: str, region: str) -> phonenumbers.PhoneNumber | None:
    """The valid number `value` means, typed in `region`, or None."""
    regions = [region]
    if region == "FR" and value.strip().startswith("0"):
        regions += FRENCH_OVERSEAS_REGIONS
    for candidate in regions:
        try:
            number = phonenumbers.parse(value, candidate)
        except phonenumbers.NumberParseException:
            return None
        if phonenumbers.is_valid_number(number):
            return number
    return None


@functools.lru_cache(maxsize=4096)
def _read(value: str, region: str) -> tuple[str, bool] | None:
    """(E.164 form, can receive an SMS) of the valid number `value` means, or None. A
    pure function of its arguments, kept for the numbers last read: checking one test
    reads its number several times (the form, the channel, the CSV's example row), and
    parsing is most of the cost of a phone check."""
    number = _parse(value, region)
    if number is None:
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, phonenumbers.number_type(number) in SMS_CAPABLE_TYPES


def normalise_phone(value: str, region: str = "FR") -> str:
    """Return the phone number in E.164 form (e.g. "+33612345678")."""
    read = _read(value, region)
    if read is None:
        raise ValidationError(_("Enter a valid phone number."), code="phone")
    return read[0]


def can_receive_sms(value: str) -> bool:
    """Whether a stored number is a mobile one: a landline (or any number the numbering
    plan knows is not a mobile) cannot receive an SMS."""
    read = _read(value, "FR") if value else None
    return read is not None and read[1]


def national_format(value: str) -> str:
    """A stored number as people write it: "06 12 34 56 78" for a French number (overseas
    ones too: "0692 12 34 56"), the international form for a foreign one. A value that is
    not a valid number is shown as it is."""
    number = _parse(value, "FR") if value else None
    if number is None:
        return value
    if number.country_code in FRENCH_COUNTRY_CODES:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
