"""Audit overhead per request: the patient page with and without its audit event, same run.

Alternating blocks of requests through Django's full middleware stack (test client),
with `record` real, then replaced by a no-op, so both see the same machine load.

    python bench/audit_overhead.py            # 2,000 requests each way
    python bench/audit_overhead.py --short    # 200
"""

import json
import statistics
import sys

from audit_setup import Timer, database_name, make_patients, make_world, setup_django


def main() -> None:
    requests = 200 if "--short" in sys.argv else 2000
    setup_django()
    from django.test import Client
    from tests.support.factories import log_in

    from relais.screening import views

    pharmacy, user = make_world()
    patient_id = make_patients(pharmacy, user, 1)[0]
    client = log_in(Client(HTTP_HOST="127.0.0.1"), user)
    url = f"/patients/{patient_id}/"
    real_record = views.record
    timings = {"with audit": [], "without audit": []}
    block = 50
    for _ in range(requests // block):
        for label, record in (("with audit", real_record), ("without audit", lambda *a, **k: None)):
            views.record = record
            with Timer() as timer:
                for _ in range(block):
                    assert client.get(url).status_code == 200
            timings[label].append(timer.seconds / block * 1000)
    views.record = real_record
    with_audit = statistics.median(timings["with audit"])
    without = statistics.median(timings["without audit"])
    print(f"Audit overhead on {database_name()}, {requests} requests each way (median of blocks)")
    print(f"  with audit:    {with_audit:6.2f} ms/request")
    print(f"  without audit: {without:6.2f} ms/request")
    share = (with_audit / without - 1) * 100
    print(f"  overhead:      {with_audit - without:6.2f} ms/request ({share:.0f} %)")
    if "--json" in sys.argv:
        result = {"database": database_name(), "with_ms": with_audit, "without_ms": without}
        print("RESULT " + json.dumps({**result, "overhead_ms": with_audit - without}))


if __name__ == "__main__":
    main()
