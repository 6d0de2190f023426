"""`relais worker` stops cleanly on SIGTERM and Ctrl-C: it ends its round and exits 0.

A real worker process on a database of its own (SQLite, or a fresh PostgreSQL database
when RELAIS_TEST_DATABASE_URL is set).
"""

import os
import signal
import time

import pytest

from tests.support.drain import Drain

pytestmark = pytest.mark.slow  # a worker process and its own database


@pytest.fixture
def drain(tmp_path):
    run = Drain(tmp_path / "drain", postgres_url=os.environ.get("RELAIS_TEST_DATABASE_URL", ""))
    yield run
    run.close()


def wait_for_output(path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the worker's output")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_worker_cleanly(drain, sig):
    drain.prepare(0)
    worker = drain.start_worker()
    log = drain.workdir / "worker.log"
    wait_for_output(log, "worker started")
    worker.send_signal(sig)
    assert worker.wait(timeout=15) == 0
    assert "worker stopped" in log.read_text()
