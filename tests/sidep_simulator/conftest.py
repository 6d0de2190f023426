"""The simulator is tested as a real process, with the fixtures the transmission tests use."""

import ssl

import httpx
import pytest

from tests.transmission.conftest import foreign_certs, sidep, sidep_certs, start_sidep  # noqa: F401

CONTENT_TYPE = "application/hl7-v2; charset=utf-8"


def client_context(trusted_ca, cert=None, key=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(trusted_ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


@pytest.fixture
def post(sidep_certs):  # noqa: F811 (the fixture imported above)
    """post(simulator, body, **options) with the right client certificate by default."""

    def send(simulator, body, *, context=None, content_type=CONTENT_TYPE, path=None):
        context = context or client_context(
            sidep_certs.ca_cert, sidep_certs.client_cert, sidep_certs.client_key
        )
        url = simulator.url if path is None else f"https://127.0.0.1:{simulator.port}{path}"
        data = body.encode("utf-8") if isinstance(body, str) else body
        with httpx.Client(verify=context, timeout=10) as client:
            return client.post(url, content=data, headers={"Content-Type": content_type})

    return send
