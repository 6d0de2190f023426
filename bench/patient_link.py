"""Latency of the patient link page and of the date-of-birth check under 50 concurrent
clients, against the production server (gunicorn) started here on a free loopback port.

The server runs in demo mode on a throwaway var/ directory (SQLite, or RELAIS_DATABASE_URL
if set), 2 workers x 8 threads. The per-address rate limit would stop a benchmark coming
from one address, so the server gets RELAIS_PATIENT_RATE_LIMIT=1000000; the per-link
limit is raised the same way so the wrong-date case can be measured repeatedly.

    python bench/patient_link.py            # 3,000 requests per case (at most 120 s each)
    python bench/patient_link.py --short    # 400 requests per case (at most 30 s each)
    python bench/patient_link.py --clients 1   # the same with one client (a baseline)
    python bench/patient_link.py --clients 5 --during-import 100000
        # the link page alone, then while the worker checks and imports a CSV file of
        # 100,000 rows (bench/bulk_import.py, on a database of its own on the same server)
"""

import contextlib
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import project_path  # noqa: F401 (tests/support)
from load import closed_loop
from tests.support.databases import throwaway_database
from tests.support.fictitious import PATIENT_DATA, date_fields
from tests.support.servers import start_gunicorn

CLIENTS = int(sys.argv[sys.argv.index("--clients") + 1]) if "--clients" in sys.argv else 50
LINKS = 200
WORKERS, THREADS = 2, 8
SETUP = """
import json
import django
django.setup()
from django.core.management import call_command
from relais.patient_access.links import issue_links
from tests.support.factories import make_member, make_patient, make_pharmacy, make_test

call_command("migrate", verbosity=0)
pharmacy = make_pharmacy("Pharmacie du Banc d'Essai", "750009999", phone="01 02 03 04 05")
user = make_member(pharmacy, "bench@example.org", full_name="Bench Pharmacist")
patient = make_patient(pharmacy, user)
print(json.dumps([issue_links([(make_test(patient, user), [])])[0][1] for _ in range({links})]))
"""
RIGHT_DATE = date_fields(PATIENT_DATA["birth_date"])
WRONG_DATE = date_fields(PATIENT_DATA["birth_date"] + datetime.timedelta(days=1))


def run_case(name, base, tokens, method, data, expected, total, max_seconds):
    """CLIENTS threads share `total` link visits; each visit's latency is kept. A visit is
    what a patient's browser does: follow the link (/r/<token> hands its token to the
    session and redirects), then load or post the token-free date page."""

    def send(client):
        client.get(f"/r/{random.choice(tokens)}")
        return client.request(method, "/r/open/", data=data)

    load = closed_loop(
        base, CLIENTS, send, expected, max_seconds, budget=total, follow_redirects=False
    )
    requests = len(load.latencies)
    print(
        f"  {name:<34} {requests:>5} req  p50 {load.p50_ms:7.1f} ms  p99 {load.p99_ms:7.1f} ms  "
        f"{requests / load.wall:6.0f} req/s  unexpected answers: {load.unexpected_text()}"
    )
    return {
        "p50_ms": load.p50_ms, "p99_ms": load.p99_ms, "requests": requests,
        "unexpected": len(load.unexpected),
    }  # fmt: skip


def run_during_import(base, tokens, rows: int, max_seconds: float) -> dict:
    """The link page while the worker checks and imports `rows` CSV rows: the import runs
    as bench/bulk_import.py does it (the worker's jobs), in a process of its own, on a
    throwaway database of the same PostgreSQL server (SQLite: a file of its own); the
    link page is loaded until the import ends."""
    script = Path(__file__).resolve().parent / "bulk_import.py"
    url = os.environ.get("RELAIS_DATABASE_URL")
    with contextlib.ExitStack() as stack:
        env = {**os.environ, "PYTHONPATH": project_path.PYTHONPATH}
        if url:
            env["RELAIS_DATABASE_URL"] = stack.enter_context(
                throwaway_database(url, "relais_bench_link_import")
            )
        importer = subprocess.Popen(
            [sys.executable, str(script), "--rows", str(rows)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        cases = []
        while importer.poll() is None:
            cases.append(
                run_case(
                    f"link page during the import ({rows:,} rows)",
                    base,
                    tokens,
                    "GET",
                    None,
                    200,
                    10**9,
                    min(20.0, max_seconds),
                )  # fmt: skip
            )
        output = importer.stdout.read() if importer.stdout else ""
        if importer.returncode != 0:
            sys.exit(output[-3000:])
        print("\n".join("    " + line for line in output.splitlines() if "rows/s" in line))
    latencies = [case["p99_ms"] for case in cases]
    return {
        "p99_ms": max(latencies, default=0.0),  # the worst 20-second window
        "p50_ms": statistics.median(case["p50_ms"] for case in cases) if cases else 0.0,
        "requests": sum(case["requests"] for case in cases),
        "unexpected": sum(case["unexpected"] for case in cases),
        "rows": rows,
    }


def main() -> None:
    short = "--short" in sys.argv
    total, max_seconds = (400, 30) if short else (3000, 120)
    with tempfile.TemporaryDirectory(prefix="relais-bench-patient-") as var_dir:
        env = {
            **os.environ,
            "RELAIS_DEMO": "1",
            "RELAIS_VAR_DIR": var_dir,
            "RELAIS_PATIENT_RATE_LIMIT": "1000000",
            "RELAIS_PATIENT_LINK_MAX_TRIES": "1000000000",
            "DJANGO_SETTINGS_MODULE": "relais.settings",
            "RELAIS_LOG_LEVEL": "ERROR",
            "PYTHONPATH": project_path.PYTHONPATH,
        }
        setup = subprocess.run(
            [sys.executable, "-c", SETUP.replace("{links}", str(LINKS))],
            env=env,
            capture_output=True,
            text=True,
        )
        if setup.returncode != 0:
            sys.exit(setup.stderr[-3000:])
        tokens = json.loads(setup.stdout.strip().splitlines()[-1])
        server = start_gunicorn(env, Path(var_dir) / "web.log", WORKERS, THREADS)
        base = server.url
        try:
            database = "PostgreSQL" if os.environ.get("RELAIS_DATABASE_URL") else "SQLite"
            print(
                f"Patient link, gunicorn {WORKERS} workers x {THREADS} threads, {database}, "
                f"{CLIENTS} concurrent clients, {LINKS} links (rate limits raised for the bench)"
            )
            page = run_case(
                "link page (/r/<token>, /r/open/)",
                base,
                tokens,
                "GET",
                None,
                200,
                total,
                max_seconds,
            )
            right = run_case(
                "follow + right date (POST)", base, tokens, "POST", RIGHT_DATE, 302, total,
                max_seconds,
            )  # fmt: skip
            wrong = run_case(
                "follow + wrong date (POST)", base, tokens, "POST", WRONG_DATE, 403, total,
                max_seconds,
            )  # fmt: skip
            cases = {"link_page": page, "date_right": right, "date_wrong": wrong}
            if "--during-import" in sys.argv:
                rows = int(sys.argv[sys.argv.index("--during-import") + 1])
                cases["during_import"] = run_during_import(base, tokens, rows, max_seconds)
            if "--json" in sys.argv:
                print("RESULT " + json.dumps({"database": database, "clients": CLIENTS, **cases}))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
