"""Results accepted per second through POST /api/v1/tests, sustained, 20 concurrent
clients, against the production server (gunicorn) on PostgreSQL; and, in the same run,
the bare JSON endpoint GET /api/v1/health of the same server (no database), so the ratio
shows what our own work costs; then POST /api/v1/tests/batch, batches of 500 new results
from 2 clients (pharmacy software sending the day's results), in results per second.

Creates a throwaway PostgreSQL database (dropped at the end), a temporary var/ directory
and an API credential; the server runs in demo mode on a free loopback port, with the
Redis cache for rate limits (raised for the bench). Every POST carries a new patient, so
each request creates a patient (12 encrypted fields, 2 blind indexes), a test, its
outbox row and its patient link, and writes the audit events.

    python bench/api_ingest.py            # 30 s per case
    python bench/api_ingest.py --short    # 8 s per case

Environment: RELAIS_BENCH_PG (default postgres://postgres@127.0.0.1:5432), RELAIS_BENCH_REDIS
(default redis://127.0.0.1:6379/15). The load generator runs on the same machine and
uses part of its CPU: figures are a lower bound of what the server alone could do.
"web CPU ms/req" is the gunicorn workers' own CPU time per request and "DB CPU" that of
every PostgreSQL process of the machine: less sensitive to other load on a shared machine
than the rates (but PostgreSQL's counts whatever else uses it).
"""

import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import project_path  # noqa: F401 (tests/support)
from load import closed_loop
from tests.support.databases import throwaway_database
from tests.support.fictitious import api_submission, numbered_patient
from tests.support.servers import start_gunicorn

CLIENTS = 20
FIGURES = {}  # case name -> its figures, for --json
# On 2 cores, 3 workers x 2 threads gave the lowest p99 (fewer threads fighting over
# each GIL than 4 x 4, and DB waits still overlapped); --workers/--threads to compare.
WORKERS, THREADS = 3, 2
SETUP = """
import django
django.setup()
from django.core.management import call_command
from relais.api.credentials import create_credential
from tests.support.factories import make_member, make_pharmacy
from tests.support.fictitious import PERFORMER_RPPS

call_command("migrate", verbosity=0)
pharmacy = make_pharmacy("Pharmacie du Banc d'Essai", "750009998")
make_member(pharmacy, "bench@example.org", full_name="Bench", rpps=PERFORMER_RPPS)
print(create_credential(pharmacy, "bench")[1])
"""


BATCH_SIZE, BATCH_CLIENTS = 500, 2


def submission(number: int) -> dict:
    """A new patient (number `number`) and a negative antigen test."""
    return api_submission({**numbered_patient(number), "phone": "0612345678"})


def payload(number: int) -> bytes:
    return json.dumps(submission(number)).encode()


def batch_payload(number: int) -> bytes:
    """Batch `number`: BATCH_SIZE new patients of their own."""
    first = number * BATCH_SIZE
    items = [submission(first + offset) for offset in range(BATCH_SIZE)]
    return json.dumps({"items": items}).encode()


def server_cpu_seconds(master_pid: int) -> float:
    """CPU time used so far by gunicorn's worker processes (all their threads)."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    total = 0
    for child in children:
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time used so far by every PostgreSQL process of this machine (the server's
    backends serve the benchmark; on a quiet machine, nothing else)."""
    total = 0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() != "postgres":
                continue
            fields = (comm.parent / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_case(name, base, token, method, path, expected, seconds, server, make_body=None, **options):
    """`options`: clients (default CLIENTS) and results (per request, default 1)."""
    clients, results = options.get("clients", CLIENTS), options.get("results", 1)
    numbers = itertools.count(1_000_000 // results)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send(client):
        body = make_body(next(numbers)) if make_body else None
        return client.request(method, path, content=body)

    cpu_before, db_before = server_cpu_seconds(server.pid), postgres_cpu_seconds()
    load = closed_loop(base, clients, send, expected, seconds, headers=headers)
    requests = len(load.latencies)
    cpu_ms = (server_cpu_seconds(server.pid) - cpu_before) / max(requests * results, 1) * 1000
    db_ms = (postgres_cpu_seconds() - db_before) / max(requests * results, 1) * 1000
    rate = (requests - len(load.unexpected)) * results / load.wall
    unit = "results" if results > 1 else "req"
    print(
        f"  {name:<28} {requests:>6} req  {rate:7.0f} accepted/s  p50 {load.p50_ms:6.1f} ms  "
        f"p99 {load.p99_ms:6.1f} ms  web CPU {cpu_ms:5.2f} ms/{unit}  DB CPU {db_ms:5.2f} ms  "
        f"unexpected: {load.unexpected_text()}"
    )
    FIGURES[name] = {
        "rate": rate, "p50_ms": load.p50_ms, "p99_ms": load.p99_ms,
        "unexpected": len(load.unexpected), "web_cpu_ms": cpu_ms, "db_cpu_ms": db_ms,
    }  # fmt: skip
    return rate


def main() -> None:
    seconds = 8 if "--short" in sys.argv else 30
    global WORKERS, THREADS
    if "--workers" in sys.argv:
        WORKERS = int(sys.argv[sys.argv.index("--workers") + 1])
    if "--threads" in sys.argv:
        THREADS = int(sys.argv[sys.argv.index("--threads") + 1])
    server_url = os.environ.get("RELAIS_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    with (
        throwaway_database(server_url, "relais_bench_api") as database_url,
        tempfile.TemporaryDirectory(prefix="relais-bench-api-") as var_dir,
    ):
        env = {
            **os.environ,
            "RELAIS_DEMO": "1",
            "RELAIS_VAR_DIR": var_dir,
            "RELAIS_DATABASE_URL": database_url,
            "RELAIS_CACHE_URL": os.environ.get("RELAIS_BENCH_REDIS", "redis://127.0.0.1:6379/15"),
            "RELAIS_API_RATE_LIMIT": "1000000000",
            "RELAIS_HTTPS": "0",
            "DJANGO_SETTINGS_MODULE": "relais.settings",
            "RELAIS_LOG_LEVEL": "ERROR",
            "PYTHONPATH": project_path.PYTHONPATH,
        }
        setup = subprocess.run(
            [sys.executable, "-c", SETUP], env=env, capture_output=True, text=True
        )
        if setup.returncode != 0:
            sys.exit(setup.stderr[-3000:])
        token = setup.stdout.strip().splitlines()[-1]
        server = start_gunicorn(env, Path(var_dir) / "web.log", WORKERS, THREADS)
        try:
            print(
                f"API ingest, gunicorn {WORKERS} workers x {THREADS} threads, PostgreSQL, "
                f"{CLIENTS} concurrent clients, {seconds} s per case, "
                f"{os.cpu_count()} CPUs (load average before: {os.getloadavg()[0]:.1f})"
            )
            bare = run_case("GET /api/v1/health", server.url, token, "GET", "/api/v1/health",
                            200, seconds, server)  # fmt: skip
            ingest = run_case("POST /api/v1/tests", server.url, token, "POST", "/api/v1/tests",
                              201, seconds, server, payload)  # fmt: skip
            print(f"  ingest rate / bare rate: {ingest / bare * 100:.0f} %")
            batch = f"POST /api/v1/tests/batch ({BATCH_SIZE})"
            run_case(batch, server.url, token, "POST", "/api/v1/tests/batch", 200, seconds,
                     server, batch_payload, clients=BATCH_CLIENTS, results=BATCH_SIZE)  # fmt: skip
            if "--json" in sys.argv:
                result = {"bare": FIGURES["GET /api/v1/health"], "seconds": seconds}
                result["batch"] = FIGURES[batch]
                print("RESULT " + json.dumps({**result, "ingest": FIGURES["POST /api/v1/tests"]}))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
