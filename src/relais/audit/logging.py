"""Last line of defence: scrub anything that looks like personal data from log records.

Code must not log personal data in the first place (tests/test_logs_have_no_personal_data.py
checks the real flows); this filter, attached to every handler in settings.LOGGING,
masks what slips through anyway: social security numbers (NIR), e-mail addresses and
phone numbers, in the message, its arguments and any traceback.
"""

import logging
import re

# NIR: sex digit, year, month (or 20-99 for unknown), department (2A/2B for Corsica),
# commune, order number, optional 2-digit key; spaces or dots allowed between groups.
_SEP = r"[ .]?"
NIR = re.compile(
    rf"(?<![\dA-Za-z])[1-478]{_SEP}\d\d{_SEP}\d\d{_SEP}(?:\d\d|2[AaBb]){_SEP}\d{{3}}"
    rf"{_SEP}\d{{3}}(?:{_SEP}\d\d)?(?![\dA-Za-z])"
)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# International (+33 6 12 34 56 78, 0033...) and French national (06 12 34 56 78) numbers.
PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)\d{1,3}[ .-]?(?:\(0\))?[ .-]?\d(?:[ .-]?\d){5,13}"
    r"|0[1-9](?:[ .-]?\d\d){4})(?!\d)"
)
MASK = "[redacted]"


def scrub(text: str) -> str:
    for pattern in (EMAIL, NIR, PHONE):
        text = pattern.sub(MASK, text)
    return text


class PersonalDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string: keep the raw template only
            message = str(record.msg)
        record.msg, record.args = scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True
