"""Stopping a long-running command cleanly on Ctrl-C or a service manager's SIGTERM."""

import signal


class StopRequest:
    """Installs SIGINT and SIGTERM handlers that set `requested` instead of raising, so
    the command's loop finishes what it is doing, then exits."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._request)
        signal.signal(signal.SIGTERM, self._request)

    def _request(self, signum, frame) -> None:
        self.requested = True
