"""`bench/run_all.py` still runs a benchmark end to end and prints its table (quick, SQLite)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow  # runs a benchmark
def test_quick_run_prints_the_table_with_numbers():
    done = subprocess.run(
        [sys.executable, "bench/run_all.py", "--quick", "--sqlite", "--only", "save_test"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = done.stdout.split("\n---", 1)[1]
    assert re.search(r"^Benchmark +\| Figure +\| Value \| Unit +\| Target +\| Met$", table, re.M)
    median = re.search(r"save one test with its patient, median +\| +([\d.,]+) \| ms", table)
    assert median and float(median.group(1).replace(",", "")) > 0
    assert "FAILED" not in table


def test_an_unknown_benchmark_name_is_refused():
    done = subprocess.run(
        [sys.executable, "bench/run_all.py", "--only", "nonexistent"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown benchmark(s): nonexistent" in done.stderr
