"""Fixtures to run the SI-DEP simulator as a real process over mutual TLS.

- `sidep_certs` (session): a throwaway CA with server and client certificates.
- `foreign_certs` (session): the same from another CA (the simulator must refuse them).
- `start_sidep(*simulator_args, port=None)`: starts `python -m sidep_simulator serve` on a
  free port (or `port`), waits until it accepts connections, points the transport
  settings (RELAIS_SIDEP_*) at it with short timeouts, and stops it at teardown.
  Returns a `tests.transmission.simulator.Simulator` (url, port, db, stop(), start(),
  counts(), dump()).
- `sidep`: a simulator without faults, already started.
"""

import pytest

from relais.transmission.certs import make_certs
from tests.transmission.simulator import Simulator, free_port

CONNECT_TIMEOUT_SECONDS = 2.0
# The simulator validates ~30 messages a second on a busy machine: room for a full batch.
READ_TIMEOUT_SECONDS = 15.0


@pytest.fixture(scope="session")
def sidep_certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("sidep-certs"))


@pytest.fixture(scope="session")
def foreign_certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("foreign-certs"), common_name="Stranger")


@pytest.fixture
def start_sidep(settings, sidep_certs, tmp_path):
    started: list[Simulator] = []

    def start(*args: str, port: int | None = None) -> Simulator:
        # A free port can be taken by someone else before the simulator binds it: retry.
        for attempt in range(1 if port else 3):
            number = len(started)
            simulator = Simulator(
                certs=sidep_certs,
                db=tmp_path / f"sidep-{number}.sqlite3",
                port=port or free_port(),
                args=args,
                log=tmp_path / f"sidep-{number}.log",
            )
            started.append(simulator)
            try:
                simulator.start()
                break
            except RuntimeError:
                if attempt == 2 or port:
                    raise
        settings.SIDEP_URL = simulator.url
        settings.SIDEP_CLIENT_CERT = str(sidep_certs.client_cert)
        settings.SIDEP_CLIENT_KEY = str(sidep_certs.client_key)
        settings.SIDEP_CA_FILE = str(sidep_certs.ca_cert)
        settings.SIDEP_CONNECT_TIMEOUT = CONNECT_TIMEOUT_SECONDS
        settings.SIDEP_READ_TIMEOUT = READ_TIMEOUT_SECONDS
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture
def sidep(start_sidep):
    return start_sidep()
