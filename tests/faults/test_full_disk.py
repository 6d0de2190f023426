"""Issue 13, item 8: a full disk leaves no partial file under a final name.

A real tmpfs of 512 KiB is mounted for the module (we run as root), filled to the last
byte, then freed: `relais backup` onto it, and a first start (secret key, keyset) in a
var directory on it.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from relais.crypto.keyset import get_keys, new_backup_keyset_json
from tests.support.full_disk import fill, tiny_tmpfs
from tests.support.servers import clean_env


@pytest.fixture(scope="module")
def tiny_disk(tmp_path_factory):
    try:
        with tiny_tmpfs(tmp_path_factory.mktemp("full-disk") / "mnt") as mountpoint:
            yield mountpoint
    except OSError as error:
        pytest.skip(str(error))  # not root: no filesystem of our own to fill


@pytest.fixture
def full(tiny_disk, request):
    """A directory of this test on the tiny disk, then full (`filler` takes the rest of the
    space: delete it to free the disk); removed after the test."""
    work = tiny_disk / request.node.name
    work.mkdir()
    fill(work)
    yield work
    shutil.rmtree(work)


def start_relais(var_dir: Path) -> subprocess.CompletedProcess:
    """A demo `relais` process in `var_dir`: every command starts by loading the settings,
    which make the secret key on a first start (`version` then does nothing else)."""
    env = clean_env(RELAIS_DEMO="1", RELAIS_VAR_DIR=str(var_dir))
    command = [sys.executable, "-m", "relais", "version"]
    return subprocess.run(command, env=env, capture_output=True, text=True)


# A backup sets its own isolation level (PostgreSQL): not inside the test's transaction.
@pytest.mark.django_db(transaction=True)
def test_a_backup_onto_a_full_disk_leaves_no_file_and_says_why(full, settings, tmp_path):
    key = tmp_path / "backup-key.json"
    key.write_text(new_backup_keyset_json())
    settings.BACKUP_KEY_FILE = str(key)
    out = full / "relais.backup"
    with pytest.raises(CommandError) as refused:
        call_command("backup", "--out", str(out))
    assert str(refused.value) == "backup failed, no file written: No space left on device"
    assert not out.exists() and not Path(f"{out}.partial").exists()
    (full / "filler").unlink()
    call_command("backup", "--out", str(out))
    assert out.stat().st_size > 0 and out.stat().st_mode & 0o777 == 0o600
    assert not Path(f"{out}.partial").exists()
    out.unlink()


def test_a_first_start_on_a_full_disk_refuses_clearly_then_starts_once_freed(full):
    var_dir = full / "var"
    var_dir.mkdir()
    first = start_relais(var_dir)
    assert first.returncode != 0
    assert first.stderr.strip() == (
        f"relais: cannot start: Cannot create the secret key file {var_dir / 'secret_key'}: "
        "No space left on device."
    )
    assert list(var_dir.iterdir()) == []  # no empty secret_key, no temporary file
    (full / "filler").unlink()
    second = start_relais(var_dir)
    assert second.returncode == 0, second.stderr
    assert len((var_dir / "secret_key").read_text().strip()) >= 50


def test_an_empty_secret_file_refuses_to_start(tmp_path):
    (tmp_path / "secret_key").write_text("")
    started = start_relais(tmp_path)
    assert started.returncode != 0
    assert "secret key file" in started.stderr and "is empty" in started.stderr
    assert "Traceback" not in started.stderr


def test_the_demo_keyset_on_a_full_disk_is_an_error_and_no_empty_file(full, settings):
    path = full / "keyset.json"
    settings.KEYSET_FILE = path
    get_keys.cache_clear()
    try:
        with pytest.raises(ImproperlyConfigured, match="No space left on device"):
            get_keys()
        assert not path.exists() and [p.name for p in full.iterdir()] == ["filler"]
        (full / "filler").unlink()
        assert get_keys().aead_handle is not None
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        get_keys.cache_clear()
