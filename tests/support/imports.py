"""The worker's import jobs, run in the test's own process, on the test database."""

from relais.imports.bulk_import import check_next, import_next


def work_imports() -> int:
    """Runs the import jobs until none has anything left (checks, then imports);
    returns how many batches they handled."""
    handled = 0
    while done := check_next() + import_next():
        handled += done
    return handled
