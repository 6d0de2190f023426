"""Draining an outbox into a real simulator.

`drain_here()` runs the worker's job in the test's own process, on the test database (a
test's few messages). `Drain` drains a large outbox with real `relais worker` processes:
shared by the crash test (tests/transmission/test_crash.py) and the drain and scale-out
benchmarks (bench/transmission_drain.py, bench/scale_out.py), it runs everything out of
process, on a database of its own: a SQLite file, or a fresh PostgreSQL database created
on the server of `postgres_url` and dropped afterwards.

Run as a module (`python -m tests.support.drain populate N`), it fills the
configured database with N validated tests, each with its queued message.
"""

import datetime
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from relais.transmission.certs import CertPaths, make_certs
from tests.support.databases import create_database, drop_database
from tests.support.servers import (
    PROJECT_DIR,
    RELAIS,
    Simulator,
    clean_env,
    start_simulator,
    stop_processes,
)

TABLE = "transmission_transmission"
PATIENTS = 200
CHUNK = 5000


def drain_here(max_rounds: int = 50) -> int:
    """Run the worker's job (relais.transmission.worker.send_due) in this process until
    nothing waits, making retries due at once (the backoff itself is tested in
    tests/transmission/test_worker.py). Returns the rounds it took."""
    from django.utils import timezone

    from relais.transmission.models import Transmission
    from relais.transmission.worker import send_due

    for rounds in range(1, max_rounds + 1):
        send_due()
        waiting = Transmission.objects.filter(state__in=Transmission.WAITING_STATES)
        if not waiting.exists():
            return rounds
        waiting.update(next_attempt_at=timezone.now())
    raise AssertionError(f"still waiting after {max_rounds} rounds")


class Drain:
    """A throwaway Relais installation (var dir + database) wired to one simulator."""

    def __init__(self, workdir: Path, postgres_url: str = "", lease_seconds: int = 8):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.postgres_url = postgres_url
        self.database_url = ""
        self.sqlite_path = self.workdir / "var" / "relais.sqlite3"
        self.lease_seconds = lease_seconds
        self.certs: CertPaths | None = None
        self.simulator: Simulator | None = None
        self.workers: list[subprocess.Popen] = []

    # --- setting up ------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = clean_env(
            RELAIS_DEMO="1",
            RELAIS_VAR_DIR=str(self.workdir / "var"),
            RELAIS_LOG_LEVEL="WARNING",
            RELAIS_SIDEP_CONNECT_TIMEOUT="2",
            RELAIS_SIDEP_READ_TIMEOUT="5",
            RELAIS_TRANSMISSION_LEASE_SECONDS=str(self.lease_seconds),
            RELAIS_TRANSMISSION_BACKOFF_BASE_SECONDS="1",
            RELAIS_TRANSMISSION_BACKOFF_MAX_SECONDS="2",
            # This checkout's src/ before the venv's editable install (which may be
            # another checkout's: bench/interleave.py runs two with one venv).
            PYTHONPATH=os.pathsep.join([str(PROJECT_DIR / "src"), str(PROJECT_DIR)]),
        )
        if self.database_url:
            env["RELAIS_DATABASE_URL"] = self.database_url
        if self.simulator is not None and self.certs is not None:
            env.update(
                RELAIS_SIDEP_URL=self.simulator.url,
                RELAIS_SIDEP_CLIENT_CERT=str(self.certs.client_cert),
                RELAIS_SIDEP_CLIENT_KEY=str(self.certs.client_key),
                RELAIS_SIDEP_CA_FILE=str(self.certs.ca_cert),
            )
        return env

    def run(self, *argv: str) -> str:
        done = subprocess.run(
            argv, env=self.env(), cwd=PROJECT_DIR, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:3])} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def create_database(self) -> None:
        if self.postgres_url:
            self.database_url = create_database(self.postgres_url, "relais_drain")

    def drop_database(self) -> None:
        if self.database_url:
            drop_database(self.database_url)
            self.database_url = ""

    def prepare(self, count: int) -> None:
        """Database, schema, `count` queued results, certificates and a simulator."""
        self.create_database()
        self.run(RELAIS, "migrate", "--verbosity", "0")
        self.run(sys.executable, "-m", "tests.support.drain", "populate", str(count))
        self.start_simulator()

    def start_simulator(self) -> None:
        """Certificates, and the simulator (fast validation) under the work directory."""
        self.certs = make_certs(self.workdir / "certs")
        self.simulator = start_simulator(
            self.certs, self.workdir / "sidep.sqlite3", self.workdir / "sidep.log",
            ("--fast-validation",),
        )  # fmt: skip

    # --- running ---------------------------------------------------------------------
    def start_worker(self, **env: str) -> subprocess.Popen:
        """A `relais worker` process, with `env` added to the installation's settings."""
        log = (self.workdir / "worker.log").open("ab")
        worker = subprocess.Popen(  # noqa: S603 (our own command line)
            [RELAIS, "worker", "--idle-seconds", "0.2"],
            env={**self.env(), **env},
            cwd=PROJECT_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(worker)
        return worker

    def kill(self, worker: subprocess.Popen) -> None:
        worker.send_signal(signal.SIGKILL)
        worker.wait()

    def stop_workers(self) -> None:
        stop_processes(self.workers)

    def close(self) -> None:
        self.stop_workers()
        if self.simulator is not None:
            self.simulator.stop()
        self.drop_database()

    # --- observing -------------------------------------------------------------------
    def query(self, sql: str) -> list[tuple]:
        if self.database_url:
            import psycopg

            with psycopg.connect(self.database_url) as connection:
                return connection.execute(sql).fetchall()
        with closing(sqlite3.connect(self.sqlite_path, timeout=30)) as connection:
            return connection.execute(sql).fetchall()

    def states(self) -> dict[str, int]:
        return dict(self.query(f"SELECT state, COUNT(*) FROM {TABLE} GROUP BY state"))

    def total_attempts(self) -> int:
        return self.query(f"SELECT COALESCE(SUM(attempts), 0) FROM {TABLE}")[0][0]

    def wait_until_acknowledged(self, count: int, timeout: float) -> float:
        """Seconds until `count` rows are acknowledged; raises on timeout."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.states().get("acknowledged", 0) >= count:
                return time.monotonic() - start
            self.check_workers_alive()
            time.sleep(0.25)
        raise AssertionError(f"not drained after {timeout}s: {self.states()}")

    def wait_for_log(self, text: str, timeout: float = 30, count: int = 1) -> str:
        """The workers' output once it holds `text` `count` times; raises on timeout."""
        path = self.workdir / "worker.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = path.read_text(errors="replace") if path.exists() else ""
            if output.count(text) >= count:
                return output
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not in the worker's output:\n{output[-3000:]}")

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) used so far by the workers together, and by the
        simulator: a cost per message that noise from other processes does not change."""
        simulator = self.simulator.process if self.simulator is not None else None
        return {
            "workers": sum(process_cpu_seconds(worker.pid) for worker in self.workers),
            "simulator": process_cpu_seconds(simulator.pid) if simulator else 0.0,
        }

    def check_workers_alive(self) -> None:
        for worker in self.workers:
            if worker.poll() not in (None, -signal.SIGKILL, 0):
                log = (self.workdir / "worker.log").read_text()[-3000:]
                raise AssertionError(f"a worker exited with {worker.returncode}:\n{log}")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a running process (Linux /proc; 0 once it has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the command name (which may hold spaces), from its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- populate (runs inside the throwaway installation, see Drain.prepare) ---------------
def populate(count: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relais.settings")
    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from relais.screening.models import ScreeningTest
    from relais.transmission.models import Transmission
    from tests.support.factories import make_member, make_patient, make_pharmacy

    pharmacy = make_pharmacy("Pharmacie du Banc", "750000099", address="1 rue du Banc")
    user = make_member(pharmacy, "bench@example.org", full_name="Bench", rpps="10001234567")
    patients = [
        make_patient(pharmacy, user, birth_name=f"Banc{number}", nir="")
        for number in range(min(PATIENTS, count))
    ]
    now = timezone.now()
    sampled_at = now - datetime.timedelta(minutes=30)
    for start in range(0, count, CHUNK):
        numbers = range(start, min(start + CHUNK, count))
        tests = [
            ScreeningTest(
                pharmacy=pharmacy, patient=patients[n % len(patients)], performed_by=user,
                kind="sars_cov_2_antigen", device="Demo AG Rapid", specimen="nasal_swab",
                sampled_at=sampled_at, result="negative" if n % 7 else "positive",
                consent_transmission=True,
            )
            for n in numbers
        ]  # fmt: skip
        # What record_test's signal writes, in bulk: one queued message per test.
        rows = [
            Transmission(test=test, pharmacy=pharmacy, sequence=1, next_attempt_at=now)
            for test in tests
        ]
        with transaction.atomic():
            ScreeningTest.objects.bulk_create(tests)
            Transmission.objects.bulk_create(rows)
    # Fresh statistics, as autovacuum keeps them in production: a table filled in one go
    # and never analysed makes the planner sort the whole queue for every claim.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(json.dumps({"queued": Transmission.objects.count()}))


def build_time(count: int) -> None:
    """Seconds per message to load a row with its test and patient (decrypting the
    identity fields) and build its HL7 message, as the worker does; printed as JSON."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relais.settings")
    django.setup()
    from django.utils import timezone

    from relais.transmission import hl7
    from relais.transmission.models import Transmission

    now = timezone.now()
    started = time.perf_counter()
    rows = list(
        Transmission.objects.select_related(
            "test__patient", "test__pharmacy", "test__performed_by"
        )[:count]
    )
    loaded = time.perf_counter()
    for row in rows:
        hl7.build_oru_r01(
            row.test, message_id=row.message_id, result_status=row.result_status, created_at=now
        )
    built = time.perf_counter()
    print(
        json.dumps(
            {
                "messages": len(rows),
                "load_and_decrypt_seconds_per_message": (loaded - started) / len(rows),
                "build_seconds_per_message": (built - loaded) / len(rows),
            }
        )
    )


COMMANDS = {"populate": populate, "build-time": build_time}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in COMMANDS:
        sys.exit("usage: python -m tests.support.drain populate|build-time COUNT")
    COMMANDS[sys.argv[1]](int(sys.argv[2]))
