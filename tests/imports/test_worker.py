"""The CSV import runs in the worker: the web request stores the file and queues it, the
worker's jobs check it and import it (claimed under a lease, taken again after a crash),
and the review page follows their progress."""

import datetime
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.urls import reverse

from relais.audit.models import AuditEvent
from relais.imports import bulk_import
from relais.imports.models import ImportBatch, ImportChunk
from relais.patient_access.models import Notification, ResultLink
from relais.screening import submissions
from relais.screening.models import Patient, ScreeningTest
from relais.transmission.models import Transmission
from tests.imports.test_duplicates import NOW, codes, stored
from tests.support.factories import log_in, make_member
from tests.support.fictitious import csv_row, csv_text
from tests.support.imports import work_imports

pytestmark = pytest.mark.django_db

State = ImportBatch.State


def post_file(client, text: str):
    upload = SimpleUploadedFile("results.csv", text.encode(), content_type="text/csv")
    return client.post(reverse("imports:upload"), {"file": upload})


def progress_url(batch) -> str:
    return reverse("imports:progress", args=[batch.pk])


class Killed(BaseException):
    """The worker process dies here: no handler of the job runs (a BaseException, as
    SIGKILL would leave no chance to any)."""


def lease_passes() -> None:
    """What time does to a dead worker's claims."""
    past = bulk_import.database_now() - datetime.timedelta(seconds=1)
    ImportBatch.objects.update(claimed_until=past)


def test_the_upload_returns_at_once_and_the_worker_checks_the_file(
    pharmacist_client, pharmacist, monkeypatch
):
    checked_blocks = []
    check_block = bulk_import.check_block
    monkeypatch.setattr(
        bulk_import, "check_block", lambda *a: checked_blocks.append(1) or check_block(*a)
    )
    rows = [csv_row(1), csv_row(2, nir="12"), csv_row(3)]
    response = post_file(pharmacist_client, csv_text(rows))
    assert response.status_code == 302
    batch = ImportBatch.objects.get()
    # The request stored the file, encrypted, and read no row.
    assert checked_blocks == []
    assert (batch.state, batch.row_count) == (State.QUEUED, 0)
    stored = ImportChunk.objects.filter(batch=batch)
    assert {chunk.kind for chunk in stored} == {ImportChunk.Kind.UPLOAD}
    assert all(rows[0]["birth_name"].encode() not in bytes(c.content) for c in stored)
    assert AuditEvent.objects.filter(action="import.upload", actor_id=pharmacist.pk).exists()
    # The page says the file waits, with a bar that works without script too.
    page = pharmacist_client.get(response["Location"]).content.decode()
    assert "<progress" in page and 'aria-live="polite"' in page and 'for="import-progress"' in page
    assert 'http-equiv="refresh"' in page and progress_url(batch) in page
    progress = pharmacist_client.get(progress_url(batch)).json()
    assert progress == {"phase": "check", "state": "queued", "done": 0,
                        "total": batch.size, "percent": 0}  # fmt: skip

    assert work_imports() == 1
    batch.refresh_from_db()
    assert checked_blocks == [1]
    assert (batch.state, batch.row_count, batch.valid_count, batch.error_count) == (
        State.CHECKED, 3, 2, 1,
    )  # fmt: skip
    assert not stored.filter(kind=ImportChunk.Kind.UPLOAD).exists()  # kept until checked
    event = AuditEvent.objects.get(action="import.check")
    assert event.actor_id == pharmacist.pk and event.details["valid"] == 2
    assert pharmacist_client.get(progress_url(batch)).json()["phase"] == ""
    page = pharmacist_client.get(response["Location"]).content.decode()
    assert "<progress" not in page and 'name="import"' in page

    # Confirming queues the import, and the worker does it.
    pharmacist_client.post(response["Location"], {"import": "1"})
    batch.refresh_from_db()
    assert batch.state == State.IMPORT_QUEUED and ScreeningTest.objects.count() == 0
    assert pharmacist_client.get(progress_url(batch)).json()["phase"] == "import"
    assert "<progress" in pharmacist_client.get(response["Location"]).content.decode()
    assert work_imports() == 1
    batch.refresh_from_db()
    assert (batch.state, batch.imported_count) == (State.IMPORTED, 2)
    assert ScreeningTest.objects.count() == Transmission.objects.count() == 2
    assert AuditEvent.objects.get(action="import.confirm").actor_id == pharmacist.pk


def test_the_progress_of_another_pharmacys_or_colleagues_batch_is_not_found(
    pharmacist_client, client, other_pharmacist, pharmacy
):
    post_file(pharmacist_client, csv_text([csv_row(1)]))
    batch = ImportBatch.objects.get()
    assert pharmacist_client.get(progress_url(batch)).status_code == 200
    pharmacist_client.logout()
    assert log_in(client, other_pharmacist).get(progress_url(batch)).status_code == 404
    client.logout()
    colleague = make_member(pharmacy, "colleague@example.org")
    assert log_in(client, colleague).get(progress_url(batch)).status_code == 404
    missing = reverse("imports:progress", args=[uuid.uuid4()])
    assert client.get(missing).status_code == 404


def test_a_check_whose_worker_died_is_resumed_by_another_complete_and_once(
    pharmacist_client, monkeypatch
):
    monkeypatch.setattr(bulk_import, "IMPORT_BLOCK", 2)
    monkeypatch.setattr(bulk_import, "CHUNK_BYTES", 200)  # a chunk every row or so
    rows = [csv_row(n) for n in range(1, 8)] + [csv_row(8, sex="Z"), csv_row(9)]
    post_file(pharmacist_client, csv_text(rows))
    write_block, written = bulk_import.write_block, []

    def dies_after_two_blocks(*args):
        if len(written) == 2:
            raise Killed
        written.append(1)
        write_block(*args)

    monkeypatch.setattr(bulk_import, "write_block", dies_after_two_blocks)
    with pytest.raises(Killed):
        bulk_import.check_next()
    batch = ImportBatch.objects.get()
    first_token = batch.claim_token
    assert batch.state == State.CHECKING and batch.row_count == 4  # two blocks written
    assert ImportChunk.objects.filter(kind=ImportChunk.Kind.VALID).exists()
    monkeypatch.setattr(bulk_import, "write_block", write_block)
    assert work_imports() == 0  # the dead worker's lease holds the batch for a while

    lease_passes()
    assert work_imports() == 1
    batch.refresh_from_db()
    assert (batch.state, batch.attempts) == (State.CHECKED, 2)
    assert (batch.row_count, batch.valid_count, batch.error_count) == (9, 8, 1)
    lines = [row["line"] for row in bulk_import.valid_rows(batch)]
    assert lines == [2, 3, 4, 5, 6, 7, 8, 10]  # every valid row, once, in order
    assert [error[0] for error in bulk_import.error_rows(batch)] == [9]
    # The first worker, were it only slow, could write nothing more.
    with pytest.raises(bulk_import.LeaseLost):
        bulk_import.hold(batch, first_token, State.CHECKING, progress=1)


def test_an_import_whose_worker_died_is_resumed_and_saves_every_test_once(
    pharmacist_client, monkeypatch
):
    monkeypatch.setattr(bulk_import, "IMPORT_BLOCK", 2)
    review = post_file(pharmacist_client, csv_text([csv_row(n) for n in range(1, 6)]))
    work_imports()
    pharmacist_client.post(review["Location"], {"import": "1"})
    import_block, blocks = bulk_import.import_block, []

    def dies_in_the_second_block(*args):
        if len(blocks) == 1:
            raise Killed
        blocks.append(1)
        return import_block(*args)

    monkeypatch.setattr(bulk_import, "import_block", dies_in_the_second_block)
    with pytest.raises(Killed):
        bulk_import.import_next()
    assert ScreeningTest.objects.count() == 0  # one transaction: nothing half-imported
    assert ImportBatch.objects.get().state == State.IMPORTING
    monkeypatch.setattr(bulk_import, "import_block", import_block)
    lease_passes()
    assert work_imports() == 1
    batch = ImportBatch.objects.get()
    assert (batch.state, batch.imported_count, batch.attempts) == (State.IMPORTED, 5, 2)
    assert ScreeningTest.objects.count() == Patient.objects.count() == 5
    assert Transmission.objects.count() == ResultLink.objects.count() == 5


def test_a_worker_that_stops_every_time_leaves_the_batch_failed(pharmacist_client, monkeypatch):
    review = post_file(pharmacist_client, csv_text([csv_row(1)]))["Location"]

    def broken(*args):
        raise RuntimeError("no personal data here")

    monkeypatch.setattr(bulk_import, "check_block", broken)
    for _ in range(bulk_import.MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            bulk_import.check_next()
        ImportBatch.objects.update(next_attempt_at=bulk_import.database_now())
    batch = ImportBatch.objects.get()
    assert (batch.state, batch.last_error) == (State.FAILED, ImportBatch.Error.FAILED)
    page = pharmacist_client.get(review).content.decode()
    assert 'name="discard"' in page and 'name="import"' not in page


def test_malformed_rows_are_reported_by_the_worker_with_line_column_value_reason(
    pharmacist_client,
):
    rows = [csv_row(1), csv_row(2, nir="123"), csv_row(3, symptoms="peut-être"), csv_row(4)]
    text = csv_text(rows) + "only;three;cells\r\n"
    review = post_file(pharmacist_client, text)["Location"]
    work_imports()
    errors = pharmacist_client.get(review).context["errors"]
    found = {(e["line"], e["column"], e["value"], e["code"]) for e in errors}
    assert found == {
        (3, "nir", "123", "nir_format"),
        (4, "symptoms", "peut-être", "yes_no"),
        (6, "", "", "columns"),
    }
    assert all(error["reason"] for error in errors)


def test_a_file_the_csv_reader_gives_up_on_imports_nothing_and_names_the_line(
    pharmacist_client,
):
    text = csv_text([csv_row(1), csv_row(2, address="x" * 200_000), csv_row(3)])
    review = post_file(pharmacist_client, text)["Location"]
    work_imports()
    batch = ImportBatch.objects.get()
    assert batch.state == State.CHECKED and batch.valid_count == 0
    [error] = list(bulk_import.error_rows(batch))
    assert (error[0], error[4]) == (3, "malformed")
    assert 'name="import"' not in pharmacist_client.get(review).content.decode()


def test_a_header_the_csv_reader_gives_up_on_is_refused_on_the_form(pharmacist_client):
    header = csv_text([]).splitlines()[0]
    response = post_file(pharmacist_client, f"{header};{'B' * 200_000}\r\nx\r\n")
    assert response.status_code == 200 and response.context["form"].errors["file"]
    assert not ImportBatch.objects.exists()


def test_the_site_answers_while_the_worker_checks_a_file(pharmacist_client, monkeypatch):
    """A page and the progress are served while the worker is in the middle of a file,
    and neither request does any of the work."""
    monkeypatch.setattr(bulk_import, "IMPORT_BLOCK", 2)
    review = post_file(pharmacist_client, csv_text([csv_row(n) for n in range(1, 6)]))
    batch = ImportBatch.objects.get()
    check_block, served = bulk_import.check_block, []

    def check_block_serving_requests(caller, block):
        if len(served) == 1:  # the worker is in its second block
            calls = len(served)
            page = pharmacist_client.get(review["Location"])
            progress = pharmacist_client.get(progress_url(batch)).json()
            day = pharmacist_client.get(reverse("screening:day"))
            assert len(served) == calls  # no request checked a block
            served.append((page.status_code, progress["state"], progress["done"], day.status_code))
        else:
            served.append(None)
        return check_block(caller, block)

    monkeypatch.setattr(bulk_import, "check_block", check_block_serving_requests)
    work_imports()
    [_, during, _] = served
    assert during[0] == 200 and during[1] == "checking" and during[3] == 200
    assert ImportBatch.objects.get().state == State.CHECKED


# --- The worker's import records what the single-test submission records ---------------------

SKIPPED = (models.AutoField, models.UUIDField, models.ForeignKey, models.DateTimeField)
KEPT_TIMES = {"sampled_at"}


def values(row: models.Model, *leave_out: str) -> dict:
    """A row's values as the model reads them (decrypted), without its ids, links to other
    rows and times of its saving (they differ by construction)."""
    return {
        field.name: field.value_from_object(row)
        for field in row._meta.concrete_fields
        if field.name not in leave_out
        and (field.name in KEPT_TIMES or not isinstance(field, SKIPPED))
        and not field.name.endswith("_index")  # blind indexes: keyed by pharmacy
    }


def audit_of(targets) -> list:
    ids = {str(target.pk) for target in targets}
    events = AuditEvent.objects.filter(target_id__in=ids).order_by("id")
    return sorted(
        (event.action, event.target_type,
         {k: v for k, v in event.details.items() if k not in ("via", "batch")})
        for event in events
    )  # fmt: skip


def recorded(pharmacy, user) -> list:
    result = []
    tests = ScreeningTest.objects.filter(pharmacy=pharmacy).select_related("patient")
    for test in sorted(tests, key=lambda test: test.patient.birth_name):
        assert test.performed_by_id == test.recorded_by_id == user.pk
        assert all(t.message_id for t in test.transmissions.all())
        assert test.patient.created_by_id == user.pk
        links = ResultLink.objects.filter(test=test)
        notifications = Notification.objects.filter(link__in=links)
        result.append({
            "patient": values(test.patient, "version"),
            "test": values(test),
            # Message control ids and link tokens are random: each must be there.
            "outbox": [values(t, "message", "message_id") for t in test.transmissions.all()],
            "links": [values(link, "token_hash", "code_hash") for link in links],
            "notifications": [values(n, "token") for n in notifications],
            "audit": audit_of([test, test.patient]),
        })  # fmt: skip
    return result


def test_the_worker_imports_what_the_single_test_submission_records(
    pharmacy, pharmacist, other_pharmacy, other_pharmacist
):
    rows = [csv_row(1), csv_row(2, notify_by="none"), csv_row(3, result="positive")]
    # One at a time, as the web form and the API record a test.
    caller = submissions.Caller(pharmacy=other_pharmacy, user=other_pharmacist)
    for row in rows:
        cells = {name: str(value) for name, value in row.items()}
        [item] = submissions.submit(caller, [bulk_import.submission_of(cells)])
        assert item.ok, item.errors
    # The same file through the worker.
    upload = SimpleUploadedFile("r.csv", csv_text(rows).encode(), content_type="text/csv")
    batch = bulk_import.queue_file(upload, pharmacy, pharmacist)
    work_imports()
    bulk_import.queue_import(batch.pk, pharmacy)
    work_imports()
    imported, single = recorded(pharmacy, pharmacist), recorded(other_pharmacy, other_pharmacist)
    assert len(imported) == 3
    assert imported == single


# --- A large file is checked by a pool of processes ----------------------------------------


@pytest.mark.slow  # starts two processes that set Django up
@pytest.mark.django_db(transaction=True)  # they read what this process committed
def test_processes_check_blocks_as_this_process_would(pharmacy, pharmacist, monkeypatch):
    """The same file as test_duplicates' across-blocks case, one row a block, checked by
    two processes: the same errors, a stored test repeated in an earlier block's row
    included (the parent compares the blocks' accepted tests, in file order)."""
    monkeypatch.setattr(bulk_import, "PARALLEL_FROM_BYTES", 0)
    monkeypatch.setattr(bulk_import, "PROCESSES", 2)
    monkeypatch.setattr(bulk_import, "IMPORT_BLOCK", 1)
    stored(pharmacy, pharmacist, 1)
    stored(pharmacy, pharmacist, 2, kind="sars_cov_2_rt_pcr")  # another analyte: no question
    stored(pharmacy, pharmacist, 4, kind="sars_cov_2_rt_pcr")
    hour_later = NOW - datetime.timedelta(minutes=60)
    rows = [csv_row(1), csv_row(2), csv_row(2, hour_later), csv_row(3, sex="Z"),
            csv_row(4), csv_row(4, hour_later)]  # fmt: skip
    upload = SimpleUploadedFile("r.csv", csv_text(rows).encode(), content_type="text/csv")
    batch = bulk_import.queue_file(upload, pharmacy, pharmacist)
    here = []  # blocks this process checked (the processes' own are not seen here)
    check_block = bulk_import.check_block
    monkeypatch.setattr(bulk_import, "check_block", lambda *a: here.append(1) or check_block(*a))
    assert work_imports() == 1
    assert here == []
    batch.refresh_from_db()
    assert (batch.row_count, batch.valid_count, batch.error_count) == (6, 2, 4)
    assert codes(batch) == [
        (2, "new_sample", "possible_duplicate_test"),  # a stored test, found by a process
        (4, "new_sample", "possible_duplicate_test"),  # line 3's, another process's block
        (5, "sex", "invalid_choice"),
        (7, "new_sample", "possible_duplicate_test"),  # line 6's
    ]
    assert [row["line"] for row in bulk_import.valid_rows(batch)] == [3, 6]
