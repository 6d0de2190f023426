"""Writing audit events. Every read and write of patient data calls `record`."""

import ipaddress

from django.db import models

from relais.audit.actions import require_known
from relais.audit.models import AuditEvent
from relais.lib.http import client_address


def truncate_address(address: str | None) -> str:
    """Keep the network, drop the host: /24 for IPv4, /48 for IPv6."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def event(
    action: str,
    *,
    request=None,
    actor=None,
    pharmacy=None,
    target: models.Model | None = None,
    details: dict | None = None,
) -> AuditEvent:
    """The event `record` writes, not saved yet (see record_many). `action` is one of
    relais.audit.actions.ACTIONS; any other raises ValueError."""
    require_known(action)
    if request is not None and actor is None and request.user.is_authenticated:
        actor = request.user
    if request is not None and pharmacy is None:
        pharmacy = getattr(request, "pharmacy", None)
    return AuditEvent(
        actor_id=actor.pk if actor is not None else None,
        pharmacy_id=pharmacy.pk if pharmacy is not None else None,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        request_id=getattr(request, "request_id", "") if request is not None else "",
        source=truncate_address(client_address(request)),
        details=details or {},
    )


def record(action: str, **kwargs) -> AuditEvent:
    audit_event = event(action, **kwargs)
    audit_event.save()
    return audit_event


def record_many(events: list[AuditEvent]) -> list[AuditEvent]:
    """Several events of one request with one insert (they are chained later, by id)."""
    return AuditEvent.objects.bulk_create(events)
