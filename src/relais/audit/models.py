"""Append-only audit events: who did what to which record, when, from where.

Events carry ids and action names only, never personal data.

Web requests insert events unchained (no lock shared between requests); the worker
then links them into a hash chain (see relais.audit.chain), filling `chain_seq`,
`prev_hash` and `hash`. `ChainHead` holds the end of the chain.
"""

from django.db import models


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_id = models.UUIDField(null=True, db_index=True)
    pharmacy_id = models.UUIDField(null=True, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    request_id = models.CharField(max_length=32, blank=True)
    source = models.CharField(max_length=64, blank=True, help_text="truncated client address")
    details = models.JSONField(default=dict, blank=True)
    # Position in the hash chain, given by the worker; NULL until chained.
    chain_seq = models.BigIntegerField(null=True, unique=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.action} #{self.pk}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit events are append-only")


class ChainHead(models.Model):
    """The single row holding the end of the chain. Only the chaining job locks it."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"ChainHead {self.last_seq}"
