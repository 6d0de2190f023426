"""Fixtures for the whole suite: thin wrappers around tests/support, where the helpers
live (test modules and benchmarks import them from there, never from a conftest.py)."""

import pytest

from relais.transmission.certs import ensure_certs, make_certs
from tests.support import factories
from tests.support.fictitious import OTHER_PERFORMER_RPPS, PERFORMER_RPPS
from tests.support.ports import free_port
from tests.support.servers import Simulator, start_simulator
from tests.support.smtp import smtp_inbox

# Short transport timeouts for the simulator; it validates ~30 messages a second on a busy
# machine: room for a full batch.
SIDEP_CONNECT_TIMEOUT_SECONDS = 2.0
SIDEP_READ_TIMEOUT_SECONDS = 15.0


def pytest_addoption(parser):
    parser.addoption(
        "--screenshots",
        action="store_true",
        help="browser tests save each page's screenshot under var/screenshots/",
    )


@pytest.fixture
def pharmacy(db):
    return factories.make_pharmacy()


@pytest.fixture
def other_pharmacy(db):
    return factories.make_pharmacy("Autre Pharmacie", "750000002")


@pytest.fixture
def pharmacist(pharmacy):
    return factories.make_member(pharmacy, "pharmacist@example.org", rpps=PERFORMER_RPPS)


@pytest.fixture
def other_pharmacist(other_pharmacy):
    return factories.make_member(other_pharmacy, "other@example.org", rpps=OTHER_PERFORMER_RPPS)


@pytest.fixture
def pharmacist_client(client, pharmacist):
    return factories.log_in(client, pharmacist)


@pytest.fixture
def patient(pharmacy, pharmacist):
    return factories.make_patient(pharmacy, pharmacist)


@pytest.fixture
def screening_test(patient, pharmacist):
    return factories.make_test(patient, pharmacist)


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on a free port, with Django's e-mail pointed at it.
    `smtp_server.messages` holds what it received; `wait_for(n)` waits for n messages."""
    with smtp_inbox() as inbox:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", inbox.port
        settings.EMAIL_USE_TLS, settings.EMAIL_HOST_USER = False, ""
        settings.EMAIL_HOST_PASSWORD = ""
        yield inbox


# --- The SI-DEP simulator as a real process over mutual TLS ---------------------------------


@pytest.fixture(scope="session")
def sidep_certs(tmp_path_factory):
    """A throwaway CA with server and client certificates."""
    return make_certs(tmp_path_factory.mktemp("sidep-certs"))


@pytest.fixture(scope="session")
def foreign_certs(tmp_path_factory):
    """The same from another CA (the simulator must refuse them)."""
    return make_certs(tmp_path_factory.mktemp("foreign-certs"), common_name="Stranger")


@pytest.fixture
def start_sidep(settings, sidep_certs, tmp_path):
    """start_sidep(*simulator_args, port=None): a started `tests.support.servers.Simulator`
    (on a free port unless `port`), with the transport settings (RELAIS_SIDEP_*) pointed at
    it with short timeouts; stopped at teardown."""
    started: list[Simulator] = []

    def start(*args: str, port: int | None = None) -> Simulator:
        number = len(started)
        simulator = start_simulator(
            sidep_certs, tmp_path / f"sidep-{number}.sqlite3", tmp_path / f"sidep-{number}.log",
            args, port,
        )  # fmt: skip
        started.append(simulator)
        settings.SIDEP_URL = simulator.url
        settings.SIDEP_CLIENT_CERT = str(sidep_certs.client_cert)
        settings.SIDEP_CLIENT_KEY = str(sidep_certs.client_key)
        settings.SIDEP_CA_FILE = str(sidep_certs.ca_cert)
        settings.SIDEP_CONNECT_TIMEOUT = SIDEP_CONNECT_TIMEOUT_SECONDS
        settings.SIDEP_READ_TIMEOUT = SIDEP_READ_TIMEOUT_SECONDS
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture
def unreachable_sidep(settings, tmp_path_factory):
    """Real certificates, and an address where nothing listens: a real transport error.
    Three attempts, the first retry within 5 s."""
    certs = ensure_certs(tmp_path_factory.getbasetemp() / "sidep-certs")
    settings.SIDEP_URL = f"https://127.0.0.1:{free_port()}/hl7/v2/batch"
    settings.SIDEP_CLIENT_CERT = str(certs.client_cert)
    settings.SIDEP_CLIENT_KEY = str(certs.client_key)
    settings.SIDEP_CA_FILE = str(certs.ca_cert)
    settings.SIDEP_CONNECT_TIMEOUT = 2.0
    settings.TRANSMISSION_BACKOFF_BASE_SECONDS = 5
    settings.TRANSMISSION_BACKOFF_MAX_SECONDS = 60
    settings.TRANSMISSION_MAX_ATTEMPTS = 3
    return settings


@pytest.fixture
def sidep(start_sidep):
    """A simulator without faults, already started."""
    return start_sidep()
