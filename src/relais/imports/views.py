"""CSV import pages: upload (the worker checks the file), follow the check, review the
errors, confirm the import (the worker imports the valid rows) and follow it."""

import csv
import datetime

from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from relais.accounts.http import PharmacyRequest
from relais.accounts.permissions import pharmacy_permission_required
from relais.audit.events import record
from relais.imports import bulk_import
from relais.imports.forms import UploadForm
from relais.imports.models import ImportBatch
from relais.screening import catalogue

SHOWN_ERRORS = 200
SHOWN_ROWS = 200  # of the rows to import, shown before the import (the count says how many)
# The error report's columns (the stored items' order) and their headings.
REPORT_FIELDS = ("line", "column", "value", "reason", "code")
REPORT_HEADINGS = (
    gettext_lazy("line"),
    gettext_lazy("column"),
    gettext_lazy("value"),
    gettext_lazy("reason"),
    gettext_lazy("code"),
)


def live_batch_or_404(request, batch_id) -> ImportBatch:
    """The user's own batch of this pharmacy, not expired: batches hold rows they read."""
    batch = ImportBatch.objects.get_for_pharmacy_or_404(request.pharmacy, pk=batch_id)
    if batch.user_id != request.user.pk or batch.expires_at <= timezone.now():
        raise Http404
    return batch


@never_cache
@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("test.record")
def upload(request: PharmacyRequest):
    """Stores the file and queues its check: the worker reads the rows, never this
    request (the review page shows its progress)."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            batch = bulk_import.queue_file(
                form.cleaned_data["file"], request.pharmacy, request.user, request
            )
        except bulk_import.FileError as error:
            form.add_error("file", error.message)
            record("import.refuse", request=request, details={"reason": error.code})
        else:
            record("import.upload", request=request, target=batch, details={"bytes": batch.size})
            return redirect("imports:review", batch_id=batch.pk)
    context = {"form": form, "columns": bulk_import.COLUMNS}
    return render(request, "imports/import_upload.html", context)


# How often the review page of a file being checked or imported reloads without script.
REFRESH_SECONDS = 5


@never_cache
@require_http_methods(["GET", "POST"])
@pharmacy_permission_required("test.record")
def review(request: PharmacyRequest, batch_id):
    batch = live_batch_or_404(request, batch_id)
    if request.method == "POST":
        return confirm(request, batch) if "import" in request.POST else discard(request, batch)
    errors: list[dict] = []
    rows: list[dict] = []
    if batch.state == ImportBatch.State.CHECKED:
        for item in bulk_import.error_rows(batch):
            if len(errors) == SHOWN_ERRORS:
                break
            errors.append(dict(zip(REPORT_FIELDS, item, strict=True)))
        record("import.view_errors", request=request, target=batch, details={"shown": len(errors)})
        for row in bulk_import.valid_rows(batch):
            if len(rows) == SHOWN_ROWS:
                break
            rows.append(shown_row(row["line"], row["cells"]))
        if rows:
            # The rows name patients: which lines were read is recorded, as for a list.
            details = {"shown": len(rows), "lines": [row["line"] for row in rows]}
            record("import.view_rows", request=request, target=batch, details=details)
    context = {
        "batch": batch,
        "progress": progress_of(batch),
        "refresh_seconds": REFRESH_SECONDS,
        "errors": errors,
        "more_errors": batch.error_count > len(errors),
        "rows": rows,
        "more_rows": batch.valid_count > len(rows),
    }
    return render(request, "imports/import_review.html", context)


def progress_of(batch: ImportBatch) -> dict:
    """Where the worker is with a batch: its pass ("check" or "import", or "" when none
    is under way or waiting), done and total (bytes checked, then rows imported)."""
    state = ImportBatch.State
    if batch.state in (state.QUEUED, state.CHECKING):
        phase, total = "check", batch.size
    elif batch.state in (state.IMPORT_QUEUED, state.IMPORTING):
        phase, total = "import", batch.valid_count
    else:
        phase, total = "", 0
    done = min(batch.progress, total)
    return {
        "phase": phase,
        "state": batch.state,
        "done": done,
        "total": total,
        "percent": done * 100 // total if total else 0,
    }


@never_cache
@require_GET
@pharmacy_permission_required("test.record")
def progress(request: PharmacyRequest, batch_id):
    """The review page's progress, as JSON (counts only: no patient data)."""
    return JsonResponse(progress_of(live_batch_or_404(request, batch_id)))


def shown_row(line: int, cells: dict) -> dict:
    """A valid row as the review page shows it (the labels of the catalogue's codes)."""
    kind = catalogue.TEST_KINDS.get(cells.get("kind", ""))
    result = catalogue.RESULTS.get(cells.get("result", ""))
    return {
        "line": line,
        "birth_name": cells.get("birth_name", ""),
        "used_name": cells.get("used_name", ""),
        "given_names": cells.get("given_names", ""),
        "birth_date": as_read(cells.get("birth_date", ""), datetime.date),
        "kind": kind.label if kind else cells.get("kind", ""),
        "sampled_at": as_read(cells.get("sampled_at", ""), datetime.datetime),
        "result": result.label if result else cells.get("result", ""),
    }


def as_read(cell: str, kind: type[datetime.date]):
    """A date or time cell as the import reads it (French or ISO), or the text itself."""
    try:
        return kind.fromisoformat(bulk_import.french_to_iso(cell))
    except ValueError:
        return cell


def confirm(request, batch):
    """Queues the import of the checked rows: the worker imports them (the review page
    shows its progress, then its outcome)."""
    try:
        batch = bulk_import.queue_import(batch.pk, request.pharmacy)
    except bulk_import.AlreadyImported:
        messages.warning(request, _("This file is already imported, or being imported."))
        return redirect("imports:review", batch_id=batch.pk)
    except ImportBatch.DoesNotExist:
        raise Http404 from None
    record("import.request", request=request, target=batch, details={"rows": batch.valid_count})
    messages.success(
        request,
        _(
            "The import of %(count)d rows has started: they are imported all together, or "
            "none of them. This page shows when it is done."
        )
        % {"count": batch.valid_count},
    )
    return redirect("imports:review", batch_id=batch.pk)


def discard(request, batch):
    if batch.state in (ImportBatch.State.IMPORT_QUEUED, ImportBatch.State.IMPORTING):
        messages.warning(request, _("The file is being imported: it can no longer be discarded."))
        return redirect("imports:review", batch_id=batch.pk)
    record("import.discard", request=request, target=batch)
    batch.delete()
    messages.success(request, _("The file was discarded; nothing was imported."))
    return redirect("imports:upload")


class Echo:
    def write(self, value):
        return value


def spreadsheet_safe(cell: str) -> str:
    """The report echoes what the file held: a cell a spreadsheet would run as a formula
    (=, +, -, @, tab, carriage return first) is sent quoted, as text."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


@require_GET
@pharmacy_permission_required("test.record")
def error_report(request: PharmacyRequest, batch_id):
    """The full error report as CSV, streamed from the encrypted rows, never stored."""
    batch = live_batch_or_404(request, batch_id)
    record("import.download_errors", request=request, target=batch)
    writer = csv.writer(Echo(), delimiter=";")

    def lines():
        yield "\ufeff" + writer.writerow([str(heading) for heading in REPORT_HEADINGS])
        for item in bulk_import.error_rows(batch):
            yield writer.writerow([spreadsheet_safe(str(cell)) for cell in item])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="relais-import-errors.csv"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@pharmacy_permission_required("test.record")
def template_csv(request: PharmacyRequest):
    """The column header and one example row: a fictitious patient whose row would pass the
    checks, recognised and refused by the import (bulk_import.EXAMPLE_ROW)."""
    sampled_at = timezone.localtime() - datetime.timedelta(hours=1)
    example = {name: "" for name in bulk_import.COLUMNS} | bulk_import.EXAMPLE_ROW
    example["sampled_at"] = sampled_at.strftime("%d/%m/%Y %H:%M")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="relais-import-template.csv"'
    response.write("\ufeff")
    writer = csv.writer(response, delimiter=";")
    writer.writerow(bulk_import.COLUMNS)
    writer.writerow([example[column] for column in bulk_import.COLUMNS])
    return response
