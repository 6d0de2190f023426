"""Writing audit events. Every read and write of patient data calls `record`."""

import ipaddress

from django.conf import settings
from django.db import models

from relais.audit.models import AuditEvent


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


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.TRUSTED_PROXIES)


def client_address(request) -> str:
    """The client's address. Behind trusted reverse proxies (RELAIS_TRUSTED_PROXIES) it is
    the last address in X-Forwarded-For that is not one of them; from anyone else the
    header is ignored, so a client cannot choose the address its limits are counted on."""
    if request is None:
        return ""
    address = request.META.get("REMOTE_ADDR", "")
    if not _trusted(address):
        return address
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # a malformed chain: fall back on what the socket says
        if not _trusted(hop):
            return hop
    return address


def event(
    action: str,
    *,
    request=None,
    actor=None,
    pharmacy=None,
    target: models.Model | None = None,
    details: dict | None = None,
) -> AuditEvent:
    """The event `record` writes, not saved yet (see record_many)."""
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
