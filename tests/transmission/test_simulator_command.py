"""`relais sidep-simulator`: starts the separate simulator program with the demo's defaults."""

import importlib
import json
import os
import subprocess
import sys

import pytest

from relais.transmission.hl7 import build_oru_r01
from relais.transmission.transport import send_batch
from tests.support.factories import CREATED_AT, sample_test
from tests.support.ports import free_port, wait_for_port
from tests.support.servers import PROJECT_DIR

# The command's file name has a hyphen (it is the command's name), so no import statement.
sidep_simulator_command = importlib.import_module(
    "relais.transmission.management.commands.sidep-simulator"
)


def demo_env(var_dir) -> dict[str, str]:
    return {**os.environ, "RELAIS_DEMO": "1", "RELAIS_VAR_DIR": str(var_dir)}


def test_demo_defaults_are_filled_in_and_given_options_kept(settings):
    argv = sidep_simulator_command.simulator_argv(["--port", "9999", "--db", "/tmp/mine.db"])
    certs = settings.SIDEP_CERTS_DIR
    assert argv[:4] == [sys.executable, "-m", "sidep_simulator", "serve"]
    options = dict(zip(argv[4::2], argv[5::2], strict=True))
    assert options == {
        "--port": "9999",
        "--db": "/tmp/mine.db",
        "--cert": str(certs / "server.crt"),
        "--key": str(certs / "server.key"),
        "--client-ca": str(certs / "ca.crt"),
    }
    assert (certs / "client.key").stat().st_mode & 0o777 == 0o600
    assert sidep_simulator_command.simulator_argv(["count"])[3:] == [
        "count", "--db", str(settings.VAR_DIR / "sidep.sqlite3"),
    ]  # fmt: skip


@pytest.mark.slow  # a server process
def test_relais_sidep_simulator_runs_the_real_server(settings, tmp_path):
    port = free_port()
    env = demo_env(tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-m", "relais", "sidep-simulator", "--port", str(port)],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, server)
        certs = tmp_path / "sidep-certs"
        settings.SIDEP_URL = f"https://127.0.0.1:{port}/hl7/v2/batch"
        settings.SIDEP_CLIENT_CERT = str(certs / "client.crt")
        settings.SIDEP_CLIENT_KEY = str(certs / "client.key")
        settings.SIDEP_CA_FILE = str(certs / "ca.crt")
        message = build_oru_r01(
            sample_test(), message_id="CMD-1", result_status="F", created_at=CREATED_AT
        )
        assert send_batch([message])[0].code == "AA"
    finally:
        server.terminate()
        server.wait(timeout=10)
    counted = subprocess.run(
        [sys.executable, "-m", "relais", "sidep-simulator", "count"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(counted.stdout)["accepted"] == 1
