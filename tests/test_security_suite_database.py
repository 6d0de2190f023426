"""The attack suite (tests/security) runs on PostgreSQL. Without RELAIS_TEST_DATABASE_URL it
may skip when no server answers on 127.0.0.1:5432; with it, the run asked for PostgreSQL,
so an unreachable server fails the suite instead of passing it silently."""

import os
import subprocess
import sys

import pytest

from tests.support.ports import free_port
from tests.support.servers import PROJECT_DIR

pytestmark = pytest.mark.slow


def test_an_unreachable_database_fails_the_attack_suite_when_one_was_asked_for():
    # A port nothing listens on, and a password that must not be echoed.
    url = f"postgres://postgres:Wr0ngHorse@127.0.0.1:{free_port()}/relais"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "tests/security/test_csrf.py"],
        cwd=PROJECT_DIR,
        env={**os.environ, "RELAIS_TEST_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert "RELAIS_TEST_DATABASE_URL is set but its PostgreSQL server cannot be reached" in output
    assert "skipped" not in output and " passed" not in output, output[-3000:]
    assert "Wr0ngHorse" not in output
