"""Writing audit events. Every read and write of patient data calls `record`.

An event is one INSERT of SQL built once per database (`INSERT_FIELDS`), its values
adapted by the model's own fields: the ORM's save() compiles its SQL and sends signals
each time (~60 µs more CPU on PostgreSQL), and a page view pays it on every read. It
runs in the caller's transaction when there is one (a form's save commits once, with its
events), else on its own: either way the data read or written and its event become
durable together, and a request rolled back leaves neither (its id leaves no hole in
the chain, which the worker numbers by `chain_seq`, see chain.py).
"""

import ipaddress
from functools import cache

from django.db import connections, models, router

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


# What an unchained event holds; the chain's columns stay NULL or empty until the worker
# links it.
INSERT_FIELDS = (
    "created_at", "actor_id", "pharmacy_id", "action", "target_type", "target_id",
    "request_id", "source", "details", "prev_hash", "hash",
)  # fmt: skip


@cache
def insert_fields() -> list[models.Field]:
    return [field for field in AuditEvent._meta.concrete_fields if field.name in INSERT_FIELDS]


_insert_sql: dict[str, str] = {}


def insert_sql(connection) -> str:
    """The INSERT of one event, RETURNING its id where the database can (built once per
    kind of database)."""
    sql = _insert_sql.get(connection.vendor)
    if sql is None:
        quote = connection.ops.quote_name
        table = quote(AuditEvent._meta.db_table)
        columns = ", ".join(quote(field.column) for field in insert_fields())
        placeholders = ", ".join(["%s"] * len(insert_fields()))
        # Names from the model's metadata, quoted; every value is a parameter.
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
        if connection.features.can_return_columns_from_insert:
            sql += f" RETURNING {quote('id')}"
        _insert_sql[connection.vendor] = sql
    return sql


def record(action: str, **kwargs) -> AuditEvent:
    """Write one event (see `event` for the arguments) and return it, with its id."""
    audit_event = event(action, **kwargs)
    connection = connections[router.db_for_write(AuditEvent)]
    # The field methods of a save (pre_save stamps created_at), so the row is the same.
    values = [
        field.get_db_prep_save(field.pre_save(audit_event, True), connection)
        for field in insert_fields()
    ]
    sql = insert_sql(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        audit_event.pk = cursor.fetchone()[0] if " RETURNING " in sql else cursor.lastrowid
    audit_event._state.adding = False
    audit_event._state.db = connection.alias
    return audit_event


def record_many(events: list[AuditEvent]) -> list[AuditEvent]:
    """Several events of one request with one insert (they are chained later, by id)."""
    return AuditEvent.objects.bulk_create(events)
