"""Last line of defence: scrub what must not reach the logs from every log record.

Code must not log personal data or secrets in the first place
(tests/test_logs_have_no_personal_data.py checks the real flows); these filters,
attached to every handler in settings.LOGGING, mask what slips through anyway, in the
message, its arguments, any traceback and any stack:

- PersonalDataFilter: social security numbers (NIR), e-mail addresses, phone numbers.
- LinkTokenFilter: patient link tokens. Django logs the path of every 4xx answer, and a
  patient link's path holds its secret token.
- UrlSecretFilter (for the web server's access and error logs, see access_log.py): link
  tokens and every query string, where activation and reset links carry theirs.
"""

import logging
import re
from collections.abc import Callable

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
# Whatever follows /r/ but the patient pages' own names is a link token (percent-encoded
# or cut short, it is still masked).
LINK_PATH = re.compile(r"/r/(?!(?:open|result|close|language)/)[^\s\"'?#]+")
LINK_MASK = "/r/[link]"
# A URL's query string, as a request line or a Referer carries it.
QUERY_STRING = re.compile(r"\?[^\s\"']+")
QUERY_MASK = "?[query]"


def scrub(text: str) -> str:
    for pattern in (EMAIL, NIR, PHONE):
        text = pattern.sub(MASK, text)
    return text


def scrub_links(text: str) -> str:
    return LINK_PATH.sub(LINK_MASK, text)


def scrub_urls(text: str) -> str:
    """Link tokens and query strings out of a log line about a request."""
    return QUERY_STRING.sub(QUERY_MASK, scrub_links(text))


def scrub_record(record: logging.LogRecord, clean: Callable[[str], str]) -> None:
    """Apply `clean` to everything of the record a handler may write."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed format string: keep the raw template only
        message = str(record.msg)
    record.msg, record.args = clean(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = clean(record.exc_text)
    if record.stack_info:
        record.stack_info = clean(record.stack_info)


class PersonalDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record, scrub)
        return True


class LinkTokenFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record, scrub_links)
        return True


class UrlSecretFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record, lambda text: scrub_urls(scrub(text)))
        return True
