import io

import pytest
from django.core.management import CommandError, call_command

from relais.api.credentials import authenticate_token
from relais.api.models import ApiCredential
from relais.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("api-credentials", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_the_token_once(pharmacy):
    out, err = run("create", "--pharmacy", pharmacy.finess, "--name", "LGO")
    token = out.strip()
    credential = authenticate_token(token)
    assert credential is not None and credential.pharmacy == pharmacy
    assert credential.prefix in err
    listing, _ = run("list")
    assert credential.prefix in listing and token not in listing


def test_revoke(pharmacy):
    token = run("create", "--pharmacy", pharmacy.finess, "--name", "LGO")[0].strip()
    prefix = ApiCredential.objects.get().prefix
    out, _ = run("revoke", prefix)
    assert "revoked" in out
    assert authenticate_token(token) is None
    assert "revoked" in run("list", "--pharmacy", pharmacy.finess)[0]
    with pytest.raises(CommandError):
        run("revoke", prefix)


@pytest.mark.parametrize(
    "args", [("create", "--pharmacy", "999999999", "--name", "x"), ("revoke", "nothing")]
)
def test_errors(pharmacy, args):
    with pytest.raises(CommandError):
        run(*args)
    assert ApiCredential.objects.count() == 0


def test_read_scope_is_set_at_creation_or_later_and_audited(pharmacy):
    run("create", "--pharmacy", pharmacy.finess, "--name", "LGO", "--read-all")
    credential = ApiCredential.objects.get()
    assert credential.read_all is True
    assert "reads all" in run("list")[0]
    assert "only the tests it recorded" in run("read-scope", credential.prefix, "own")[0]
    credential.refresh_from_db()
    assert credential.read_all is False
    assert "reads own" in run("list")[0]
    changes = AuditEvent.objects.filter(action="api_credential.read_scope")
    assert [event.details for event in changes] == [{"by": "cli", "read_all": False}]
    with pytest.raises(CommandError):
        run("read-scope", "nothing", "all")
