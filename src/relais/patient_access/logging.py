"""Link tokens never reach the logs: Django logs the path of every 4xx answer, and a
patient link's path holds its secret token. Attached to every handler in settings.LOGGING."""

import logging
import re

# A path segment after /r/ that looks like a token (the app's own pages are short words).
LINK_PATH = re.compile(r"/r/[A-Za-z0-9_-]{16,}")
MASK = "/r/[link]"


def scrub_links(text: str) -> str:
    return LINK_PATH.sub(MASK, text)


class LinkTokenFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string: keep the raw template only
            message = str(record.msg)
        record.msg, record.args = scrub_links(message), None
        if record.exc_text:
            record.exc_text = scrub_links(record.exc_text)
        return True
