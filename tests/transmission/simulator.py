"""Running the SI-DEP simulator as a real process for tests (see conftest.py for fixtures)."""

import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from relais.transmission.certs import CertPaths

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT_SECONDS = 15


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the simulator exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {START_TIMEOUT_SECONDS}s")


def simulator_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sidep_simulator", *args]


def run_simulator_command(*args: str) -> str:
    done = subprocess.run(
        simulator_command(*args), capture_output=True, text=True, check=True, cwd=PROJECT_DIR
    )
    return done.stdout


@dataclass
class Simulator:
    """One `python -m sidep_simulator serve` process on 127.0.0.1."""

    certs: CertPaths
    db: Path
    port: int
    args: tuple[str, ...]
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/hl7/v2/batch"

    def start(self) -> "Simulator":
        command = simulator_command(
            "serve", "--port", str(self.port), "--cert", str(self.certs.server_cert),
            "--key", str(self.certs.server_key), "--client-ca", str(self.certs.ca_cert),
            "--db", str(self.db), *self.args,
        )  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_for_port(self.port, self.process)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def counts(self) -> dict[str, int]:
        return json.loads(run_simulator_command("count", "--db", str(self.db)))

    def dump(self) -> str:
        return run_simulator_command("dump", "--db", str(self.db))
