"""The simulator is tested as a real process, with the fixtures the transmission tests use
(tests/conftest.py)."""

import httpx
import pytest

from tests.support.servers import client_context

CONTENT_TYPE = "application/hl7-v2; charset=utf-8"


@pytest.fixture
def post(sidep_certs):
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
