"""Scale-out check: two web processes and two workers on one PostgreSQL, one worker killed.

Two gunicorn masters on two ports and two `relais worker` processes share one throwaway
PostgreSQL database (created on RELAIS_BENCH_PG's server, dropped at the end) and the
Redis cache, and send to the SI-DEP simulator over mutual TLS. Clients POST results to
/api/v1/tests on both web processes alternately; halfway through, one worker is killed
with SIGKILL and a new one started. At the end every result must be acknowledged once:
every outbox row acknowledged, and the simulator's accepted count and its count of
distinct MSH-10 both equal the number of results POSTed (a message the killed worker
had sent without recording the ACK is sent again and de-duplicated by SI-DEP).

    python bench/scale_out.py            # 5,000 results, 20 clients
    python bench/scale_out.py --quick    # 400 results, 8 clients

Prints the counts; exits with 1 if they do not match.
"""

import itertools
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import project_path  # noqa: F401 (tests/support)
from tests.support.drain import RELAIS, Drain
from tests.support.fictitious import api_submission, numbered_patient
from tests.support.servers import WebServer, start_gunicorn

FINESS = "750009997"
SEED = f"""
import django
django.setup()
from tests.support.factories import make_pharmacy
make_pharmacy("Pharmacie de la Montée en Charge", "{FINESS}")
"""
LEASE_SECONDS = 8  # above the SI-DEP connect + read timeouts (2 + 5 s)
TIMEOUT_SECONDS = 1800


def payload(number: int) -> bytes:
    return json.dumps(api_submission(numbered_patient(number))).encode()


class Installation(Drain):
    """Drain's throwaway database, simulator and workers, plus two web processes."""

    def __init__(self, workdir: Path, postgres_url: str):
        super().__init__(workdir, postgres_url=postgres_url, lease_seconds=LEASE_SECONDS)
        self.webs: list[WebServer] = []

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "RELAIS_CACHE_URL": os.environ.get("RELAIS_BENCH_REDIS", "redis://127.0.0.1:6379/15"),
            "RELAIS_API_RATE_LIMIT": "1000000000",
            "RELAIS_HTTPS": "0",
            "DJANGO_SETTINGS_MODULE": "relais.settings",
        }

    def set_up(self) -> str:
        """Database, pharmacy, simulator; returns an API token for the pharmacy."""
        self.create_database()
        (self.workdir / "var" / "static").mkdir(parents=True)
        self.run(RELAIS, "migrate", "--verbosity", "0")
        self.run(sys.executable, "-c", SEED)
        token = self.run(RELAIS, "api-credentials", "create", "--pharmacy", FINESS,
                         "--name", "scale-out").strip().splitlines()[-1]  # fmt: skip
        self.start_simulator()
        return token

    def start_web(self) -> str:
        log = self.workdir / f"web-{len(self.webs)}.log"
        self.webs.append(start_gunicorn(self.env(), log, workers=2, threads=4))
        return self.webs[-1].url

    def close(self) -> None:
        for web in self.webs:
            web.stop()
        super().close()


def post_one(client: httpx.Client, base: str, number: int) -> int | str:
    """Like a pharmacy's software: a dropped connection is retried with the same
    Idempotency-Key, so a request the server did process is not recorded twice."""
    headers = {"Idempotency-Key": f"scale-out-{number}"}
    for attempt in range(3):
        try:
            return client.post(
                f"{base}/api/v1/tests", content=payload(number), headers=headers
            ).status_code
        except httpx.TransportError as error:
            if attempt == 2:
                return type(error).__name__
            time.sleep(0.5)


def post_all(bases: list[str], token: str, total: int, clients: int, halfway) -> dict:
    """POSTs `total` results, request n to bases[n % 2]; starts halfway() at half."""
    numbers = itertools.count()
    lock = threading.Lock()
    outcome = {"created": 0, "other": []}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def client_loop():
        with httpx.Client(timeout=60, headers=headers) as client:
            while (number := next(numbers)) < total:
                if number == total // 2:
                    threading.Thread(target=halfway).start()
                status = post_one(client, bases[number % len(bases)], number)
                with lock:
                    if status == 201:
                        outcome["created"] += 1
                    else:
                        outcome["other"].append(status)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcome


def main() -> int:
    quick = "--quick" in sys.argv
    total, clients = (400, 8) if quick else (5000, 20)
    server = os.environ.get("RELAIS_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="relais-scale-out-") as workdir:
        site = Installation(Path(workdir), postgres_url=f"{server}/postgres")
        try:
            token = site.set_up()
            bases = [site.start_web(), site.start_web()]
            site.start_worker()
            site.start_worker()
            killed = []

            def kill_and_restart_a_worker():
                # Kill while messages are being sent, so that a batch may be cut short.
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not site.states().get("in_flight"):
                    time.sleep(0.05)
                in_flight = site.states().get("in_flight", 0)
                victim = site.workers[0]
                site.kill(victim)
                killed.append((victim.pid, in_flight))
                time.sleep(1)
                site.start_worker()

            print(
                f"Scale-out: {total:,} results POSTed by {clients} clients to 2 web processes "
                f"(alternately), 2 workers, PostgreSQL, {os.cpu_count()} CPUs"
            )
            outcome = post_all(bases, token, total, clients, kill_and_restart_a_worker)
            posted = outcome["created"]
            others = outcome["other"]
            print(
                f"  POSTed: {posted:,} created (201), other answers: {len(others)}"
                + (f" {sorted(set(map(str, others)))}" if others else "")
            )
            while not killed:  # the kill runs in its own thread
                time.sleep(0.1)
            pid, in_flight = killed[0]
            print(
                f"  worker killed with SIGKILL halfway (pid {pid}; rows in flight at that moment, "
                f"held by either worker: {in_flight}) and replaced"
            )
            site.wait_until_acknowledged(posted, TIMEOUT_SECONDS)
            time.sleep(1)  # anything still in flight would show in the counts below
            states = site.states()
            counts = site.simulator.counts()
            attempts = site.total_attempts()
        finally:
            site.close()
    result = {
        "posted": posted,
        "outbox_rows": sum(states.values()),
        "acknowledged": states.get("acknowledged", 0),
        "simulator_accepted": counts["accepted"],
        "distinct_msh10": counts["distinct_message_ids"],
        "simulator_received": counts["received"],
        "duplicates": counts["received"] - counts["accepted"],
        "attempts": attempts,
        "seconds": time.monotonic() - started,
    }
    print(f"  outbox: {result['outbox_rows']:,} rows, states {states}, {attempts:,} attempts")
    print(
        f"  SI-DEP simulator: accepted {result['simulator_accepted']:,}, distinct MSH-10 "
        f"{result['distinct_msh10']:,}, received {result['simulator_received']:,} "
        f"({result['duplicates']:,} resent and de-duplicated)"
    )
    ok = (
        not outcome["other"]
        and posted == total
        and result["outbox_rows"] == result["acknowledged"] == posted
        and result["simulator_accepted"] == result["distinct_msh10"] == posted
    )
    print(f"  all results acknowledged once: {'yes' if ok else 'NO'} "
          f"({result['seconds']:.0f} s)")  # fmt: skip
    if "--json" in sys.argv:
        print("RESULT " + json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
