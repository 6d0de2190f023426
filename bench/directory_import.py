"""Import speed and peak memory of `relais directory import-rpps`.

Generates an RPPS extract of N lines in the real format, then runs the import in a
subprocess (a fresh SQLite database, or RELAIS_DATABASE_URL if set) and reports rows per
second and the subprocess's peak resident memory (getrusage maxrss).
    python bench/directory_import.py            # 1,000,000 lines
    python bench/directory_import.py --short    # 20,000 lines
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generate_rpps import generate

RELAIS = Path(sys.executable).parent / "relais"


def main() -> None:
    lines = 20_000 if "--short" in sys.argv else 1_000_000
    with tempfile.TemporaryDirectory(prefix="relais-bench-") as workdir:
        extract = Path(workdir) / "PS_LibreAcces_Personne_activite.txt"
        with open(extract, "w", encoding="utf-8") as handle:
            generate(lines, handle)
        env = {**os.environ, "RELAIS_DEMO": "1", "RELAIS_VAR_DIR": workdir}
        subprocess.run([RELAIS, "migrate", "-v", "0"], env=env, check=True)
        started = time.perf_counter()
        child = subprocess.Popen([RELAIS, "directory", "import-rpps", str(extract)], env=env)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak, not migrate's
        elapsed = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit("the import failed")
        peak_kib = usage.ru_maxrss
        database = "PostgreSQL" if os.environ.get("RELAIS_DATABASE_URL") else "SQLite"
        size_mb = extract.stat().st_size / 1e6
        print(f"RPPS import: {lines} lines ({size_mb:.0f} MB) into {database}")
        print(f"  {elapsed:.1f} s, {lines / elapsed:,.0f} rows/s (process start included)")
        print(f"  peak memory (max RSS of the import process): {peak_kib / 1024:.0f} MiB")
        if "--json" in sys.argv:
            result = {"database": database, "lines": lines, "rows_per_s": lines / elapsed}
            print("RESULT " + json.dumps({**result, "peak_mib": peak_kib / 1024}))


if __name__ == "__main__":
    main()
