"""The processes that check the rows of a large CSV file (bulk_import.block_checker).

Apart from bulk_import so that a new process can load it before Django is set up (a
spawned process unpickles its initializer and tasks by importing their module). Each
process sets Django up on the parent's database, then checks the blocks of rows it is
given with bulk_import.check_block, the one function that checks a block.
"""

# Why this process could not be set up: every block it is given then fails with it, so
# the parent's job fails (and the batch is tried again later) instead of waiting for a
# pool that keeps starting processes that die.
_setup_error = ""


def setup(database: str) -> None:
    global _setup_error
    try:
        import django

        django.setup()
        from django.db import connection

        connection.settings_dict["NAME"] = database
    except Exception as error:
        _setup_error = type(error).__name__


def check_block(key: tuple, block: list) -> list:
    if _setup_error:
        raise RuntimeError(f"this checking process could not set Django up ({_setup_error})")
    from relais.imports import bulk_import

    return bulk_import.check_block_in_child(key, block)
