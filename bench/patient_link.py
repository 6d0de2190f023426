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

import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

CLIENTS = int(sys.argv[sys.argv.index("--clients") + 1]) if "--clients" in sys.argv else 50
LINKS = 200
WORKERS, THREADS = 2, 8
SETUP = """
import datetime, json
import django
django.setup()
from django.core.management import call_command
from django.utils import timezone
from relais.accounts.models import Membership, Pharmacy, User
from relais.patient_access.links import issue_links
from relais.screening import services

call_command("migrate", verbosity=0)
pharmacy = Pharmacy.objects.create(name="Pharmacie du Banc d'Essai", finess="750009999",
                                   address="1 rue du Banc, 75001 Paris", phone="01 02 03 04 05",
                                   status="active")
user = User.objects.create_user("bench@example.org", None, full_name="Bench Pharmacist")
Membership.objects.create(user=user, pharmacy=pharmacy, role="pharmacist")
patient = services.create_patient(pharmacy, user, {
    "birth_name": "Essai", "given_names": "Camille", "birth_date": datetime.date(1980, 5, 17),
    "sex": "F", "phone": "+33600000000"})
tokens = []
for _ in range({links}):
    [test] = services.record_tests(user, [(patient, {
        "kind": "sars_cov_2_antigen", "specimen": "nasal_swab", "result": "negative",
        "sampled_at": timezone.now(), "symptoms": False, "consent_transmission": True})])
    tokens.append(issue_links([(test, [])])[0][1])
print(json.dumps(tokens))
"""
RIGHT_DATE = {"day": "17", "month": "5", "year": "1980"}
WRONG_DATE = {"day": "18", "month": "5", "year": "1980"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(base: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/r/result/", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    sys.exit("the server did not start")


def run_case(name, base, tokens, method, data, expected, total, max_seconds):
    """CLIENTS threads share `total` requests; each request's latency is kept."""
    latencies, errors = [], []
    lock = threading.Lock()
    remaining = [total]
    stop_at = time.monotonic() + max_seconds

    def client_loop():
        with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as client:
            while time.monotonic() < stop_at:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                url = f"/r/{random.choice(tokens)}"
                started = time.perf_counter()
                try:
                    response = client.request(method, url, data=data)
                    status = response.status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if status != expected:
                        errors.append(status)

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(
        f"  {name:<34} {len(latencies):>5} req  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  "
        f"{len(latencies) / wall:6.0f} req/s  unexpected answers: {len(errors)}"
        + (f" {sorted(set(map(str, errors)))}" if errors else "")
    )
    return {"p50_ms": p50, "p99_ms": p99, "requests": len(latencies), "unexpected": len(errors)}


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
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "relais.wsgi", "--bind", f"127.0.0.1:{port}",
                "--workers", str(WORKERS), "--threads", str(THREADS),
                "--worker-class", "gthread", "--error-logfile", str(Path(var_dir) / "web.log"),
            ],
            env=env,
        )  # fmt: skip
        try:
            wait_until_up(base, time.monotonic() + 30)
            database = "PostgreSQL" if os.environ.get("RELAIS_DATABASE_URL") else "SQLite"
            print(
                f"Patient link, gunicorn {WORKERS} workers x {THREADS} threads, {database}, "
                f"{CLIENTS} concurrent clients, {LINKS} links (rate limits raised for the bench)"
            )
            page = run_case(
                "link page (GET /r/<token>)", base, tokens, "GET", None, 200, total, max_seconds
            )
            right = run_case(
                "date check, right date (POST)", base, tokens, "POST", RIGHT_DATE, 302, total,
                max_seconds,
            )  # fmt: skip
            wrong = run_case(
                "date check, wrong date (POST)", base, tokens, "POST", WRONG_DATE, 403, total,
                max_seconds,
            )  # fmt: skip
            if "--json" in sys.argv:
                cases = {"link_page": page, "date_right": right, "date_wrong": wrong}
                print("RESULT " + json.dumps({"database": database, "clients": CLIENTS, **cases}))
        finally:
            server.terminate()
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
