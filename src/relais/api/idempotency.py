"""`Idempotency-Key`: a retried POST gets the first answer instead of a duplicate.

Insert first: the key's row is inserted at the start of the request's transaction. A
concurrent retry's insert waits on the unique constraint (PostgreSQL) or on the write
lock (SQLite) until the first transaction ends; then it either reads the committed
answer, or, if the first one rolled back, goes ahead itself. So concurrent retries end
with exactly one test.

The request (which holds a NIR and a name) is stored only as a keyed digest: the
blind-index PRF over the canonical request, scoped to the pharmacy. An unsalted hash
could be reversed by hashing guessed identities; this one needs the data keys. A retry
after a key rotation still matches (every key of the keyset is tried), and `relais keys
drop-old` keeps a PRF key while digests made with it live (at most LIFETIME).
"""

import datetime
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from relais.api.models import IdempotencyKey
from relais.api.problems import Problem, field_error
from relais.crypto.blind_index import blind_index, blind_index_candidates

LIFETIME = datetime.timedelta(hours=24)
MAX_KEY_LENGTH = 255
# What read_key accepts, for the OpenAPI document: printable characters (str.isprintable,
# over the Latin-1 that header values are read as), at least one not a space.
_PRINTABLE = r" -~\xa1-\xac\xae-\xff"
KEY_PATTERN = rf"^[{_PRINTABLE}]*[!-~\xa1-\xac\xae-\xff][{_PRINTABLE}]*$"
HEADER = "Idempotency-Key"
DIGEST_PURPOSE = "api.idempotency"


def canonical_request(method: str, path: str, payload) -> str:
    """The request as one text, kept in memory only: rows store `_digest` of it."""
    return json.dumps([method, path, payload], sort_keys=True, separators=(",", ":"))


def _digest(pharmacy, canonical: str) -> str:
    return blind_index(DIGEST_PURPOSE, str(pharmacy.pk), canonical)


def _same_request(pharmacy, canonical: str, stored: str) -> bool:
    return stored in blind_index_candidates(DIGEST_PURPOSE, str(pharmacy.pk), canonical)


def read_key(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Problem(
            "validation",
            _("The Idempotency-Key header must be 1 to 255 printable characters."),
            [field_error(HEADER, "idempotency_key", _("Invalid Idempotency-Key header."))],
        )
    return key


def run_once(pharmacy, key: str | None, canonical: str, handler) -> tuple[int, str]:
    """Runs `handler() -> (status, body)` once per key, in one transaction with the key;
    returns the status and the body as JSON text, the same text for every retry."""
    if key is None:
        with transaction.atomic():
            status, body = handler()
            return status, to_json(body)
    with transaction.atomic():
        row_id = claim_many(pharmacy, {key: canonical}).get(key)
        if row_id is None:
            return replay(pharmacy, key, canonical)
        status, body = handler()
        answer = to_json(body)
        keep_answers({row_id: (status, answer)})
        return status, answer


def claim_many(pharmacy, canonicals: dict[str, str]) -> dict[str, int]:
    """Insert each key's row (key: canonical request, stored as its digest), or take over
    the row of an expired key, in one statement: the ids of the rows this request now
    owns, by key. A key missing from the answer is held by a live row: replay its answer.
    A concurrent insert of the same key waits here on the unique constraint until the
    first transaction ends (PostgreSQL), or on SQLite's write lock."""
    if not canonicals:
        return {}
    now = timezone.now()
    fields = {field.name: field for field in IdempotencyKey._meta.local_concrete_fields}
    connection, table, column = _table()
    names = ["pharmacy", "key", "request_hash", "response_body", "created_at"]
    params = []
    # In key order, so that two requests claiming the same keys lock them in one order.
    for key in sorted(canonicals):
        values = [pharmacy.pk, key, _digest(pharmacy, canonicals[key]), "", now]
        params += [
            fields[name].get_db_prep_save(value, connection)
            for name, value in zip(names, values, strict=True)
        ]
    expired = fields["created_at"].get_db_prep_save(now - LIFETIME, connection)
    taken_over = names[2:]  # request_hash, response_body, created_at
    takeover = ", ".join(
        [f"{column[name]} = excluded.{column[name]}" for name in taken_over]
        + [f"{column['status_code']} = NULL"]
    )
    row = f"({', '.join(['%s'] * len(names))})"
    sql = (
        f"INSERT INTO {table} ({', '.join(column[name] for name in names)}) "  # noqa: S608
        f"VALUES {', '.join([row] * len(canonicals))} "
        f"ON CONFLICT ({column['pharmacy']}, {column['key']}) "
        f"DO UPDATE SET {takeover} WHERE {table}.{column['created_at']} < %s "
        f"RETURNING {column['key']}, {column['id']}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, expired])
        return dict(cursor.fetchall())


def _table():
    """The connection, the quoted table name and the quoted column names by field, for the
    statements written here (names from the model's metadata; every value a parameter)."""
    connection = connections[router.db_for_write(IdempotencyKey)]
    quote = connection.ops.quote_name
    fields = IdempotencyKey._meta.local_concrete_fields
    column = {field.name: quote(str(field.column)) for field in fields}
    return connection, quote(IdempotencyKey._meta.db_table), column


def to_json(body: dict) -> str:
    return json.dumps(body, cls=DjangoJSONEncoder)


def replay(pharmacy, key: str, canonical: str) -> tuple[int, str]:
    row = IdempotencyKey.objects.get(pharmacy=pharmacy, key=key)
    return stored_answer(pharmacy, row, canonical)


def replay_many(pharmacy, canonicals: dict[str, str]) -> dict[str, tuple[int, str] | Problem]:
    """`replay` for many live keys (key: canonical request) in one query: each key's
    stored answer, or the problem of a key reused for another request."""
    rows = IdempotencyKey.objects.filter(pharmacy=pharmacy, key__in=list(canonicals))
    answers: dict[str, tuple[int, str] | Problem] = {}
    for row in rows:
        try:
            answers[row.key] = stored_answer(pharmacy, row, canonicals[row.key])
        except Problem as reused:
            answers[row.key] = reused
    return answers


def stored_answer(pharmacy, row: IdempotencyKey, canonical: str) -> tuple[int, str]:
    if not _same_request(pharmacy, canonical, row.request_hash):
        raise key_reused(HEADER)
    if row.status_code is None:
        # The answer is saved in the transaction that inserted the key, so a committed
        # key without one means the database was changed behind our back.
        raise RuntimeError("an idempotency key was committed without its answer")
    return row.status_code, row.response_body


def key_reused(pointer: str) -> Problem:
    return Problem(
        "idempotency-key-reused",
        _("This Idempotency-Key was already used for a different request."),
        [field_error(pointer, "idempotency_key_reused", _("Use a new key for a new request."))],
    )


def keep_answers(answers: dict[int, tuple[int, str]]) -> None:
    """Save the answers of claimed rows (row id: (status, JSON text)) in one statement."""
    if not answers:
        return
    if len(answers) == 1:
        [(row_id, (status, body))] = answers.items()
        IdempotencyKey.objects.filter(pk=row_id).update(status_code=status, response_body=body)
        return
    # UPDATE … FROM (VALUES …) (PostgreSQL, SQLite 3.33+): bulk_update's CASE per row
    # costs more to build than the rest of a batch's bookkeeping.
    connection, table, column = _table()
    sql = (
        f"UPDATE {table} SET {column['status_code']} = answers.column2, "  # noqa: S608
        f"{column['response_body']} = answers.column3 "
        f"FROM (VALUES {', '.join(['(%s, %s, %s)'] * len(answers))}) AS answers "
        f"WHERE {table}.{column['id']} = answers.column1"
    )
    params = [value for row_id, answer in answers.items() for value in (row_id, *answer)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def release(row_ids: list[int]) -> None:
    """Give claimed keys back (their requests were refused): like a single POST's refusal,
    which rolls its key back, a retry with the key is then checked afresh."""
    if row_ids:
        IdempotencyKey.objects.filter(pk__in=row_ids).delete()


def purge_expired() -> int:
    """Worker job: forget keys older than their lifetime."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - LIFETIME).delete()
    return deleted
