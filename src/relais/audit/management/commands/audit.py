"""`relais audit verify [--checkpoint FILE]` and `relais audit checkpoint --out FILE`."""

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from relais.audit import chain
from relais.audit.events import record
from relais.env import write_private_file


class Command(BaseCommand):
    help = "Verify the audit log's hash chain, or export a signed checkpoint of it."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        verify = sub.add_parser("verify", help="check every link of the chain")
        verify.add_argument("--checkpoint", help="a checkpoint file the chain must still contain")
        checkpoint = sub.add_parser("checkpoint", help="verify, then write a signed checkpoint")
        checkpoint.add_argument("--out", required=True, help="file to create ('-' for stdout)")

    def handle(self, *args, subcommand, **options):
        expected = None
        if subcommand == "verify" and options["checkpoint"]:
            try:
                expected = chain.read_checkpoint(Path(options["checkpoint"]).read_text())
            except (OSError, ValueError) as error:
                raise CommandError(str(error)) from None
        say = self.stderr if options.get("out") == "-" else self.stdout
        # Chain what is pending first, so the whole log is covered.
        lag = chain.chain_lag()  # the worker's lag, measured before catching up here
        chain.chain_all()
        started = time.monotonic()
        result = chain.verify_chain(expected)
        elapsed = time.monotonic() - started
        rate = result.checked / elapsed if elapsed > 0 else 0
        say.write(
            f"{result.checked} event(s) checked in {elapsed:.2f} s ({rate:,.0f} events/s); "
            f"worker lag: {lag.unchained} event(s) were not yet chained"
            + (f" (oldest {lag.oldest_unchained_seconds:.0f} s)" if lag.unchained else "")
        )
        if not result.ok:
            raise CommandError(f"BROKEN at position {result.broken_at}: {result.reason}")
        if expected is not None:
            say.write(
                f"History up to position {expected['sequence']} matches the checkpoint "
                f"signed at {expected['signed_at']}."
            )
        say.write(f"OK: chain intact up to position {result.last_seq} ({result.last_hash})")
        if subcommand == "checkpoint":
            self.write_checkpoint(result, options["out"])

    def write_checkpoint(self, result, out: str):
        checkpoint = chain.make_checkpoint(result)
        text = json.dumps(checkpoint, indent=1) + "\n"
        record("audit.checkpoint", details={"sequence": checkpoint["sequence"]})
        if out == "-":
            self.stdout.write(text, ending="")
            return
        try:
            write_private_file(Path(out), text)
        except FileExistsError:
            raise CommandError(f"{out} already exists") from None
        self.stdout.write(f"Signed checkpoint written to {out}")
