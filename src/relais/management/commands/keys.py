"""`relais keys rotate | status | drop-old` (`relais keys init` runs before settings load).

A project command, not a crypto one: it records each rotation in the audit log, and
crypto imports no other app.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from relais.audit.events import record
from relais.crypto import rotation
from relais.crypto.keyset import key_ids, load_keys, primary_key_id


class Command(BaseCommand):
    help = "Rotate the data keys, show which rows use which key, drop unused old keys."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        rotate = sub.add_parser("rotate", help="add a new primary key and re-encrypt every row")
        rotate.add_argument("--batch-size", type=int, default=rotation.BATCH_SIZE)
        sub.add_parser("status", help="rows per key")
        sub.add_parser("drop-old", help="remove old keys that no row uses any more")

    def handle(self, *args, subcommand, **options):
        getattr(self, subcommand.replace("-", "_"))(**options)

    def rotate(self, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        started = time.monotonic()
        totals = rotation.rotate(batch_size)
        elapsed = time.monotonic() - started
        keys = load_keys()
        self.stdout.write(
            f"New primary keys: AEAD {primary_key_id(keys.aead_handle)}, "
            f"PRF {primary_key_id(keys.prf_handle)}"
        )
        for label, total in totals.items():
            self.stdout.write(f"{label}: {total.rewritten} row(s) rewritten, {total.scanned} read")
        rewritten = sum(t.rewritten for t in totals.values())
        record(
            "keys.rotate",
            details={
                "aead_primary": primary_key_id(keys.aead_handle),
                "prf_primary": primary_key_id(keys.prf_handle),
                "rows_rewritten": rewritten,
            },
        )
        self.stdout.write(
            f"Done in {elapsed:.1f} s ({rewritten / max(elapsed, 1e-9):,.0f} rows/s). "
            "Run `relais keys status`, then `relais keys drop-old`."
        )

    def status(self, **options):
        keys, counts = load_keys(), rotation.usage()
        for name, handle, used in (
            ("AEAD (encrypted fields)", keys.aead_handle, counts.aead),
            ("PRF (blind indexes)", keys.prf_handle, counts.prf),
        ):
            self.stdout.write(name)
            primary = primary_key_id(handle)
            for key_id in key_ids(handle):
                mark = " (primary)" if key_id == primary else ""
                self.stdout.write(f"  key {key_id}{mark}: {used.get(key_id, 0)} value(s)")
            unknown = sum(n for k, n in used.items() if k not in key_ids(handle))
            if unknown:
                self.stdout.write(f"  UNKNOWN key: {unknown} value(s) cannot be read")
        for label, per_column in counts.rows.items():
            self.stdout.write(label)
            for what, count in sorted(per_column.items()):
                self.stdout.write(f"  {what}: {count}")

    def drop_old(self, **options):
        dropped, kept = rotation.drop_unused_keys()
        record("keys.drop_old", details={"dropped": dropped, "kept_in_use": kept})
        for key_id in dropped:
            self.stdout.write(f"Dropped key {key_id}")
        if dropped:
            self.stdout.write(
                "Backups made before the last rotation need the dropped keys: restore them "
                "with the keyset of their time."
            )
        if kept:
            counts = rotation.usage()
            for key_id in kept:
                places = ", ".join(rotation.where_used(counts, key_id))
                self.stdout.write(f"Kept key {key_id}: still used by {places}")
            self.stdout.write(
                "Run `relais keys rotate` to re-encrypt; keyed digests cannot be re-keyed and "
                "go by themselves (" + "; ".join(rotation.digest_expiries()) + ")."
            )
        if not dropped and not kept:
            self.stdout.write("No old key to drop.")
        if kept:
            raise CommandError("some old keys are still in use")
