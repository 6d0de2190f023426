"""`relais demo`: set up and run the whole system on this machine, in demo mode."""

import os
import subprocess
import sys
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from relais.directory import SAMPLES_DIR as DIRECTORY_SAMPLES
from relais.lib.stopping import StopRequest
from relais.transmission.certs import ensure_certs


def processes(port: str) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "web": [
            # The shipped settings: an access log without link tokens or query strings.
            python, "-m", "gunicorn", "-c", "python:relais.gunicorn_config", "relais.wsgi",
            "--bind", f"127.0.0.1:{port}", "--workers", "2", "--no-control-socket",
        ],
        "worker": [python, "-m", "relais", "worker"],
        **simulator_process(python),
    }  # fmt: skip


def simulator_process(python: str) -> dict[str, list[str]]:
    """The SI-DEP simulator, where the demo's RELAIS_SIDEP_URL points (127.0.0.1:8443 by
    default), with certificates made once under var/sidep-certs. A patient whose birth
    name is "Rejet" is refused (AR), to show a rejection and its correction."""
    address = urlsplit(settings.SIDEP_URL)
    if address.hostname not in ("127.0.0.1", "localhost"):
        return {}  # a real SI-DEP (test platform) is configured: nothing to simulate
    certs = ensure_certs(settings.SIDEP_CERTS_DIR)
    return {
        "simulator": [
            python, "-m", "sidep_simulator", "serve", "--port", str(address.port or 443),
            "--cert", str(certs.server_cert), "--key", str(certs.server_key),
            "--client-ca", str(certs.ca_cert), "--db", str(settings.VAR_DIR / "sidep.sqlite3"),
            "--reject-birth-name", "Rejet",
        ],
    }  # fmt: skip


class Command(BaseCommand):
    help = "Demo mode: migrate, create the demo accounts, and run every process."

    def handle(self, *args, **options):
        if not settings.DEMO:
            raise CommandError("`relais demo` runs only in demo mode (RELAIS_DEMO=1).")
        port = os.environ.get("RELAIS_PORT", "8000")
        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command(
            "directory", "import-finess", str(DIRECTORY_SAMPLES / "etalab-finess-demo.csv")
        )
        call_command(
            "directory",
            "import-rpps",
            str(DIRECTORY_SAMPLES / "PS_LibreAcces_Personne_activite_demo.txt"),
        )
        call_command("demo-accounts")
        # Our own fixed command lines, no user input.
        children = {name: subprocess.Popen(argv) for name, argv in processes(port).items()}  # noqa: S603
        self.stdout.write(f"Relais is running at http://127.0.0.1:{port}/ (Ctrl-C to stop)")
        stop = StopRequest()
        try:
            while not stop.requested:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with code {child.returncode}")
                        stop.requested = True
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.terminate()
            for child in children.values():
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
