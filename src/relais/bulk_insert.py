"""Inserting many new rows fast, for the bulk paths (CSV import).

QuerySet.bulk_create compiles the SQL of every value of every row (most of its cost at
thousands of rows); `insert_all` prepares one INSERT and sends all the rows with
executemany. Values go through the same field methods as a save (pre_save: timestamps,
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
    # Names from the model's metadata, quoted; every value is a parameter.
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
        quote(model._meta.db_table),
        ", ".join(quote(field.column) for field in fields),
        ", ".join(["%s"] * len(fields)),
    )
    rows = []
    for obj in objects:
        if type(obj) is not model or obj.pk is None:
            raise ValueError("insert_all needs instances of one model with their ids set")
        rows.append(
            [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
        )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    for obj in objects:
        obj._state.adding, obj._state.db = False, connection.alias
    return objects
