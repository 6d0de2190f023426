"""Compare two checkouts with one benchmark, runs alternating (A, B, A, B...), so both
see the same machine load; prints each figure's median over the runs, side by side.

    python bench/interleave.py --before /tmp/relais-before --after . --rounds 3 \\
        cost_per_result.py --count 200

Each checkout runs its own bench/<script> with its own .venv (or this Python when it has
none) and its own src/ first on the path, with --json; every number in its RESULT line
is compared. For a database benchmark, set RELAIS_DATABASE_URL to a scratch database:
each run empties it first.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path


def flatten(result: dict, prefix: str = "") -> dict[str, float]:
    figures = {}
    for key, value in result.items():
        if isinstance(value, dict):
            figures.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            figures[prefix + key] = value
    return figures


def run(checkout: Path, script: str, args: list[str]) -> dict[str, float]:
    python = checkout / ".venv" / "bin" / "python"
    command = [str(python if python.exists() else sys.executable), script, *args, "--json"]
    # The checkout's own src/ first: an editable install would import another one's.
    env = {**os.environ, "PYTHONPATH": str(checkout / "src")}
    done = subprocess.run(command, cwd=checkout / "bench", env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"{checkout}: {script} failed\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return flatten(json.loads(lines[-1][len("RESULT ") :]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for round_number in range(1, options.rounds + 1):
        for label in ("before", "after"):
            checkout = getattr(options, label)
            runs[label].append(run(checkout.resolve(), options.script, options.args))
            print(f"round {round_number}: {label} done", flush=True)
    print(f"\n{options.script} {' '.join(options.args)}: medians of {options.rounds} runs each")
    print(f"  {'figure':<34} {'before':>10} {'after':>10} {'change':>8}")
    for name in runs["after"][0]:
        if name not in runs["before"][0]:
            continue
        before = statistics.median(run[name] for run in runs["before"])
        after = statistics.median(run[name] for run in runs["after"])
        change = f"{(after / before - 1) * 100:+.0f} %" if before else "—"
        print(f"  {name:<34} {before:10.2f} {after:10.2f} {change:>8}")


if __name__ == "__main__":
    main()
