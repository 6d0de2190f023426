"""What a result costs through POST /api/v1/tests/batch, beside POST /api/v1/tests: web
CPU, database CPU and SQL statements per result, through Django's full middleware stack
(test client), every result a new patient with an idempotency key. CPU times and counts
are stable on a shared machine; the rate two cores could sustain follows from them
(2 000 ms of CPU a second, shared by the web processes and PostgreSQL).

    python bench/api_batch.py                 # 6 batches of 500, 300 single POSTs
    python bench/api_batch.py --batches 2 --singles 50
Database: RELAIS_DATABASE_URL (PostgreSQL for the database CPU), else SQLite.
"""

import argparse
import json
import statistics
import sys

import project_path  # noqa: F401 (tests/support)
from cost_per_result import Meter, setup

BATCH_SIZE = 500


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--singles", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="also print a RESULT {json} line")
    args = parser.parse_args()
    redis_client = setup()
    from django.db import connection
    from django.test import Client
    from tests.support.factories import API, make_member, make_pharmacy
    from tests.support.fictitious import PERFORMER_RPPS, api_submission, numbered_patient

    from relais.api.credentials import create_credential

    pharmacy = make_pharmacy("Pharmacie du Banc d'Essai", "750009996")
    make_member(pharmacy, "bench@example.org", full_name="Bench", rpps=PERFORMER_RPPS)
    token = create_credential(pharmacy, "bench")[1]
    backend_pid = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend_pid = cursor.fetchone()[0]
    api = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    numbers = iter(range(10_000, 10_000_000))

    def item() -> dict:
        number = next(numbers)
        body = api_submission({**numbered_patient(number), "phone": "0612345678"})
        return {**body, "idempotency_key": f"bench-{number}"}

    def post(path: str, body: dict, expected: int, headers=None):
        response = api.post(f"{API}{path}", json.dumps(body), content_type="application/json",
                            headers=headers or {})  # fmt: skip
        assert response.status_code == expected, response.content[:300]
        return response

    def single():
        body = item()
        key = body.pop("idempotency_key")
        post("/tests", body, 201, {"Idempotency-Key": key})

    def batch():
        response = post("/tests/batch", {"items": [item() for _ in range(BATCH_SIZE)]}, 200)
        assert {one["status"] for one in response.json()["items"]} == {201}

    single(), batch()  # warm: imports, connections, the credential's "last used"
    meter = Meter(connection, redis_client, backend_pid)
    figures = {"single": [], "batch": []}
    # Interleaved, so that both see the same load on a shared machine.
    per_block = max(1, args.singles // max(args.batches, 1))
    for _ in range(args.batches):
        for _ in range(per_block):
            with meter:
                single()
            figures["single"].append((meter.web_ms, meter.db_ms, meter.statements))
        with meter:
            batch()
        figures["batch"].append(
            (meter.web_ms / BATCH_SIZE, meter.db_ms / BATCH_SIZE, meter.statements / BATCH_SIZE)
        )
    database = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    print(f"cost per result, {database}: {len(figures['single'])} single POSTs, "
          f"{len(figures['batch'])} batches of {BATCH_SIZE} (means; CPU in ms)")  # fmt: skip
    print(f"  {'operation':<22} {'web CPU':>8} {'DB CPU':>8} {'web+DB':>8} {'SQL':>7} "
          f"{'2-core rate':>12}")  # fmt: skip
    result = {"database": database, "batch_size": BATCH_SIZE}
    for name, rows in figures.items():
        web, db, statements = (statistics.fmean(column) for column in zip(*rows, strict=True))
        rate = 2000 / (web + db) if web + db else 0
        label = "POST /tests" if name == "single" else f"POST /tests/batch ({BATCH_SIZE})"
        print(f"  {label:<22} {web:8.3f} {db:8.3f} {web + db:8.3f} {statements:7.2f} "
              f"{rate:10.0f}/s")  # fmt: skip
        result[name] = {"web_ms": web, "db_ms": db, "statements": statements, "rate": rate}
    if args.json:
        print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
