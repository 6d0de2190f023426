"""Time to save one test with its patient (encryption, blind indexes, outbox row).

Runs against a throwaway SQLite database (default) or the PostgreSQL database named by
RELAIS_DATABASE_URL (emptied first: use a scratch one).

    .venv/bin/python bench/save_test.py [--count 1000]
"""

import argparse
import datetime
import json
import statistics
import sys
import time

from audit_setup import make_world, setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="also print a RESULT {json} line")
    args = parser.parse_args()
    setup_django()
    from django.db import connection, transaction
    from django.utils import timezone

    from relais.screening import services

    pharmacy, user = make_world()
    sampled_at = timezone.now() - datetime.timedelta(minutes=10)
    timings = []
    for index in range(args.count):
        patient_data = {
            "birth_name": f"Banc{index}", "given_names": "Jeanne", "sex": "F",
            "birth_date": datetime.date(1980, 1, 1) + datetime.timedelta(days=index % 9000),
            "phone": "+33612345678", "email": f"p{index}@example.org",
            "address": "2 rue des Tests", "postal_code": "75001", "city": "Paris",
        }  # fmt: skip
        test_data = {
            "kind": "sars_cov_2_antigen", "specimen": "nasal_swab", "sampled_at": sampled_at,
            "result": "negative", "consent_transmission": True,
        }  # fmt: skip
        start = time.perf_counter()
        with transaction.atomic():
            patient = services.create_patient(pharmacy, user, patient_data)
            services.record_tests(user, [(patient, test_data)])
        timings.append(time.perf_counter() - start)
    timings.sort()
    median = statistics.median(timings) * 1000
    p95 = timings[int(len(timings) * 0.95)] * 1000
    print(f"database: {connection.vendor}; saves: {args.count}")
    print(f"save one test with its patient: median {median:.2f} ms, p95 {p95:.2f} ms")
    if args.json:
        result = {"database": connection.vendor, "count": args.count, "median_ms": median}
        print("RESULT " + json.dumps({**result, "p95_ms": p95}))


if __name__ == "__main__":
    sys.exit(main())
