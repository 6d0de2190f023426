"""The pharmacist's day page with many tests of the day: SQL statements, server time and
CPU time of its first page, through Django's full middleware stack (test client).

Tests are made through the submission service (encryption, outbox, audit) for as many
patients; every tenth one's message to the patient failed, so the list shows that flag.

    python bench/day_page.py                 # 400 tests of the day, 50 page views
    python bench/day_page.py --tests 100 --views 10
"""

import argparse
import datetime
import json
import statistics
import sys
import time

from audit_setup import database_name, make_world, setup_django


def make_day(pharmacy, user, count: int) -> None:
    from django.utils import timezone
    from tests.support.factories import make_patient, make_test
    from tests.support.fictitious import numbered_patient

    from relais.patient_access.links import issue_links
    from relais.patient_access.models import Notification

    start = timezone.now() - datetime.timedelta(minutes=count + 30)
    for index in range(count):
        patient = make_patient(pharmacy, user, **numbered_patient(index))
        sampled_at = start + datetime.timedelta(minutes=index)
        test = make_test(patient, user, sampled_at=sampled_at)
        if index % 10 == 0:
            link = issue_links([(test, [])])[0][0]
            Notification.objects.create(link=link, channel="email", state=Notification.State.FAILED)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", type=int, default=400)
    parser.add_argument("--views", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="also print a RESULT {json} line")
    args = parser.parse_args()
    setup_django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from tests.support.factories import log_in

    pharmacy, user = make_world()
    make_day(pharmacy, user, args.tests)
    client = log_in(Client(HTTP_HOST="127.0.0.1"), user)
    assert client.get("/").status_code == 200  # warm: templates, translations
    wall, cpu = [], []
    for _ in range(args.views):
        with CaptureQueriesContext(connection) as queries:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get("/")
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200
    rows = response.content.count(b"<tr") - 1  # the header row
    result = {
        "database": database_name(),
        "tests": args.tests,
        "rows_shown": rows,
        "queries": len(queries),
        "server_ms": statistics.median(wall),
        "cpu_ms": statistics.median(cpu),
    }
    print(f"day page, {database_name()}, {args.tests} tests of the day, {args.views} views")
    print(f"  rows on the first page: {rows}")
    print(f"  SQL statements:         {len(queries)}")
    print(f"  server time, median:    {result['server_ms']:.1f} ms")
    print(f"  CPU time, median:       {result['cpu_ms']:.1f} ms (web process, DB client side)")
    if args.json:
        print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
