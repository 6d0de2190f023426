"""What one operation costs, through Django's full middleware stack (test client): web CPU,
database CPU, SQL statements and Redis commands per operation. CPU times and counts are
stable on a shared machine, where wall-clock rates are not.

Operations (each repeated --count times, in blocks that alternate between operations):
- api_new_patient: POST /api/v1/tests with a new patient and an Idempotency-Key
- api_replay:      the same POST again with the same key (the stored answer)
- link_page:       a patient follows the result link (GET /r/<token>, GET /r/open/)
- birth_date:      the same, then posts the right birth date (the result page)
- web_record_test: a logged-in, OTP-verified pharmacist posts the counter's new-test form
                   (a result, for a patient of their pharmacy)
- staff_page:      a pharmacist, logged in with the second factor, opens the day page of
                   a pharmacy of their own with no test (what every staff request costs:
                   the session's user, device and membership, the page's own few queries)

Commits count each COMMIT and each write run in autocommit (tests/support/commits.py).

Web CPU is this process's CPU time (the test client runs the server code in it; SQLite's
too, when the database is SQLite). Database CPU is the PostgreSQL backend process's own
CPU time, read from /proc (PostgreSQL only). Redis commands come from Redis's INFO
commandstats, in a database of its own (RELAIS_BENCH_REDIS, default
redis://127.0.0.1:6379/14, flushed first).

    python bench/cost_per_result.py              # 400 of each
    python bench/cost_per_result.py --count 50
To compare two commits, run it from each checkout in turn (bench/interleave.py).
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import project_path  # noqa: F401 (tests/support)

REDIS_URL = os.environ.get("RELAIS_BENCH_REDIS", "redis://127.0.0.1:6379/14")
BLOCK = 25


def backend_cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_calls(client) -> int:
    return sum(stats["calls"] for stats in client.info("commandstats").values())


class Meter:
    """Web CPU, database CPU, statements, commits and Redis commands of what runs inside it."""

    def __init__(self, connection, redis_client, backend_pid):
        from tests.support.commits import Commits

        self.queries = Commits(connection)
        self.redis, self.backend_pid = redis_client, backend_pid

    def __enter__(self):
        # The connection keeps its last 9000 statements only: past that, a count by
        # difference reads 0. Each operation starts from an empty log.
        self.queries.connection.queries_log.clear()
        self.redis_before = redis_calls(self.redis)
        self.db_before = backend_cpu_seconds(self.backend_pid)
        self.queries.__enter__()
        self.cpu_before = time.process_time()
        return self

    def __exit__(self, *exc):
        self.web_ms = (time.process_time() - self.cpu_before) * 1000
        self.queries.__exit__(*exc)
        self.db_ms = (backend_cpu_seconds(self.backend_pid) - self.db_before) * 1000
        # INFO itself is counted once per call: leave out the one that read "before".
        self.redis_commands = redis_calls(self.redis) - self.redis_before - 1
        self.statements = self.queries.statements
        self.commits = self.queries.count


def setup():
    from audit_setup import setup_django

    os.environ["RELAIS_CACHE_URL"] = REDIS_URL
    os.environ["RELAIS_API_RATE_LIMIT"] = "100000000"
    os.environ["RELAIS_PATIENT_RATE_LIMIT"] = "100000000"
    setup_django()
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    return client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--json", action="store_true", help="also print a RESULT {json} line")
    args = parser.parse_args()
    redis_client = setup()
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from tests.support.factories import (
        API,
        log_in,
        make_member,
        make_patient,
        make_pharmacy,
        make_test,
        screening_test_form,
    )
    from tests.support.fictitious import (
        PATIENT_DATA,
        PERFORMER_RPPS,
        api_submission,
        date_fields,
        numbered_patient,
    )

    from relais.api.credentials import create_credential
    from relais.patient_access.links import issue_links

    pharmacy = make_pharmacy("Pharmacie du Banc d'Essai", "750009997")
    user = make_member(pharmacy, "bench@example.org", full_name="Bench", rpps=PERFORMER_RPPS)
    token = create_credential(pharmacy, "bench")[1]
    patient = make_patient(pharmacy, user)
    links = [issue_links([(make_test(patient, user), [])])[0][1] for _ in range(args.count)]
    # One patient per recorded test: a second test of a patient within two hours is a
    # question (a possible duplicate), not a recorded test.
    counter_patients = [counter_patient(pharmacy, user, i) for i in range(args.count)]
    with connection.cursor() as cursor:
        backend_pid = None
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_backend_pid()")
            backend_pid = cursor.fetchone()[0]

    api = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    numbers = iter(range(10_000, 10_000_000))
    replayed = {}

    def api_new_patient(i):
        body = api_submission({**numbered_patient(next(numbers)), "phone": "0612345678"})
        key = f"bench-{i}"
        replayed[i] = (json.dumps(body), key)
        response = api.post(f"{API}/tests", replayed[i][0], content_type="application/json",
                            headers={"Idempotency-Key": key})  # fmt: skip
        assert response.status_code == 201, response.content[:300]

    def api_replay(i):
        body, key = replayed[i]
        response = api.post(f"{API}/tests", body, content_type="application/json",
                            headers={"Idempotency-Key": key})  # fmt: skip
        assert response.status_code == 201, response.content[:300]

    def link_page(i):
        browser = Client(HTTP_HOST="127.0.0.1")
        assert browser.get(f"/r/{links[i]}").status_code == 302
        assert browser.get("/r/open/").status_code == 200

    counter = log_in(Client(HTTP_HOST="127.0.0.1"), user)
    test_forms = [screening_test_form() for _ in range(args.count)]  # one-time tokens

    def web_record_test(i):
        address = reverse("screening:test_new", args=[counter_patients[i].pk])
        response = counter.post(address, test_forms[i])
        assert response.status_code == 302, response.content[:300]
        assert response["Location"] == reverse("screening:day"), response["Location"]

    right_date = date_fields(PATIENT_DATA["birth_date"])

    def birth_date(i):
        browser = Client(HTTP_HOST="127.0.0.1")
        assert browser.get(f"/r/{links[i]}").status_code == 302
        response = browser.post("/r/open/", right_date)
        assert response.status_code in (200, 302), response.status_code

    # A pharmacy of its own, with no test: the day page stays the same size all along.
    quiet_pharmacy = make_pharmacy("Pharmacie du Calme", "750009989")
    staff = log_in(Client(HTTP_HOST="127.0.0.1"), make_member(quiet_pharmacy, "calm@example.org"))
    day_url = reverse("screening:day")

    def staff_page(i):
        assert staff.get(day_url).status_code == 200

    operations = {
        "api_new_patient": api_new_patient,
        "api_replay": api_replay,
        "link_page": link_page,
        "birth_date": birth_date,
        "web_record_test": web_record_test,
        "staff_page": staff_page,
    }
    for operation in operations.values():  # warm: imports, templates, connections
        operation(0)
    figures = {name: {"web_ms": [], "db_ms": [], "statements": [], "commits": [], "redis": []}
               for name in operations}  # fmt: skip
    meter = Meter(connection, redis_client, backend_pid)
    for start in range(1, args.count, BLOCK):
        for name, operation in operations.items():
            for i in range(start, min(start + BLOCK, args.count)):
                with meter:
                    operation(i)
                for key, value in (("web_ms", meter.web_ms), ("db_ms", meter.db_ms),
                                   ("statements", meter.statements),
                                   ("commits", meter.commits),
                                   ("redis", meter.redis_commands)):  # fmt: skip
                    figures[name][key].append(value)
    database = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    print(f"cost per operation, {database}, {args.count - 1} of each (means; CPU in ms)")
    print(f"  {'operation':<16} {'web CPU':>8} {'DB CPU':>8} {'web+DB':>8} {'SQL':>5} "
          f"{'commits':>7} {'Redis':>6}")  # fmt: skip
    result = {"database": database, "count": args.count - 1}
    for name, values in figures.items():
        means = {key: statistics.fmean(series) for key, series in values.items()}
        result[name] = means
        print(f"  {name:<16} {means['web_ms']:8.2f} {means['db_ms']:8.2f} "
              f"{means['web_ms'] + means['db_ms']:8.2f} {means['statements']:5.1f} "
              f"{means['commits']:7.1f} {means['redis']:6.1f}")  # fmt: skip
    if args.json:
        print("RESULT " + json.dumps(result))


def counter_patient(pharmacy, user, number):
    """Patient `number` of the counter, with a NIR no API patient of the run has."""
    from tests.support.factories import make_patient
    from tests.support.fictitious import make_nir, numbered_patient

    identity = numbered_patient(number)
    nir = make_nir(identity["sex"], identity["birth_date"], number % 999 + 1, place="69123")
    return make_patient(pharmacy, user, **{**identity, "nir": nir})


if __name__ == "__main__":
    sys.exit(main())
