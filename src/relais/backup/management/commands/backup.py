"""`relais backup [--out FILE]`: an encrypted backup of the database (stdout by default).

A file is written as FILE.partial, fsynced, then renamed: FILE exists only complete. On
any failure (a full disk, a database error) the partial file is removed and the command
exits non-zero with one line naming the reason.
"""

import sys
import time
from pathlib import Path
from typing import BinaryIO, cast

from django.core.management.base import BaseCommand, CommandError

from relais.audit.events import record
from relais.backup.dump import BackupError, write_backup
from relais.env import private_file_writer

PARTIAL_SUFFIX = ".partial"


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
                final = Path(out)
                partial = final.with_name(final.name + PARTIAL_SUFFIX)
                # 0600, never over an existing file; FILE.partial is removed on failure.
                with private_file_writer(final, binary=True, temporary=partial) as destination:
                    rows = write_backup(cast(BinaryIO, destination))
        except FileExistsError as error:
            raise CommandError(f"{error.filename or out} already exists") from None
        except BackupError as error:
            raise CommandError(str(error)) from None
        except OSError as error:
            raise CommandError(f"backup failed, no file written: {error.strerror}") from None
        record("backup.create", details={"rows": rows, "to": "stdout" if out == "-" else "file"})
        self.stderr.write(f"Backup of {rows} row(s) written in {time.monotonic() - started:.1f} s")
