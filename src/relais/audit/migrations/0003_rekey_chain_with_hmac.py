"""The audit chain becomes keyed (HMAC-SHA256 with RELAIS_AUDIT_KEY): every event is
unchained here and the worker chains them again, in id order, with the key.

The starting point of the keyed chain is this migration: the unkeyed chain's last head
(position and hash) is kept in an `audit.chain_rekeyed` event, so an operator who ran
`relais audit verify` just before upgrading (as docs/audit-keys-backups.md asks) can tie
the two together. Checkpoints exported before it vouch for the unkeyed hashes and no
longer apply.
"""

from django.db import migrations


def unchain_for_rekeying(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    ChainHead = apps.get_model("audit", "ChainHead")
    head = ChainHead.objects.filter(pk=1).first()
    if head is None and not AuditEvent.objects.exists():
        return  # a new installation: nothing was chained without the key
    AuditEvent.objects.filter(chain_seq__isnull=False).update(chain_seq=None, prev_hash="", hash="")
    ChainHead.objects.all().delete()
    AuditEvent.objects.create(
        action="audit.chain_rekeyed",
        details={
            "unkeyed_last_seq": head.last_seq if head else 0,
            "unkeyed_last_hash": head.last_hash if head else "",
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_chain"),
    ]

    operations = [
        migrations.RunPython(unchain_for_rekeying, migrations.RunPython.noop, elidable=False),
    ]
