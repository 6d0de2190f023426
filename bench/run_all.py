"""Run every benchmark and print one table: each figure, its unit, the target, met or not.

Each benchmark runs as its own subprocess with `--json`; its usual report is shown as it
runs (indented) and its last `RESULT {json}` line feeds the table. Databases are
throwaway: PostgreSQL ones are created here (or by the benchmark) on the server of
--pg and dropped afterwards; SQLite ones live in temporary directories.

    python bench/run_all.py                  # the sizes of the issues (long: an hour or more)
    python bench/run_all.py --quick          # small sizes, a smoke run of a few minutes
    python bench/run_all.py --quick --only save_test,hl7_build
    python bench/run_all.py --sqlite         # database benchmarks on SQLite where they can

The machine should be quiet: on a shared machine the figures are lower bounds.
Exits with 1 if a benchmark failed (not if a target is missed: the table says so).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import project_path  # noqa: F401 (tests/support)
from tests.support.databases import create_database, drop_database

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PG = os.environ.get("RELAIS_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
NO_TARGET = "—"


@dataclass
class Row:
    benchmark: str
    figure: str
    value: float | None
    unit: str
    target: str = NO_TARGET
    met: bool | None = None


@dataclass
class Benchmark:
    name: str
    script: str
    quick_args: list[str]
    full_args: list[str]
    # "scratch": run here in a throwaway database (PostgreSQL unless --sqlite);
    # "server": the script makes its own throwaway PostgreSQL database; "none": no database.
    database: str
    rows: callable
    env: dict = field(default_factory=dict)


def at_least(value: float, target: float) -> tuple[str, bool]:
    return f"≥ {target:,g}", value >= target


def at_most(value: float, target: float, strict: bool = False) -> tuple[str, bool]:
    return (f"< {target:,g}", value < target) if strict else (f"≤ {target:,g}", value <= target)


def unexpected_row(name: str, label: str, count: float) -> Row:
    """How many answers were not the expected one: none, always."""
    row = Row(name, f"{label} unexpected answers", count, "answers")
    row.target, row.met = "= 0", count == 0
    return row


def save_test_rows(result: dict) -> list[Row]:
    name = f"save_test ({result['database']}, {result['count']:,} saves)"
    return [
        Row(name, "save one test with its patient, median", result["median_ms"], "ms"),
        Row(name, "save one test with its patient, p95", result["p95_ms"], "ms"),
    ]


def hl7_rows(result: dict) -> list[Row]:
    name = f"hl7_build ({result['count']:,} messages)"
    return [
        Row(name, "build one ORU^R01, median", result["median_us"], "µs"),
        Row(name, "build one ORU^R01, p99", result["p99_us"], "µs"),
    ]


def drain_rows(result: dict) -> list[Row]:
    rows = []
    for run in result["rows"]:
        name = f"transmission_drain ({result['database']})"
        figure = f"{run['size']:,} results, {run['workers']} worker(s), sustained"
        row = Row(name, figure, run["sustained_rate"], "acknowledged msg/s")
        if run["workers"] == 2:
            row.target, row.met = at_least(run["sustained_rate"], 2500)
        stored = Row(name, f"{run['size']:,} results, stored by SI-DEP", run["stored"], "messages")
        stored.target, stored.met = f"= {run['size']:,}", run["stored"] == run["size"]
        rows += [row, stored]
    return rows


def directory_rows(result: dict) -> list[Row]:
    name = f"directory_import ({result['database']}, {result['lines']:,} RPPS lines)"
    return [
        Row(name, "import rate", result["rows_per_s"], "rows/s"),
        Row(name, "peak memory of the import process", result["peak_mib"], "MiB"),
    ]


def patient_link_rows(result: dict) -> list[Row]:
    name = f"patient_link ({result['database']}, {result['clients']} clients)"
    rows = []
    for key, label in (
        ("link_page", "link page"),
        ("date_right", "date check, right date"),
        ("date_wrong", "date check, wrong date"),
    ):
        case = result[key]
        p99 = Row(name, f"{label}, p99", case["p99_ms"], "ms")
        p99.target, p99.met = at_most(case["p99_ms"], 50)
        unexpected = unexpected_row(name, f"{label},", case["unexpected"])
        rows += [Row(name, f"{label}, p50", case["p50_ms"], "ms"), p99, unexpected]
    if "during_import" in result:
        case = result["during_import"]
        label = f"link page while the worker imports {case['rows']:,} CSV rows"
        p99 = Row(name, f"{label}, p99 (worst 20 s)", case["p99_ms"], "ms")
        p99.target, p99.met = at_most(case["p99_ms"], 200, strict=True)
        rows += [p99, unexpected_row(name, f"{label},", case["unexpected"])]
    return rows


def api_rows(result: dict) -> list[Row]:
    name = f"api_ingest (PostgreSQL, gunicorn, 20 clients, {result['seconds']} s per case)"
    ingest, bare = result["ingest"], result["bare"]
    rate = Row(name, "POST /api/v1/tests accepted", ingest["rate"], "results/s")
    rate.target, rate.met = at_least(ingest["rate"], 1000)
    p99 = Row(name, "POST /api/v1/tests p99", ingest["p99_ms"], "ms")
    p99.target, p99.met = at_most(ingest["p99_ms"], 150)
    cpu = ingest["web_cpu_ms"] + ingest["db_cpu_ms"]
    ingest_cpu = Row(name, "POST /api/v1/tests web + DB CPU per result", cpu, "ms")
    ingest_cpu.target, ingest_cpu.met = at_most(cpu, 5)
    share = ingest["rate"] / bare["rate"] * 100 if bare["rate"] else 0
    ratio = Row(name, "ingest rate / bare endpoint rate", share, "%")
    ratio.target, ratio.met = at_least(share, 50)
    unexpected = unexpected_row(name, "POST", ingest["unexpected"])
    batch = result["batch"]
    batch_rate = Row(name, "POST /api/v1/tests/batch (500), 2 clients", batch["rate"], "results/s")
    batch_rate.target, batch_rate.met = at_least(batch["rate"], 1000)
    batch_unexpected = unexpected_row(name, "batch", batch["unexpected"])
    return [
        rate,
        Row(name, "POST /api/v1/tests p50", ingest["p50_ms"], "ms"),
        p99,
        Row(name, "GET /api/v1/health (bare endpoint)", bare["rate"], "answers/s"),
        ratio,
        unexpected,
        ingest_cpu,
        batch_rate,
        Row(name, "batch web + DB CPU per result", batch["web_cpu_ms"] + batch["db_cpu_ms"], "ms"),
        batch_unexpected,
    ]


def bulk_rows(result: dict) -> list[Row]:
    name = f"bulk_import ({result['database']}, {result['rows']:,} CSV rows)"
    both = Row(name, "check + import, both passes", result["both_per_s"], "rows/s")
    both.target, both.met = at_least(result["both_per_s"], 10_000)
    peak = Row(name, "peak memory (max RSS)", result["peak_rss_mb"], "MB")
    peak.target, peak.met = at_most(result["peak_rss_mb"], 300, strict=True)
    imported = Row(name, "tests saved", result["imported"], "tests")
    imported.target, imported.met = f"= {result['rows']:,}", result["imported"] == result["rows"]
    return [
        Row(name, "check pass (validate every row)", result["check_per_s"], "rows/s"),
        Row(name, "import pass (one transaction)", result["import_per_s"], "rows/s"),
        both,
        peak,
        imported,
    ]


def audit_overhead_rows(result: dict) -> list[Row]:
    name = f"audit_overhead ({result['database']})"
    return [
        Row(name, "patient page with audit", result["with_ms"], "ms/request"),
        Row(name, "patient page without audit", result["without_ms"], "ms/request"),
        Row(name, "audit overhead", result["overhead_ms"], "ms/request"),
    ]


def audit_verify_rows(result: dict) -> list[Row]:
    name = f"audit_verify ({result['database']}, {result['count']:,} events)"
    return [
        Row(name, "chain (worker job)", result["chain_per_s"], "events/s"),
        Row(name, "relais audit verify", result["verify_per_s"], "events/s"),
    ]


def key_rotation_rows(result: dict) -> list[Row]:
    name = f"key_rotation ({result['database']}, {result['count']:,} patients)"
    return [Row(name, "re-encryption rate", result["rows_per_s"], "patients/s")]


def backup_rows(result: dict) -> list[Row]:
    name = f"backup ({result['database']}, {result['tests']:,} tests, {result['rows']:,} rows)"
    return [
        Row(name, "relais backup", result["backup_s"], "s"),
        Row(name, "relais restore", result["restore_s"], "s"),
        Row(name, "backup size (encrypted)", result["size_mb"], "MB"),
    ]


def scale_out_rows(result: dict) -> list[Row]:
    name = "scale_out (PostgreSQL, 2 web + 2 workers, one worker killed)"
    posted = result["posted"]
    rows = []
    for key, label in (
        ("acknowledged", "outbox rows acknowledged"),
        ("simulator_accepted", "SI-DEP accepted"),
        ("distinct_msh10", "distinct MSH-10 at SI-DEP"),
    ):
        row = Row(name, label, result[key], "messages", f"= {posted:,} posted")
        row.met = result[key] == posted
        rows.append(row)
    rows.append(Row(name, "sent more than once (de-duplicated)", result["duplicates"], "messages"))
    return rows


def day_page_rows(result: dict) -> list[Row]:
    name = f"day_page ({result['database']}, {result['tests']:,} tests of the day)"
    queries = Row(name, "first page, SQL statements", result["queries"], "statements")
    queries.target, queries.met = at_most(result["queries"], 12)
    server = Row(name, "first page, server time (median)", result["server_ms"], "ms")
    server.target, server.met = at_most(result["server_ms"], 100)
    return [
        queries,
        server,
        Row(name, "first page, web CPU time (median)", result["cpu_ms"], "ms"),
        Row(name, "rows on the first page", result["rows_shown"], "rows"),
    ]


def cost_rows(result: dict) -> list[Row]:
    name = f"cost_per_result ({result['database']}, test client, {result['count']} of each)"
    targets = {"link_page": 3.5, "birth_date": 3.5}
    rows = []
    for operation, figures in result.items():
        if not isinstance(figures, dict):
            continue
        cpu = Row(name, f"{operation}: web + DB CPU", figures["web_ms"] + figures["db_ms"], "ms")
        if operation in targets:
            cpu.target, cpu.met = at_most(cpu.value or 0, targets[operation])
        rows += [
            cpu,
            Row(name, f"{operation}: SQL statements", figures["statements"], "statements"),
        ]
    return rows


def api_batch_rows(result: dict) -> list[Row]:
    name = f"api_batch ({result['database']}, CPU per result, test client)"
    single, batch = result["single"], result["batch"]
    single_cpu = Row(name, "POST /api/v1/tests, web + DB CPU", single["web_ms"] + single["db_ms"],
                     "ms")  # fmt: skip
    single_cpu.target, single_cpu.met = at_most(single_cpu.value or 0, 5)
    batch_cpu = Row(name, f"POST /api/v1/tests/batch ({result['batch_size']}), web + DB CPU",
                    batch["web_ms"] + batch["db_ms"], "ms")  # fmt: skip
    rate = Row(name, "batch: results/s two cores' CPU allows", batch["rate"], "results/s")
    rate.target, rate.met = at_least(batch["rate"], 1000)
    return [
        single_cpu,
        Row(name, "POST /api/v1/tests, SQL statements", single["statements"], "statements"),
        batch_cpu,
        Row(name, "batch, SQL statements per result", batch["statements"], "statements"),
        rate,
    ]


BENCHMARKS = [
    Benchmark("save_test", "save_test.py", ["--count", "100"], ["--count", "1000"], "scratch",
              save_test_rows),
    Benchmark("hl7_build", "hl7_build.py", ["--short"], [], "none", hl7_rows),
    Benchmark("transmission_drain", "transmission_drain.py", ["--quick"], [], "server",
              drain_rows),
    Benchmark("directory_import", "directory_import.py", ["--short"], [], "scratch",
              directory_rows),
    Benchmark("patient_link", "patient_link.py", ["--short"], [], "scratch", patient_link_rows),
    Benchmark("link_during_import", "patient_link.py",
              ["--short", "--clients", "5", "--during-import", "5000"],
              ["--clients", "5", "--during-import", "100000"], "scratch", patient_link_rows),
    Benchmark("api_ingest", "api_ingest.py", ["--short"], [], "server", api_rows),
    Benchmark("cost_per_result", "cost_per_result.py", ["--count", "50"], [], "scratch",
              cost_rows),
    Benchmark("api_batch", "api_batch.py", ["--batches", "2", "--singles", "40"], [],
              "scratch", api_batch_rows),
    Benchmark("bulk_import", "bulk_import.py", ["--short"], [], "scratch", bulk_rows),
    Benchmark("audit_overhead", "audit_overhead.py", ["--short"], [], "scratch",
              audit_overhead_rows),
    Benchmark("audit_verify", "audit_verify.py", ["--short"], [], "scratch", audit_verify_rows),
    Benchmark("key_rotation", "key_rotation.py", ["--tiny"], [], "scratch", key_rotation_rows),
    Benchmark("backup", "backup.py", ["--short"], [], "scratch", backup_rows),
    Benchmark("scale_out", "scale_out.py", ["--quick"], [], "server", scale_out_rows),
    Benchmark("day_page", "day_page.py", ["--tests", "100", "--views", "10"], [], "scratch",
              day_page_rows),
]  # fmt: skip


def child_env(benchmark: Benchmark, server: str, sqlite: bool) -> tuple[dict, str]:
    """The benchmark's environment, and the throwaway database to drop afterwards."""
    # Each benchmark configures its own throwaway installation: none of ours leaks in.
    env = {
        key: value
        for key, value in os.environ.items()
        if key.startswith("RELAIS_BENCH_")
        or not (key.startswith("RELAIS_") or key == "DJANGO_SETTINGS_MODULE")
    }
    env.update(benchmark.env)
    if benchmark.database == "server":
        env["RELAIS_BENCH_PG"] = server
        env["RELAIS_DATABASE_URL"] = f"{server}/postgres"  # where it creates its own
        return env, ""
    if benchmark.database == "scratch" and not sqlite:
        env["RELAIS_DATABASE_URL"] = create_database(server, f"relais_bench_{benchmark.name}")
        return env, env["RELAIS_DATABASE_URL"]
    return env, ""


def run(benchmark: Benchmark, quick: bool, server: str, sqlite: bool) -> tuple[list[Row], str]:
    """Runs one benchmark; returns its table rows, or an error text."""
    args = benchmark.quick_args if quick else benchmark.full_args
    command = [sys.executable, str(PROJECT_DIR / "bench" / benchmark.script), *args, "--json"]
    print(f"\n=== {benchmark.name}: {' '.join(command[1:])}", flush=True)
    env, database = child_env(benchmark, server, sqlite)
    result, started = None, time.monotonic()
    try:
        process = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        for line in process.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line.removeprefix("RESULT "))
            else:
                print(f"    {line}", end="", flush=True)
        code = process.wait()
    finally:
        if database:
            drop_database(database)
    print(f"    ({time.monotonic() - started:.0f} s)", flush=True)
    if code != 0:
        return [], f"exit code {code}"
    if result is None:
        return [], "no RESULT line"
    return benchmark.rows(result), ""


def format_value(value: float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int) or value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def print_table(rows: list[Row], failures: dict[str, str]) -> None:
    header = ("Benchmark", "Figure", "Value", "Unit", "Target", "Met")
    lines = [
        (
            row.benchmark,
            row.figure,
            format_value(row.value),
            row.unit,
            row.target,
            NO_TARGET if row.met is None else ("yes" if row.met else "NO"),
        )
        for row in rows
    ]
    lines += [(name, "FAILED", "", "", "", error) for name, error in failures.items()]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    rule = "-+-".join("-" * width for width in widths)
    print("\n" + rule)
    for number, line in enumerate([header, *lines]):
        cells = [
            cell.rjust(width) if index == 2 else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        print(" | ".join(cells).rstrip())
        if number == 0:
            print(rule)
    print(rule)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server URL (no database)")
    parser.add_argument(
        "--sqlite", action="store_true", help="SQLite for the benchmarks that can use it"
    )
    args = parser.parse_args()
    names = [benchmark.name for benchmark in BENCHMARKS]
    chosen = args.only.split(",") if args.only else names
    unknown = set(chosen) - set(names)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {names}")
    server = args.pg.rstrip("/")
    print(
        f"Benchmarks ({'quick' if args.quick else 'full'} mode), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}, PostgreSQL server {server}"
    )
    rows, failures = [], {}
    for benchmark in BENCHMARKS:
        if benchmark.name in chosen:
            found, error = run(benchmark, args.quick, server, args.sqlite)
            rows += found
            if error:
                failures[benchmark.name] = error
    print_table(rows, failures)
    print(
        f"Load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: on a busy machine "
        "every figure is a lower bound."
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
