"""`relais audit verify [--checkpoint FILE] [--anchors FILE]`, `relais audit checkpoint
--out FILE` and `relais audit anchor`."""

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from relais.audit import anchors, chain
from relais.audit.events import record
from relais.env import write_private_file
from relais.lib.clock import database_now


class Command(BaseCommand):
    help = (
        "Verify the audit log's keyed hash chain (against its anchors), export a signed "
        "checkpoint of it, or append an anchor now."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        verify = sub.add_parser("verify", help="check every link of the chain and the anchors")
        verify.add_argument("--checkpoint", help="a checkpoint file the chain must still contain")
        verify.add_argument(
            "--anchors", help="the anchor file to check against (default RELAIS_AUDIT_ANCHOR_FILE)"
        )
        checkpoint = sub.add_parser("checkpoint", help="verify, then write a signed checkpoint")
        checkpoint.add_argument("--out", required=True, help="file to create ('-' for stdout)")
        sub.add_parser("anchor", help="append a signed anchor of the chain's head now")

    def handle(self, *args, subcommand, **options):
        if subcommand == "anchor":
            return self.anchor()
        expected = None
        if subcommand == "verify" and options["checkpoint"]:
            try:
                expected = chain.read_checkpoint(Path(options["checkpoint"]).read_text())
            except (OSError, ValueError) as error:
                raise CommandError(str(error)) from None
        anchor_path = Path(options["anchors"]) if options.get("anchors") else anchors.anchor_file()
        anchored = anchors.read_anchors(anchor_path) if anchor_path else anchors.AnchorFile()
        say = self.stderr if options.get("out") == "-" else self.stdout
        # Chain what is pending first, so the whole log is covered.
        lag = chain.chain_lag()  # the worker's lag, measured before catching up here
        chain.chain_all()
        started = time.monotonic()
        result = chain.verify_chain(expected, anchored.anchors)
        elapsed = time.monotonic() - started
        rate = result.checked / elapsed if elapsed > 0 else 0
        say.write(
            f"{result.checked} event(s) checked in {elapsed:.2f} s ({rate:,.0f} events/s); "
            f"worker lag: {lag.unchained} event(s) were not yet chained"
            + (f" (oldest {lag.oldest_unchained_seconds:.0f} s)" if lag.unchained else "")
        )
        self.report_anchors(say, anchor_path, anchored)
        if anchored.problems:
            raise CommandError("BROKEN anchor file: " + "; ".join(anchored.problems[:5]))
        if not result.ok:
            raise CommandError(f"BROKEN at position {result.broken_at}: {result.reason}")
        if expected is not None:
            say.write(
                f"History up to position {expected['sequence']} matches the checkpoint "
                f"of {expected['database_time']}."
            )
        say.write(f"OK: chain intact up to position {result.last_seq} ({result.last_hash})")
        if subcommand == "checkpoint":
            self.write_checkpoint(result, options["out"])

    def report_anchors(self, say, path: Path | None, anchored: anchors.AnchorFile) -> None:
        if path is None:
            say.write("WARNING: no anchor file (RELAIS_AUDIT_ANCHOR_FILE is off).")
            return
        latest = anchored.latest
        if latest is None:
            say.write(f"WARNING: no anchor yet in {path}: a cut end of the chain would go unseen.")
            return
        age = database_now() - chain.checkpoint_time(latest)
        hours = age.total_seconds() / 3600
        say.write(
            f"{len(anchored.anchors)} anchor(s) in {path}; the latest (position "
            f"{latest['sequence']}) is {hours:.1f} h old."
        )
        if age > 2 * anchors.interval():
            say.write(
                f"WARNING: the latest anchor is older than twice RELAIS_AUDIT_ANCHOR_MINUTES "
                f"({anchors.interval()}): is the worker running?"
            )
        if anchored.torn_lines:
            say.write(
                f"Note: {anchored.torn_lines} line(s) of the anchor file were cut short by a "
                "crash while writing (ignored)."
            )

    def anchor(self):
        path = anchors.anchor_file()
        if path is None:
            raise CommandError("RELAIS_AUDIT_ANCHOR_FILE is off: nowhere to write an anchor.")
        checkpoint = anchors.anchor_now(path)
        self.stdout.write(f"Anchor of position {checkpoint['sequence']} appended to {path}")

    def write_checkpoint(self, result, out: str):
        checkpoint = chain.checkpoint_of(result)
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
