"""An uploaded CSV file, checked then imported by the worker.

The upload is stored as it came, encrypted, in chunks (AEAD, each bound to its batch,
kind and position), never in a plain file. The batch is a relais.lib.queue row twice
over: queued for its check (the worker reads the upload and writes the valid rows and
the error report, encrypted chunks again), then, once the user confirms, queued for its
import. A worker that dies holding a batch loses it when its lease passes, and another
takes it again. Everything is kept only until the rows are imported or the batch
expires; chunks keep memory bounded whatever the file's size.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from relais.accounts.models import Pharmacy
from relais.accounts.scoping import PharmacyScopedQuerySet
from relais.lib import queue


class ImportBatch(queue.QueuedRow):
    class State(models.TextChoices):
        QUEUED = "queued", "queued for its check"
        CHECKING = "checking", "being checked"
        CHECKED = "checked", "checked"
        IMPORT_QUEUED = "import_queued", "queued for its import"
        IMPORTING = "importing", "being imported"
        IMPORTED = "imported", "imported"
        FAILED = "failed", "failed"

    class Error(models.TextChoices):
        FAILED = "failed", _("The worker could not process the file")
        ROWS_CHANGED = "rows_changed", _("Rows stopped being valid since the file was checked")
        LEASE_LOST = queue.LEASE_LOST, queue.LEASE_LOST_TEXT

    # The states in which a worker is on it, or will be.
    BUSY_STATES = (State.QUEUED, State.CHECKING, State.IMPORT_QUEUED, State.IMPORTING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    encoding = models.CharField(max_length=16)
    separator = models.CharField(max_length=1)
    # The uploader's language: the worker words the error report in it.
    language = models.CharField(max_length=16, blank=True)
    size = models.PositiveBigIntegerField(default=0)  # the upload's bytes
    # Progress of the pass under way: bytes of the upload checked, then rows imported.
    progress = models.PositiveBigIntegerField(default=0)
    # The lines an import found no longer valid (Error.ROWS_CHANGED).
    changed_lines = models.JSONField(default=list, blank=True)
    row_count = models.PositiveIntegerField(default=0)
    valid_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    imported_count = models.PositiveIntegerField(default=0)

    objects = PharmacyScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="import_batch_due")]

    def __str__(self):
        return f"ImportBatch {self.pk}"


class ImportChunk(models.Model):
    """A part of a file, encrypted: the upload's bytes as they came (until the check),
    or whole lines of a checked file: the valid rows' values (JSON lines, imported on
    confirmation) or the error report's rows."""

    class Kind(models.TextChoices):
        UPLOAD = "upload", "upload"
        VALID = "valid", "valid rows"
        ERRORS = "errors", "error report"

    id = models.BigAutoField(primary_key=True)
    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="chunks")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    position = models.PositiveIntegerField()
    content = models.BinaryField()

    class Meta:
        ordering = ["batch", "kind", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "kind", "position"], name="one_chunk_per_position"
            )
        ]

    def __str__(self):
        return f"ImportChunk {self.pk}"
