"""An uploaded CSV file waiting for the user's decision to import it.

Checking the file writes its valid rows (cleaned by the forms) and its error report to
the database in encrypted chunks (AEAD, each bound to its batch, kind and position),
never to a plain file, and only until the rows are imported or the batch expires.
Chunks keep memory bounded whatever the file's size.
"""

import uuid

from django.conf import settings
from django.db import models

from relais.accounts.models import Pharmacy
from relais.accounts.scoping import PharmacyScopedQuerySet


class ImportBatch(models.Model):
    class State(models.TextChoices):
        CHECKED = "checked", "checked"
        IMPORTED = "imported", "imported"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.CHECKED)
    encoding = models.CharField(max_length=16)
    separator = models.CharField(max_length=1)
    row_count = models.PositiveIntegerField(default=0)
    valid_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    imported_count = models.PositiveIntegerField(default=0)

    objects = PharmacyScopedQuerySet.as_manager()

    def __str__(self):
        return f"ImportBatch {self.pk}"


class ImportChunk(models.Model):
    """Whole lines of a checked file, encrypted: the valid rows' cleaned values (JSON
    lines, imported on confirmation) or the error report's rows."""

    class Kind(models.TextChoices):
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
