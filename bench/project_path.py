"""Puts the project root on sys.path. Benchmarks run as `python bench/<name>.py` (so only
bench/ is on the path) and import it first, to use the tests' own factories and process
launchers (tests/support) rather than copies of them."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# For the servers a benchmark starts: this checkout's code (its src/ first, whatever the
# virtualenv installed), and the project root for tests/support.
PYTHONPATH = f"{ROOT / 'src'}:{ROOT}"
