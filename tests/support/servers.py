"""The processes tests and benchmarks start, each with a readiness wait and a clean stop:
gunicorn serving Relais, the SI-DEP simulator, and the whole demo (`relais demo`)."""

import email
import email.policy
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from relais.transmission.certs import CertPaths
from sidep_simulator.store import Store
from tests.support.ports import free_port, wait_for_port

PROJECT_DIR = Path(__file__).resolve().parents[2]
RELAIS = str(Path(sys.executable).with_name("relais"))
SIMULATOR_START_SECONDS = 15
HEALTH_PATH = "/api/v1/health"


def clean_env(**variables: str) -> dict[str, str]:
    """This process's environment without any Relais or Django setting (the tests' own
    settings must not leak into a process that configures itself), plus `variables`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RELAIS_") and key != "DJANGO_SETTINGS_MODULE"
    }
    return {**env, **variables}


def stop_processes(processes, timeout: float = 15, group: bool = False) -> None:
    """SIGTERM to each running process, then SIGKILL (to its process group when `group`)
    for any still running after `timeout` seconds."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
            process.wait()


def stop_process(process: subprocess.Popen, timeout: float = 15, group: bool = False) -> None:
    stop_processes([process], timeout, group)


def launch(argv, log: Path, ready, env=None, cwd=PROJECT_DIR) -> subprocess.Popen:
    """Starts `argv`, its output appended to `log`, and returns it once `ready(process)`
    returns; if that raises, stops the process first."""
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 (our own command lines)
            argv, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        ready(process)
    except BaseException:
        stop_process(process)
        raise
    return process


def log_tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-3000:] if log and log.exists() else ""


def wait_until_answers(
    url: str,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
    timeout: float = 90,
    headers: dict | None = None,
) -> None:
    """Returns once `url` answers 200; raises RuntimeError (with the end of `log`) if
    `process` exits first or `url` does not answer within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[:4]} exited early:\n{log_tail(log)}")
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s:\n{log_tail(log)}")


# --- gunicorn serving Relais --------------------------------------------------------------


def gunicorn_command(port: int, workers: int, threads: int = 1) -> list[str]:
    """gunicorn serving relais.wsgi on 127.0.0.1:`port`, threaded when `threads` > 1."""
    argv = [sys.executable, "-m", "gunicorn", "relais.wsgi", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--no-control-socket"]  # fmt: skip
    if threads > 1:
        argv += ["--threads", str(threads), "--worker-class", "gthread"]
    return argv


@dataclass
class WebServer:
    """One gunicorn master (`argv`, serving on 127.0.0.1:`port`), its output in `log`."""

    argv: list[str]
    port: int
    env: dict
    cwd: Path
    log: Path
    # Headers of the readiness request (behind a TLS proxy: X-Forwarded-Proto).
    ready_headers: dict | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self, timeout: float = 90) -> "WebServer":
        def answers(process):
            wait_until_answers(
                self.url + HEALTH_PATH, process, self.log, timeout, self.ready_headers
            )

        self.process = launch(self.argv, self.log, answers, self.env, self.cwd)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=20)


def start_gunicorn(env: dict, log: Path, workers: int, threads: int = 1, cwd=PROJECT_DIR):
    """A WebServer on a free port, started and answering."""
    port = free_port()
    argv = gunicorn_command(port, workers, threads)
    return WebServer(argv, port, env, Path(cwd), Path(log)).start()


# --- the SI-DEP simulator -----------------------------------------------------------------


def simulator_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sidep_simulator", *args]


def run_simulator_command(*args: str) -> str:
    done = subprocess.run(  # noqa: S603 (our own command line)
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
        self.process = launch(
            command,
            self.log,
            lambda process: wait_for_port(self.port, process, SIMULATOR_START_SECONDS),
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=10)
        self.process = None

    def counts(self) -> dict[str, int]:
        # What `sidep_simulator count` prints, read in this process (no interpreter start).
        with Store(self.db) as store:
            return store.counts()

    def dump(self) -> str:
        return run_simulator_command("dump", "--db", str(self.db))

    def statuses_by_order(self) -> dict[str, list[str]]:
        """What SI-DEP holds per result: the OBX-11 status (F, C, D) of each message it
        stored, in the order received, by order number (OBR-2: hl7.order_id of the test)."""
        held: dict[str, list[str]] = {}
        # Read in this process (no interpreter start, no hl7apy import, as `dump` costs).
        with Store(self.db) as store:
            accepted = store.messages()
        for _message_id, _received_at, body in accepted:
            segments = {segment.split("|")[0]: segment.split("|") for segment in body.split("\r")}
            order = segments["OBR"][2].split("^")[0]
            held.setdefault(order, []).append(segments["OBX"][11])
        return held


def client_context(trusted_ca, cert=None, key=None) -> ssl.SSLContext:
    """A TLS client context trusting `trusted_ca`, presenting `cert` and `key` if given."""
    context = ssl.create_default_context(cafile=str(trusted_ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def start_simulator(certs: CertPaths, db: Path, log: Path, args=(), port: int | None = None):
    """A started simulator on `port`, or on a free port: one can be taken by someone else
    before the simulator binds it, so a free port is tried up to three times."""
    attempts = 1 if port else 3
    for attempt in range(1, attempts + 1):
        simulator = Simulator(certs, db, port or free_port(), tuple(args), log)
        try:
            return simulator.start()
        except RuntimeError:
            if attempt == attempts:
                raise


# --- the whole demo: `relais demo` (gunicorn, worker, simulator) ----------------------------

DEMO_START_SECONDS = 90
# The file e-mail backend separates the messages of one file with this line.
MAIL_SEPARATOR = "\n" + "-" * 79 + "\n"


@dataclass
class RelaisStack:
    """A running `relais demo`: its URL, var dir, log, and the demo accounts."""

    url: str
    var_dir: Path
    log: Path
    accounts: dict

    def account(self, role: str) -> dict:
        return self.accounts[role]

    def mails(self) -> list[email.message.EmailMessage]:
        messages = []
        for path in sorted((self.var_dir / "mail").glob("*.log")):
            for chunk in path.read_text().split(MAIL_SEPARATOR):
                if chunk.strip():
                    messages.append(email.message_from_string(chunk, policy=email.policy.default))
        return messages

    def wait_for_mail(self, to: str, link_pattern: str, nth: int = 1, timeout=30.0) -> str:
        """The link matching `link_pattern` in the `nth` such e-mail sent to `to`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            links = []
            for message in self.mails():
                if to in message["To"]:
                    found = re.search(link_pattern, message.get_body(("plain",)).get_content())
                    links += [found.group(0)] if found else []
            if len(links) >= nth:
                return links[nth - 1]
            time.sleep(0.2)
        raise AssertionError(f"no e-mail #{nth} to {to} with {link_pattern!r} in {timeout}s")


@contextmanager
def relais_demo(var_dir: Path, database_url: str = ""):
    """Runs `relais demo` (web, worker and simulator on free ports) with its own var dir,
    on SQLite there or on `database_url`; yields a RelaisStack once the web answers."""
    port = free_port()
    env = clean_env(
        RELAIS_DEMO="1",
        RELAIS_VAR_DIR=str(var_dir),
        RELAIS_PORT=str(port),
        RELAIS_SIDEP_URL=f"https://127.0.0.1:{free_port()}/hl7/v2/batch",
        PYTHONUNBUFFERED="1",
    )
    if database_url:
        env["RELAIS_DATABASE_URL"] = database_url
    log = var_dir / "demo.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        # Its own session, so that a stuck child can be killed with it.
        process = subprocess.Popen(  # noqa: S603 (our own command line)
            [sys.executable, "-m", "relais", "demo"], env=env, cwd=var_dir, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_until_answers(f"{url}/accounts/login/", process, log, DEMO_START_SECONDS)
        content = json.loads((var_dir / "demo-accounts.json").read_text())
        accounts = {account["role"]: account for account in content["accounts"]}
        yield RelaisStack(url=url, var_dir=var_dir, log=log, accounts=accounts)
    finally:
        # `relais demo` stops its own children (web, worker, simulator) on SIGTERM.
        stop_process(process, timeout=20, group=True)
