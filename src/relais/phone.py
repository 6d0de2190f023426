"""Phone numbers as stored everywhere (patients, pharmacies, staff): E.164.

A project-wide helper rather than screening's, since accounts needs it too and must not
import screening.
"""

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def normalise_phone(value: str, region: str = "FR") -> str:
    """Return the phone number in E.164 form (e.g. "+33612345678")."""
    error = ValidationError(_("Enter a valid phone number."), code="phone")
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise error from None
    if not phonenumbers.is_valid_number(number):
        raise error
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
