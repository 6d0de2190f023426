"""A guessed token is answered like a wrong date: same status, same page, same time class."""

import datetime
import secrets
import statistics
import time

from relais.patient_access.models import ResultLink
from tests.support.patient_pages import OPEN_PATH, date_fields

WRONG_DATE = datetime.date(1999, 1, 1)
ROUNDS = 30


def timed_post(client, token: str) -> tuple[float, object]:
    """The date check of a followed link (following it looks nothing up)."""
    client.get(f"/r/{token}")
    start = time.perf_counter()
    response = client.post(OPEN_PATH, date_fields(WRONG_DATE))
    return time.perf_counter() - start, response


def test_a_guessed_token_looks_like_a_wrong_date(client, linked_test, settings):
    settings.PATIENT_RATE_LIMIT = 10_000
    settings.PATIENT_LINK_MAX_TRIES = 10_000  # stay on the wrong-date path throughout
    test, token = linked_test
    elapsed_wrong, elapsed_unknown = [], []
    for _ in range(ROUNDS):  # interleaved, so machine noise hits both alike
        seconds, wrong = timed_post(client, token)
        elapsed_wrong.append(seconds)
        seconds, unknown = timed_post(client, secrets.token_urlsafe(32))
        elapsed_unknown.append(seconds)
    assert wrong.status_code == unknown.status_code == 403
    assert wrong.templates[0].name == unknown.templates[0].name == "patient_access/link.html"
    assert ResultLink.objects.get(test=test).failures == ROUNDS
    median_wrong = statistics.median(elapsed_wrong)
    median_unknown = statistics.median(elapsed_unknown)
    ratio = max(median_wrong, median_unknown) / min(median_wrong, median_unknown)
    assert ratio < 2.0, (median_wrong, median_unknown)
