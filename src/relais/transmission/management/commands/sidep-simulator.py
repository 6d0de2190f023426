"""`relais sidep-simulator [serve|dump|count] ...`: runs `python -m sidep_simulator`.

The simulator is a separate program; this is the only place relais refers to it, by
starting it as a process. In demo mode `serve` fills in what it was not given: the
demo certificates under var/sidep-certs/ (created on first use) and var/sidep.sqlite3.
"""

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from relais.transmission.certs import ensure_certs

SUBCOMMANDS = {"serve", "dump", "count"}


def simulator_argv(args: list[str]) -> list[str]:
    if not args or args[0] not in SUBCOMMANDS:
        args = ["serve", *args]
    if settings.DEMO:
        given = {arg.split("=", 1)[0] for arg in args if arg.startswith("--")}
        defaults = {"--db": str(settings.VAR_DIR / "sidep.sqlite3")}
        if args[0] == "serve":
            certs = ensure_certs(settings.SIDEP_CERTS_DIR)
            defaults |= {
                "--cert": str(certs.server_cert),
                "--key": str(certs.server_key),
                "--client-ca": str(certs.ca_cert),
            }
        for option, value in defaults.items():
            if option not in given:
                args += [option, value]
    return [sys.executable, "-m", "sidep_simulator", *args]


class Command(BaseCommand):
    help = "Run the SI-DEP simulator (python -m sidep_simulator); see its --help."

    def run_from_argv(self, argv):
        # Every argument after the command name belongs to the simulator.
        argv = simulator_argv(argv[2:])
        os.execv(argv[0], argv)  # noqa: S606
