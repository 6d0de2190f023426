"""`relais restore FILE`: restore an encrypted backup into an empty database.

The database must be migrated (same release as the backup) and hold no data; the data
keyset (RELAIS_KEYSET_FILE) must be the one in use when the backup was made, since
encrypted fields are restored as the ciphertext they were.
"""

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from relais.audit.events import record
from relais.backup.dump import BackupError, restore_backup


class Command(BaseCommand):
    help = "Restore a backup made by `relais backup` into an empty database."

    def add_arguments(self, parser):
        parser.add_argument("file", help="backup file, or '-' for stdin")

    def handle(self, *args, file, **options):
        started = time.monotonic()
        try:
            if file == "-":
                rows = restore_backup(sys.stdin.buffer)
            else:
                with open(file, "rb") as source:
                    rows = restore_backup(source)
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror}") from None
        except BackupError as error:
            raise CommandError(f"restore refused, nothing written: {error}") from None
        record("backup.restore", details={"rows": rows})
        self.stdout.write(f"Restored {rows} row(s) in {time.monotonic() - started:.1f} s")
