"""`relais purge`: erase identifying data past RELAIS_RETENTION_DAYS (the worker runs it daily)."""

from django.core.management.base import BaseCommand, CommandError

from relais.screening.retention import purge


class Command(BaseCommand):
    help = "Erase the identity of patients whose tests are all past the retention period."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="report, change nothing")

    def handle(self, *args, dry_run, **options):
        try:
            report = purge(dry_run=dry_run)
        except ValueError as error:
            raise CommandError(str(error)) from None
        verb = "would be erased" if dry_run else "erased"
        self.stdout.write(
            f"Tests sampled before {report.cutoff.isoformat()} are past retention. "
            f"{len(report.erased_patient_ids)} patient identit(y/ies) {verb}; "
            f"{report.deidentified_tests} test(s) kept de-identified for statistics."
        )
        unsent = report.kept_unsent_test_ids
        if unsent:
            self.stdout.write(
                f"WARNING: {len(unsent)} result(s) past retention are not acknowledged by "
                "SI-DEP; their patients are kept until they are:"
            )
            for test_id in unsent:
                self.stdout.write(f"  test {test_id}")
