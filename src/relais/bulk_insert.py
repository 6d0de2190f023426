"""Inserting many new rows fast, for every path that records tests (one test at the
counter as a CSV file of 100,000).

QuerySet.bulk_create compiles the SQL of every value of every row (most of its cost at
thousands of rows); `insert_all` sends the rows with COPY on PostgreSQL (psycopg's
cursor.copy: one statement, the rows streamed; ~16 µs a row instead of ~62 for an INSERT
each) and with one prepared INSERT and executemany on SQLite (in-process: no round trips
to save). Values go through the same field methods as a save (pre_save: timestamps,
encryption under the row's id; get_db_prep_save), so the stored rows are the same.
"""

from django.db import connections, router


def insert_all(objects: list) -> list:
    """Insert unsaved model instances of one model whose primary key is already set
    (UUID defaults). Sends no signals, like bulk_create."""
    if not objects:
        return objects
    model = type(objects[0])
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    fields = model._meta.local_concrete_fields
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    rows = []
    for obj in objects:
        if type(obj) is not model or obj.pk is None:
            raise ValueError("insert_all needs instances of one model with their ids set")
        rows.append(
            [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
        )
    # Names from the model's metadata, quoted; every value is a parameter (or a COPY row).
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # psycopg's own method, outside Django's cursor wrapper: its errors are turned
            # into Django's here, so a unique violation is an IntegrityError as for any
            # insert (the one-patient-per-NIR retry relies on it).
            with connection.wrap_database_errors:
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(fields))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", rows)  # noqa: S608
    for obj in objects:
        obj._state.adding, obj._state.db = False, connection.alias
    return objects
