"""Sustained drain rate of the transmission outbox: messages acknowledged per second.

For each size and worker count: a fresh database holding N validated tests with their
queued messages, the SI-DEP simulator (mutual TLS, --fast-validation: hl7apy's strict
check alone takes tens of milliseconds a message), then `relais worker` processes until
every row is acknowledged. Real processes throughout (see tests/support/drain.py).

PostgreSQL: a throwaway database is created on the server of RELAIS_DATABASE_URL and
dropped afterwards. Without RELAIS_DATABASE_URL it runs on SQLite, one worker only.

    python bench/transmission_drain.py           # 10,000 and 100,000 results, 1 and 2 workers
    python bench/transmission_drain.py --quick   # 2,000 results
    python bench/transmission_drain.py --sizes 10000 --workers 1,2
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import project_path  # noqa: F401 (tests/support)
from tests.support.drain import Drain

TIMEOUT_SECONDS = 3600
BUILD_SAMPLE = 1000


def measure(size: int, workers: int, postgres_url: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="relais-drain-bench-") as workdir:
        drain = Drain(Path(workdir), postgres_url=postgres_url, lease_seconds=60)
        try:
            drain.prepare(size)
            build = json.loads(
                drain.run(
                    sys.executable, "-m", "tests.support.drain", "build-time",
                    str(min(size, BUILD_SAMPLE)),
                )
            )  # fmt: skip
            started = time.monotonic()
            for _ in range(workers):
                drain.start_worker()
            # Sustained rate: from the first acknowledgement (process start-up excluded)
            # to the last.
            first_ack_at, first_count, first_cpu = None, 0, {}
            while True:
                acknowledged = drain.states().get("acknowledged", 0)
                now = time.monotonic()
                if first_ack_at is None and acknowledged:
                    first_ack_at, first_count = now, acknowledged
                    first_cpu = drain.cpu_seconds()
                if acknowledged >= size:
                    break
                if now - started > TIMEOUT_SECONDS:
                    raise RuntimeError(f"not drained after {TIMEOUT_SECONDS}s")
                drain.check_workers_alive()
                time.sleep(0.2)
            finished = time.monotonic()
            cpu = drain.cpu_seconds()
            counts = drain.simulator.counts()
        finally:
            drain.close()
    sustained = (size - first_count) / max(finished - first_ack_at, 1e-9)
    # CPU per message over the same span as the sustained rate (start-up excluded).
    cpu_ms = {
        name: (cpu[name] - first_cpu[name]) * 1000 / max(size - first_count, 1) for name in cpu
    }
    return {
        "size": size,
        "workers": workers,
        "seconds": finished - started,
        "overall_rate": size / (finished - started),
        "sustained_rate": sustained,
        "stored": counts["accepted"],
        "received": counts["received"],
        "worker_cpu_ms": cpu_ms["workers"],
        "simulator_cpu_ms": cpu_ms["simulator"],
        "load_ms": build["load_and_decrypt_seconds_per_message"] * 1000,
        "build_ms": build["build_seconds_per_message"] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 results only")
    parser.add_argument("--sizes", help="comma-separated result counts")
    parser.add_argument("--workers", help="comma-separated worker counts")
    parser.add_argument("--json", action="store_true", help="also print a RESULT {json} line")
    args = parser.parse_args()
    postgres_url = os.environ.get("RELAIS_DATABASE_URL", "")
    sizes = [2000] if args.quick else [10_000, 100_000]
    if args.sizes:
        sizes = [int(size) for size in args.sizes.split(",")]
    workers = [int(n) for n in args.workers.split(",")] if args.workers else [1, 2]
    if not postgres_url:
        print("RELAIS_DATABASE_URL is not set: SQLite, one worker.")
        workers = [1]
    database = "PostgreSQL" if postgres_url else "SQLite"
    print(f"Outbox drain on {database}, {os.cpu_count()} CPUs (shared machine: noisy figures)")
    header = (
        f"{'results':>8} {'workers':>7} {'seconds':>8} {'overall/s':>10} {'sustained/s':>12}"
        f" {'stored':>7} {'received':>9} {'worker CPU ms':>14} {'simulator CPU ms':>17}"
        f" {'load+decrypt ms':>16} {'build ms':>9}"
    )
    print(header)
    rows = []
    for size in sizes:
        for count in workers:
            row = measure(size, count, postgres_url)
            rows.append(row)
            print(
                f"{row['size']:>8} {row['workers']:>7} {row['seconds']:>8.1f}"
                f" {row['overall_rate']:>10.0f} {row['sustained_rate']:>12.0f}"
                f" {row['stored']:>7} {row['received']:>9} {row['worker_cpu_ms']:>14.3f}"
                f" {row['simulator_cpu_ms']:>17.3f} {row['load_ms']:>16.3f}"
                f" {row['build_ms']:>9.3f}",
                flush=True,
            )
    print("overall: from starting the workers; sustained: from the first acknowledgement.")
    print("worker / simulator CPU: per message acknowledged, over the sustained span,")
    print("all workers together (stable under load, unlike the rates).")
    print("load+decrypt / build: per message, one process, as the worker does it.")
    if args.json:
        # "runs" keys each row by size and workers, for bench/interleave.py (which
        # compares the numbers of nested objects, not of lists).
        runs = {f"{row['size']}x{row['workers']}": row for row in rows}
        print("RESULT " + json.dumps({"database": database, "rows": rows, "runs": runs}))


if __name__ == "__main__":
    main()
