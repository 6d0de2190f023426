"""`relais backup [--out FILE]`: an encrypted backup of the database (stdout by default)."""

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from relais.audit.events import record
from relais.backup.dump import BackupError, write_backup
from relais.env import write_private_file


class Command(BaseCommand):
    help = "Write an encrypted, integrity-protected backup (key: RELAIS_BACKUP_KEY_FILE)."

    def add_arguments(self, parser):
        parser.add_argument("--out", default="-", help="file to create, or '-' for stdout")

    def handle(self, *args, out, **options):
        started = time.monotonic()
        try:
            if out == "-":
                if sys.stdout.isatty():
                    raise CommandError("refusing to write a backup to a terminal: use --out")
                rows = write_backup(sys.stdout.buffer)
            else:
                write_private_file(Path(out), "")  # 0600, and never over an existing file
                with open(out, "wb") as destination:
                    rows = write_backup(destination)
        except FileExistsError:
            raise CommandError(f"{out} already exists") from None
        except BackupError as error:
            raise CommandError(str(error)) from None
        record("backup.create", details={"rows": rows, "to": "stdout" if out == "-" else "file"})
        self.stderr.write(f"Backup of {rows} row(s) written in {time.monotonic() - started:.1f} s")
