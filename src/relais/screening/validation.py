"""Validation and normalisation of the patient data typed in at the pharmacy.

Plain functions raising Django's ValidationError, so that forms, the API and
imports share the same rules. Each error carries a ``code`` that callers and
tests can rely on; the messages are for people and will be translated.
"""

import datetime
import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from email_validator import EmailNotValidError, validate_email
from stdnum import exceptions as stdnum_exceptions
from stdnum.fr import nir as stdnum_nir

NIR_LENGTH = 15
NAME_MAX_LENGTH = 100
EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)
# Pharmacy computers' clocks drift; a sample taken "just now" must not be refused.
SAMPLED_AT_TOLERANCE = datetime.timedelta(minutes=5)

_NIR_SEPARATORS = re.compile(r"[\s.\-]+")
_MALE_DIGITS = "137"
_FEMALE_DIGITS = "248"
# NIA (temporary numbers) start with 7 or 8: their year and month are not reliable.
_NIA_DIGITS = "78"
# Months 20 to 42 and 50 to 99 are given when the birth month is unknown or the civil
# record incomplete (registrations from abroad among them): they say nothing about the
# actual month. 00, 13 to 19 and 43 to 49 are never given. (python-stdnum's fr.nir checks
# only the characters and the key, not the month.)
_SPECIAL_MONTHS = frozenset((*range(20, 43), *range(50, 100)))

_NAME_SEPARATORS = re.compile(r"['’‘ʼ.\-‐‑–—\s]+")
_NAME_PUNCTUATION = frozenset(" '’-.")


def normalise_nir(value: str) -> str:
    """Return the 15-character compact NIR, or raise ValidationError."""
    nir = _NIR_SEPARATORS.sub("", value).upper()
    if len(nir) != NIR_LENGTH:
        raise ValidationError(
            _("An NIR has 15 characters; this one has %(length)d."),
            code="nir_format",
            params={"length": len(nir)},
        )
    try:
        # stdnum checks the characters (digits, 2A/2B for Corsica) and the key.
        # Overseas departments (97x, 98x) are plain digits, so need no special case.
        return stdnum_nir.validate(nir)
    except stdnum_exceptions.InvalidChecksum:
        raise ValidationError(
            _("This NIR is not valid: its key (last two digits) does not match. Check for typos."),
            code="nir_key",
        ) from None
    except stdnum_exceptions.ValidationError:
        raise ValidationError(
            _("An NIR contains only digits, except 2A or 2B for people born in Corsica."),
            code="nir_format",
        ) from None


def check_nir_consistency(nir: str, sex: str, birth_date: datetime.date) -> None:
    """Check that a normalised NIR agrees with the sex ("M", "F" or "U") and birth date.

    All problems found are reported together in one ValidationError.
    """
    if sex not in ("M", "F", "U"):
        raise ValueError(f"sex must be 'M', 'F' or 'U', not {sex!r}")
    errors = []

    sex_digit = nir[0]
    if sex_digit in _MALE_DIGITS:
        nir_sex = "M"
    elif sex_digit in _FEMALE_DIGITS:
        nir_sex = "F"
    else:
        nir_sex = None
        errors.append(
            ValidationError(
                _("An NIR cannot start with %(digit)s."),
                code="nir_sex_digit",
                params={"digit": sex_digit},
            )
        )
    if nir_sex and sex != "U" and sex != nir_sex:
        message = (
            _("The NIR is a man's, but the sex entered is female.")
            if nir_sex == "M"
            else _("The NIR is a woman's, but the sex entered is male.")
        )
        errors.append(ValidationError(message, code="nir_sex"))

    if sex_digit not in _NIA_DIGITS:
        errors.extend(_check_nir_year(int(nir[1:3]), birth_date))
        errors.extend(_check_nir_month(int(nir[3:5]), birth_date))

    if errors:
        raise ValidationError(errors)


def _check_nir_year(nir_year: int, birth_date: datetime.date) -> list[ValidationError]:
    if nir_year == birth_date.year % 100:
        return []
    # The NIR only has two digits; show the full year nearest to the birth date
    # so the message reads naturally (85 next to 1986 is 1985, not 2085).
    shift = (nir_year - birth_date.year) % 100
    full_year = birth_date.year + (shift if shift < 50 else shift - 100)
    return [
        ValidationError(
            _("The NIR says the person was born in %(nir_year)d, the birth date says %(year)d."),
            code="nir_year",
            params={"nir_year": full_year, "year": birth_date.year},
        )
    ]


def _check_nir_month(nir_month: int, birth_date: datetime.date) -> list[ValidationError]:
    if nir_month in _SPECIAL_MONTHS or nir_month == birth_date.month:
        return []
    if 1 <= nir_month <= 12:
        message = _(
            "The NIR says the person was born in month %(nir_month)02d, "
            "the birth date says month %(month)02d."
        )
    else:
        message = _("The NIR birth month, %(nir_month)02d, is not a valid month.")
    return [
        ValidationError(
            message,
            code="nir_month",
            params={"nir_month": nir_month, "month": birth_date.month},
        )
    ]


def normalise_email(value: str) -> str:
    """Return the normalised e-mail address (domain lowercased, etc.)."""
    try:
        # No DNS look-up: it is slow, and the pharmacy may be offline.
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValidationError(_("Enter a valid e-mail address."), code="email") from None


# Ligatures no Unicode decomposition splits: typed as two letters as often as one.
_LIGATURES = str.maketrans({"Œ": "OE", "Æ": "AE"})


def normalise_name(value: str) -> str:
    """Return the form of a name used for blind-index look-ups.

    Accents, ligatures, case, apostrophes and hyphens vary with who types the name, so
    they are removed: "  d'Artagnan-Éloïse " gives "D ARTAGNAN ELOISE", "Lætitia"
    "LAETITIA". (A change here changes stored identity indexes: a migration recomputes
    them, see screening.services.reindex_identities.)
    """
    decomposed = unicodedata.normalize("NFKD", value)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _NAME_SEPARATORS.sub(" ", bare.upper().translate(_LIGATURES)).strip()


def clean_person_name(value: str) -> str:
    """Return the name as it will be stored: trimmed, accents and case kept."""
    # NFC so that an accent typed as a separate combining mark counts as a letter.
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if not name:
        raise ValidationError(_("Enter a name."), code="name")
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError(
            _("A name can have at most %(max)d characters."),
            code="name",
            params={"max": NAME_MAX_LENGTH},
        )
    if any(char.isdigit() for char in name):
        raise ValidationError(_("A name cannot contain digits."), code="name")
    refused = next((c for c in name if not (c.isalpha() or c in _NAME_PUNCTUATION)), None)
    if refused is not None:
        raise ValidationError(
            _(
                "A name can only contain letters, spaces, apostrophes, hyphens and periods, "
                "not %(character)s."
            ),
            code="name",
            params={"character": describe_character(refused)},
        )
    if not any(char.isalpha() for char in name):
        raise ValidationError(_("A name must contain at least one letter."), code="name")
    return name


def clean_printable(value: str) -> str:
    """A short free text (a lot number): trimmed, spaces collapsed, no control character."""
    text = " ".join(value.split())
    refused = next((char for char in text if not char.isprintable()), None)
    if refused is not None:
        raise ValidationError(
            _("Only printable characters are allowed, not %(character)s."),
            code="printable",
            params={"character": describe_character(refused)},
        )
    return text


def describe_character(char: str) -> str:
    """A refused character as a message can show it, even when it is invisible (a control
    character, a zero-width space) or looks like another: “€” (U+20AC EURO SIGN),
    U+0007 "\\x07"."""
    code = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "")
    if char.isprintable() and not char.isspace():
        return f"“{char}” ({code} {name})" if name else f"“{char}” ({code})"
    escaped = char.encode("unicode_escape").decode("ascii")
    return f"{code} {name}" if name else f'{code} "{escaped}"'


def check_birth_date(value: datetime.date, today: datetime.date | None = None) -> None:
    """Check that the birth date is neither in the future nor before 1900."""
    if today is None:
        today = timezone.localdate()
    if value > today:
        raise ValidationError(_("The birth date is in the future."), code="birth_date_future")
    if value < EARLIEST_BIRTH_DATE:
        raise ValidationError(
            _("The birth date is before 1900. Check the year."), code="birth_date_past"
        )


def check_sampled_at(
    sampled_at: datetime.datetime,
    birth_date: datetime.date,
    now: datetime.datetime | None = None,
) -> None:
    """Check the (timezone-aware) sampling time against the clock and the birth date."""
    if now is None:
        now = timezone.now()
    if sampled_at > now + SAMPLED_AT_TOLERANCE:
        raise ValidationError(_("The sampling time is in the future."), code="sampled_future")
    # The birth date is a local calendar date, so compare it with the local date
    # of the sample, not the UTC one (a sample at 00:30 in Paris is 23:30 UTC
    # the day before).
    if timezone.localtime(sampled_at).date() < birth_date:
        raise ValidationError(
            _("The sampling time is before the birth date."), code="sampled_before_birth"
        )
