import datetime
import json

import pytest
from django.utils import timezone

from relais.api.credentials import create_credential

API = "/api/v1"


def submission(**test_overrides) -> dict:
    sampled_at = timezone.now() - datetime.timedelta(minutes=30)
    return {
        "patient": {
            "birth_name": "Lefèvre",
            "used_name": "Martin",
            "given_names": "Élodie Anne",
            "birth_date": "1985-03-14",
            "sex": "F",
            "birthplace_code": "75056",
            "nir": "285037505612306",
            "address": "12 rue des Lilas",
            "postal_code": "75011",
            "city": "Paris",
            "phone": "0612345678",
            "email": "elodie.lefevre@example.org",
        },
        "test": {
            "kind": "sars_cov_2_antigen",
            "device": "Demo AG Rapid",
            "specimen": "nasal_swab",
            "sampled_at": sampled_at.isoformat(),
            "result": "negative",
            "symptoms": False,
            "consent_transmission": True,
            **test_overrides,
        },
    }


class ApiClient:
    """The Django test client, speaking JSON with a bearer token."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token

    def headers(self, extra: dict) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**headers, **extra}

    def get(self, path: str, headers=None, **params):
        return self.client.get(f"{API}{path}", params, headers=self.headers(headers or {}))

    def post(
        self,
        path: str,
        body=None,
        raw: bytes | None = None,
        headers=None,
        content_type="application/json",
    ):
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(
            f"{API}{path}", data, content_type=content_type, headers=self.headers(headers or {})
        )


@pytest.fixture
def credential_and_token(pharmacy, pharmacist):
    return create_credential(pharmacy, "LGO test", created_by=pharmacist)


@pytest.fixture
def credential(credential_and_token):
    return credential_and_token[0]


@pytest.fixture
def api(client, credential_and_token):
    return ApiClient(client, credential_and_token[1])


@pytest.fixture
def other_api(client, other_pharmacy, other_pharmacist):
    return ApiClient(client, create_credential(other_pharmacy, "Other LGO")[1])
