"""CSV bulk import: rows per second and peak memory for a 100,000-row file, through the
worker as the site runs it.

Writes the file to disk line by line (never whole in memory), then does what the web
request does (`queue_file`: the upload stored encrypted, the batch queued) and runs the
worker's jobs as `relais worker` would: `check_next` (every row through the submission
service, in a bounded pool of processes for a large file; valid rows and errors written
encrypted to the database) and, once confirmed (`queue_import`), `import_next` (one
transaction: patients, tests, outbox rows, patient links, audit events; COPY on
PostgreSQL). Peak memory is the maximum RSS read from the kernel after each pass: this
process's, and the largest of its checking processes'.

    python bench/bulk_import.py            # 100,000 rows
    python bench/bulk_import.py --short    # 10,000 rows
    python bench/bulk_import.py --rows N
    python bench/bulk_import.py --processes N   # checking processes (1: none)

A fresh demo-mode database: SQLite in a temporary directory, or the PostgreSQL database
named by RELAIS_DATABASE_URL (emptied first: use a scratch one). The machine may be
shared: "rows per CPU-second" (CPU time of this process and of its checking processes;
SQLite runs in them, PostgreSQL does not) is less sensitive to other load than the
wall-clock rate.
"""

import gc
import json
import multiprocessing
import os
import resource
import sys
import threading
import time
from pathlib import Path

from audit_setup import database_name, make_world, setup_django


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ChildrenPeak(threading.Thread):
    """The largest peak RSS (VmHWM) of the checking processes, read from /proc every
    half second while they run (getrusage's RUSAGE_CHILDREN would report the parent's
    size at fork, before the new interpreter)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_mb = 0.0

    def run(self) -> None:
        while True:
            for child in multiprocessing.active_children():
                try:
                    status = Path(f"/proc/{child.pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_mb = max(self.peak_mb, int(line.split()[1]) / 1024)
            time.sleep(0.5)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the checking processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# The fictitious patients' NIRs repeat every 19,980 numbers (same sex, year and month of
# birth, order number): past that, each period is born in another Paris arrondissement,
# so that 100,000 rows are 100,000 people (a repeated NIR with another birth date is a
# conflict that stops the import, as it must).
NIR_PERIOD = 19_980


def bench_row(number: int) -> dict:
    from tests.support.fictitious import csv_row, make_nir, numbered_patient

    row = csv_row(number)
    if number >= NIR_PERIOD:
        place = f"751{number // NIR_PERIOD:02d}"
        birth_date = numbered_patient(number)["birth_date"]
        row["nir"] = make_nir(row["sex"], birth_date, number % 999 + 1, place)
        row["birthplace_code"] = place
    return row


def write_csv(path: Path, rows: int) -> None:
    from tests.support.fictitious import csv_text

    with path.open("w", encoding="utf-8", newline="") as out:
        header, *_ = csv_text([]).splitlines(keepends=True)
        out.write(header)
        for number in range(rows):
            out.write(csv_text([bench_row(number)]).split("\r\n", 1)[1])


def argument(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def main() -> None:
    rows = argument("--rows", 10_000 if "--short" in sys.argv else 100_000)
    var_dir = setup_django()
    from django.core.files.uploadedfile import UploadedFile

    from relais.imports import bulk_import
    from relais.imports.models import ImportBatch

    bulk_import.PROCESSES = argument("--processes", bulk_import.PROCESSES)
    pharmacy, user = make_world()
    path = var_dir / "bench.csv"
    write_csv(path, rows)
    size_mb = path.stat().st_size / 1_000_000
    gc.collect()
    baseline = peak_rss_mb()
    print(
        f"CSV import of {rows:,} rows ({size_mb:.1f} MB) through the worker on "
        f"{database_name()}, {os.cpu_count()} CPUs, {bulk_import.PROCESSES} checking "
        f"processes (load average before: {os.getloadavg()[0]:.1f})"
    )
    print(f"  peak RSS after set-up and file generation: {baseline:6.0f} MB")
    with path.open("rb") as handle:
        upload = UploadedFile(handle, name="bench.csv", size=path.stat().st_size)
        started = time.perf_counter()
        batch = bulk_import.queue_file(upload, pharmacy, user)
        stored = time.perf_counter() - started
    print(f"  upload (the web request: stored encrypted, queued): {stored:5.2f} s")

    def run(job) -> tuple[float, float]:
        started, cpu = time.perf_counter(), cpu_seconds()
        while job():
            pass
        return time.perf_counter() - started, cpu_seconds() - cpu

    children = ChildrenPeak()
    children.start()
    checked, check_cpu = run(bulk_import.check_next)
    batch = ImportBatch.objects.get(pk=batch.pk)
    print(
        f"  check  (worker, every row):  {checked:7.1f} s  {rows / checked:7.0f} rows/s  "
        f"({rows / check_cpu:5.0f} rows per CPU-second)  peak RSS {peak_rss_mb():4.0f} MB, "
        f"each checking process {children.peak_mb:4.0f} MB  "
        f"({batch.valid_count:,} valid, {batch.error_count:,} with errors)"
    )
    bulk_import.queue_import(batch.pk, pharmacy)
    imported, import_cpu = run(bulk_import.import_next)
    batch = ImportBatch.objects.get(pk=batch.pk)
    print(
        f"  import (worker, one transaction): {imported:7.1f} s  {rows / imported:7.0f} rows/s  "
        f"({rows / import_cpu:5.0f} rows per CPU-second)  peak RSS {peak_rss_mb():4.0f} MB  "
        f"({batch.imported_count:,} tests saved)"
    )
    total, total_cpu = checked + imported, check_cpu + import_cpu
    print(
        f"  both passes:                 {total:7.1f} s  {rows / total:7.0f} rows/s  "
        f"({rows / total_cpu:5.0f} rows per CPU-second)"
    )
    if "--json" in sys.argv:
        print("RESULT " + json.dumps({
            "database": database_name(), "rows": rows, "check_per_s": rows / checked,
            "import_per_s": rows / imported, "both_per_s": rows / total,
            "both_per_cpu_s": rows / total_cpu, "peak_rss_mb": peak_rss_mb(),
            "children_peak_rss_mb": children.peak_mb,
            "imported": batch.imported_count,
        }))  # fmt: skip


if __name__ == "__main__":
    main()
