"""Latency of the patient link page and of the date-of-birth check under 50 concurrent
clients, against the production server (gunicorn) started here on a free loopback port.

The server runs in demo mode on a throwaway var/ directory (SQLite, or RELAIS_DATABASE_URL
if set), 2 workers x 8 threads. The per-address rate limit would stop a benchmark coming
from one address, so the server gets RELAIS_PATIENT_RATE_LIMIT=1000000; the per-link
limit is raised the same way so the wrong-date case can be measured repeatedly.

    python bench/patient_link.py            # 3,000 requests per case (at most 120 s each)
    python bench/patient_link.py --short    # 400 requests per case (at most 30 s each)
    python bench/patient_link.py --clients 1   # the same with one client (a baseline)
"""

import datetime
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import project_path  # noqa: F401 (tests/support)
from load import closed_loop
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
            if "--json" in sys.argv:
                cases = {"link_page": page, "date_right": right, "date_wrong": wrong}
                print("RESULT " + json.dumps({"database": database, "clients": CLIENTS, **cases}))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
