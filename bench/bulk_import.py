"""CSV bulk import: rows per second and peak memory for a 100,000-row file.

Writes the file to disk line by line (never whole in memory), then runs the two passes
as the web page does: `check_file` (every row through the web forms, valid rows and
errors written encrypted to the database) and `import_batch` (one transaction: patients,
tests, outbox rows, patient links). Peak memory is the process's maximum RSS, read from
the kernel after each pass.

    python bench/bulk_import.py            # 100,000 rows
    python bench/bulk_import.py --short    # 10,000 rows
    python bench/bulk_import.py --rows N

A fresh demo-mode database: SQLite in a temporary directory, or the PostgreSQL database
named by RELAIS_DATABASE_URL (emptied first: use a scratch one). The machine may be
shared: "rows per CPU-second" (this process's CPU time; SQLite runs in it, PostgreSQL
does not) is less sensitive to other load than the wall-clock rate.
"""

import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

from audit_setup import database_name, make_world, setup_django


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_csv(path: Path, rows: int) -> None:
    from tests.support.fictitious import csv_row, csv_text

    with path.open("w", encoding="utf-8", newline="") as out:
        header, *_ = csv_text([]).splitlines(keepends=True)
        out.write(header)
        for number in range(rows):
            out.write(csv_text([csv_row(number)]).split("\r\n", 1)[1])


def main() -> None:
    rows = 10_000 if "--short" in sys.argv else 100_000
    if "--rows" in sys.argv:
        rows = int(sys.argv[sys.argv.index("--rows") + 1])
    var_dir = setup_django()
    from django.core.files.uploadedfile import UploadedFile

    from relais.imports.bulk_import import check_file, import_batch

    pharmacy, user = make_world()
    path = var_dir / "bench.csv"
    write_csv(path, rows)
    size_mb = path.stat().st_size / 1_000_000
    gc.collect()
    baseline = peak_rss_mb()
    print(
        f"CSV import of {rows:,} rows ({size_mb:.1f} MB) on {database_name()}, "
        f"{os.cpu_count()} CPUs (load average before: {os.getloadavg()[0]:.1f})"
    )
    print(f"  peak RSS after set-up and file generation: {baseline:6.0f} MB")
    with path.open("rb") as handle:
        upload = UploadedFile(handle, name="bench.csv", size=path.stat().st_size)
        started, cpu = time.perf_counter(), time.process_time()
        batch = check_file(upload, pharmacy, user)
        checked, check_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"  check  (validate every row): {checked:7.1f} s  {rows / checked:7.0f} rows/s  "
        f"({rows / check_cpu:5.0f} rows per CPU-second)  peak RSS {peak_rss_mb():6.0f} MB  "
        f"({batch.valid_count:,} valid, {batch.error_count:,} with errors)"
    )
    started, cpu = time.perf_counter(), time.process_time()
    batch = import_batch(batch.pk, pharmacy, user)
    imported, import_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"  import (one transaction):    {imported:7.1f} s  {rows / imported:7.0f} rows/s  "
        f"({rows / import_cpu:5.0f} rows per CPU-second)  peak RSS {peak_rss_mb():6.0f} MB  "
        f"({batch.imported_count:,} tests saved)"
    )
    total = checked + imported
    print(f"  both passes:                 {total:7.1f} s  {rows / total:7.0f} rows/s")
    if "--json" in sys.argv:
        print("RESULT " + json.dumps({
            "database": database_name(), "rows": rows, "check_per_s": rows / checked,
            "import_per_s": rows / imported, "both_per_s": rows / total,
            "peak_rss_mb": peak_rss_mb(), "imported": batch.imported_count,
        }))  # fmt: skip


if __name__ == "__main__":
    main()
