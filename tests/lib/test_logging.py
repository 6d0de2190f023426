"""Both log filters scrub the same parts of a record: message, arguments, traceback, stack.
(The flows that must not log personal data: tests/test_logs_have_no_personal_data.py.)"""

import logging
import secrets
import sys

from relais.lib.logging import LinkTokenFilter, PersonalDataFilter


def record_with_traceback(message: str, args: tuple, error_text: str) -> logging.LogRecord:
    try:
        raise RuntimeError(error_text)
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("relais", logging.ERROR, __file__, 1, message, args, exc_info)
    record.stack_info = f"Stack (most recent call last):\n  {error_text}"
    return record


def test_link_tokens_are_masked_in_message_traceback_and_stack():
    token = secrets.token_urlsafe(32)
    record = record_with_traceback("Not Found: %s", (f"/r/{token}",), f"while serving /r/{token}")
    assert LinkTokenFilter().filter(record)
    for text in (record.getMessage(), record.exc_text, record.stack_info):
        assert token not in text and "/r/[link]" in text
    assert "RuntimeError" in record.exc_text


def test_personal_data_is_masked_in_the_stack_too():
    record = record_with_traceback("ok", (), "mail to philomene@example.net failed")
    PersonalDataFilter().filter(record)
    assert "philomene@" not in record.stack_info and "philomene@" not in record.exc_text


def test_a_malformed_format_string_keeps_the_scrubbed_template():
    template = "to %s and %s: /r/" + secrets.token_urlsafe(32)
    record = logging.LogRecord("relais", logging.INFO, __file__, 1, template, ("one",), None)
    LinkTokenFilter().filter(record)
    assert record.args is None and record.getMessage().endswith("/r/[link]")


def test_the_two_filters_in_a_row_mask_both_kinds(settings):
    token = secrets.token_urlsafe(32)
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "%s asked for /r/%s",
        ("camille@example.org", token), None,
    )  # fmt: skip
    for name in settings.LOGGING["handlers"]["console"]["filters"]:
        path = settings.LOGGING["filters"][name]["()"]
        assert path.startswith("relais.lib.logging.")
        {"personal_data": PersonalDataFilter, "link_tokens": LinkTokenFilter}[name]().filter(record)
    assert record.getMessage() == "[redacted] asked for /r/[link]"
