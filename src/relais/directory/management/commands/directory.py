from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from relais.directory.importers import ImportAborted, ImportReport, import_finess, import_rpps

IMPORTERS = {"import-rpps": import_rpps, "import-finess": import_finess}


class Command(BaseCommand):
    help = (
        "Import the public RPPS 'PS_LibreAcces_Personne_activite' extract (import-rpps) or "
        "the FINESS etalab establishments extract (import-finess). A re-import replaces "
        "the previous one; malformed lines are reported and skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=sorted(IMPORTERS))
        parser.add_argument("file", type=Path)

    def handle(self, *args, action, file, **options):
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        try:
            report = IMPORTERS[action](file)
        except ImportAborted as error:
            raise CommandError(f"{file}: {error}. Nothing was changed.") from None
        self.print_report(report)

    def print_report(self, report: ImportReport) -> None:
        for error in report.errors:
            self.stderr.write(f"rejected: {error}")
        if report.error_count > len(report.errors):
            self.stderr.write(
                f"… and {report.error_count - len(report.errors)} more rejected lines"
            )
        self.stdout.write(
            f"{report.kind}: {report.lines_read} lines read, {report.rows_imported} rows imported, "
            f"{report.rows_skipped} skipped, {report.rows_removed} removed, "
            f"{report.rows_closed} closed, {report.error_count} rejected."
        )
