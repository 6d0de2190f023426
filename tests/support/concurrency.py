"""Calls released at the same instant, each in its own thread (so with its own database
connection): how the tests race two workstations, retries or double clicks."""

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

T = TypeVar("T")
TIMEOUT_SECONDS = 60


def at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Each call in its own thread, all released together; their results in the order
    they ended. A call's exception is raised here, after every thread has ended."""
    barrier = threading.Barrier(len(calls))
    results: list[T] = []
    errors: list[BaseException] = []

    def run(call: Callable[[], T]) -> None:
        try:
            barrier.wait()
            results.append(call())
        except BaseException as error:  # noqa: BLE001 (raised again in the test's thread)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT_SECONDS)
    if errors:
        raise errors[0]
    assert len(results) == len(calls), "a call did not end in time"
    return results
