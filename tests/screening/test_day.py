import datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from relais.audit.models import AuditEvent
from relais.patient_access.links import issue_links
from relais.patient_access.models import Notification
from relais.screening.views import DAY_PAGE_SIZE
from tests.support.factories import earlier_today, make_patient, make_test
from tests.support.fictitious import numbered_patient
from tests.support.patient_pages import in_english

DAY = reverse("screening:day")


def test_anonymous_is_sent_to_login(client, db):
    response = client.get(DAY)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_lists_todays_tests_of_the_pharmacy_only(
    pharmacist_client, screening_test, other_pharmacy, other_pharmacist
):
    foreign = make_test(make_patient(other_pharmacy, other_pharmacist), other_pharmacist)
    response = pharmacist_client.get(DAY)
    assert response.status_code == 200
    assert list(response.context["tests"]) == [screening_test]
    assert foreign not in response.context["tests"]
    assert "LEFÈVRE" in response.content.decode() or "MARTIN" in response.content.decode()
    assert AuditEvent.objects.filter(action="test.list").exists()


def test_another_day(pharmacist_client, patient, pharmacist):
    yesterday = timezone.now() - datetime.timedelta(days=1)
    old = make_test(patient, pharmacist, sampled_at=yesterday)
    date = timezone.localtime(yesterday).date().isoformat()
    assert list(pharmacist_client.get(DAY, {"date": date}).context["tests"]) == [old]
    assert list(pharmacist_client.get(DAY).context["tests"]) == []


def test_malformed_date_falls_back_to_today(pharmacist_client):
    response = pharmacist_client.get(DAY, {"date": "'; DROP TABLE x;--"})
    assert response.status_code == 200
    assert response.context["date"] == timezone.localdate()


def make_day_of_tests(pharmacy, user, count: int, failed_every: int = 0, first: int = 0) -> list:
    """`count` tests of today, each for its own patient, a microsecond apart (so that
    they are today's even just after midnight), the newest last; every
    `failed_every`-th one's message to the patient failed."""
    start = earlier_today(2) - datetime.timedelta(microseconds=count)
    tests = []
    for index in range(count):
        patient = make_patient(pharmacy, user, **numbered_patient(first + index))
        sampled_at = start + datetime.timedelta(microseconds=index)
        test = make_test(patient, user, sampled_at=sampled_at)
        if failed_every and index % failed_every == 0:
            link = issue_links([(test, [])])[0][0]
            Notification.objects.create(link=link, channel="email", state="failed")
        tests.append(test)
    return tests


def statements(client, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(DAY, params).status_code == 200
    return len(queries)


def test_the_day_list_costs_the_same_queries_for_3_tests_or_a_full_page(
    pharmacist_client, pharmacy, pharmacist
):
    make_day_of_tests(pharmacy, pharmacist, 3, failed_every=2)
    few = statements(pharmacist_client)
    make_day_of_tests(pharmacy, pharmacist, 60, failed_every=3, first=100)
    many = statements(pharmacist_client)
    assert many == few


def test_the_day_list_is_paginated_newest_first(pharmacist_client, pharmacy, pharmacist):
    tests = make_day_of_tests(pharmacy, pharmacist, DAY_PAGE_SIZE + 3)
    first = pharmacist_client.get(DAY)
    assert list(first.context["tests"]) == tests[::-1][:DAY_PAGE_SIZE]
    page = first.content.decode()
    assert f"{DAY_PAGE_SIZE + 3} " in page  # the day's count, not the page's
    assert f"date={timezone.localdate().isoformat()}&amp;page=2" in page
    second = pharmacist_client.get(DAY, {"page": "2"})
    assert list(second.context["tests"]) == tests[:3][::-1]
    # The audit event names the tests shown, page by page.
    event = AuditEvent.objects.filter(action="test.list").latest("created_at")
    assert sorted(event.details["test_ids"]) == sorted(str(test.pk) for test in tests[:3])
    # A page out of range or not a number shows the last or the first page.
    assert list(pharmacist_client.get(DAY, {"page": "99"}).context["tests"]) == tests[:3][::-1]
    assert pharmacist_client.get(DAY, {"page": "x'"}).context["page"].number == 1


def test_tests_in_progress_stay_on_top_of_every_page(pharmacist_client, pharmacy, pharmacist):
    make_day_of_tests(pharmacy, pharmacist, DAY_PAGE_SIZE + 1)
    patient = make_patient(pharmacy, pharmacist, **numbered_patient(999))
    started = make_test(patient, pharmacist, result="")
    for page in ("1", "2"):
        assert pharmacist_client.get(DAY, {"page": page}).context["in_progress"] == [started]


def test_a_failed_message_is_flagged_on_its_row_only(pharmacist_client, pharmacy, pharmacist):
    tests = make_day_of_tests(pharmacy, pharmacist, 4, failed_every=3)  # tests 0 and 3
    page = in_english(pharmacist_client).get(DAY).content.decode()
    rows = page.split("<tr")[2:]  # after the header, newest first: tests 3, 2, 1, 0
    flagged = ["Message to the patient not sent" in row for row in rows]
    assert flagged == [True, False, False, True]
    assert len(tests) == 4
