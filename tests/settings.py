"""Test settings: the real settings, in demo mode, with a throwaway var/ directory.

`make test` runs on SQLite, or on PostgreSQL when RELAIS_TEST_DATABASE_URL is set.
"""

import os
import tempfile

os.environ["RELAIS_DEMO"] = "1"
os.environ.setdefault("RELAIS_VAR_DIR", tempfile.mkdtemp(prefix="relais-test-"))
os.environ["RELAIS_HTTPS"] = "0"
# Each test's database changes are rolled back, a file's are not: an anchor one test's
# worker round appended would not match the next test's chain. Tests of anchors point
# the setting at a file of their own (tests/audit/test_anchors.py).
os.environ["RELAIS_AUDIT_ANCHOR_FILE"] = ""
if os.environ.get("RELAIS_TEST_DATABASE_URL"):
    os.environ["RELAIS_DATABASE_URL"] = os.environ["RELAIS_TEST_DATABASE_URL"]
else:
    os.environ.pop("RELAIS_DATABASE_URL", None)

from relais.settings import *  # noqa: E402, F403

# Argon2 is checked by its own test (tests/accounts/test_passwords.py); elsewhere a fast
# hasher keeps the suite quick.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 (whitenoise warns when it is missing)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not memory, so tests can read what really lands on disk.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405
