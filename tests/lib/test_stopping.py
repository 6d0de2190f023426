import os
import signal

import pytest

from relais.lib.stopping import StopRequest


@pytest.fixture
def restore_handlers():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_requests_the_stop_instead_of_raising(restore_handlers, sig):
    stop = StopRequest()
    assert stop.requested is False
    os.kill(os.getpid(), sig)  # handled synchronously by the main thread
    assert stop.requested is True
