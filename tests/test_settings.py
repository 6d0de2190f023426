"""Settings come from the environment only, and refuse to start without real secrets."""

import json
import os
import stat
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # a Django process per test

STRONG_KEY = "k" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz"


def run_django(env: dict, code: str = "print('started')"):
    base = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    base["DJANGO_SETTINGS_MODULE"] = "relais.settings"
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def keyset(tmp_path):
    path = tmp_path / "keyset.json"
    subprocess.run([sys.executable, "-m", "relais", "keys", "init", "--out", str(path)], check=True)
    return path


def test_refuses_to_start_without_a_secret_key(tmp_path, keyset):
    result = run_django({"RELAIS_VAR_DIR": str(tmp_path), "RELAIS_KEYSET_FILE": str(keyset)})
    assert result.returncode != 0
    assert "RELAIS_SECRET_KEY" in result.stderr


def test_refuses_a_weak_secret_key(tmp_path, keyset):
    env = {"RELAIS_SECRET_KEY": "changeme", "RELAIS_KEYSET_FILE": str(keyset)}
    result = run_django({**env, "RELAIS_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "too weak" in result.stderr


def test_refuses_to_start_without_a_keyset(tmp_path):
    env = {"RELAIS_SECRET_KEY": STRONG_KEY, "RELAIS_VAR_DIR": str(tmp_path)}
    result = run_django(env)
    assert result.returncode != 0
    assert "keyset" in result.stderr


def test_starts_with_real_secrets_and_debug_off(tmp_path, keyset):
    env = {"RELAIS_SECRET_KEY": STRONG_KEY, "RELAIS_KEYSET_FILE": str(keyset)}
    code = "from django.conf import settings; print(settings.DEBUG, settings.SESSION_COOKIE_SECURE)"
    result = run_django({**env, "RELAIS_VAR_DIR": str(tmp_path)}, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


def test_keys_init_never_overwrites_and_is_private(keyset):
    assert stat.S_IMODE(keyset.stat().st_mode) == 0o600
    assert {"wrapped", "aead", "prf"} <= set(json.loads(keyset.read_text()))
    again = subprocess.run(
        [sys.executable, "-m", "relais", "keys", "init", "--out", str(keyset)],
        capture_output=True,
        text=True,
    )
    assert again.returncode != 0 and "refusing" in again.stderr


def test_demo_mode_generates_private_secrets_once(tmp_path):
    env = {"RELAIS_DEMO": "1", "RELAIS_VAR_DIR": str(tmp_path)}
    code = "from relais.crypto.keyset import get_keys; get_keys(); print('ok')"
    assert run_django(env, code).returncode == 0
    first = (tmp_path / "secret_key").read_text()
    keyset_text = (tmp_path / "keyset.json").read_text()
    assert run_django(env, code).returncode == 0
    assert (tmp_path / "secret_key").read_text() == first
    assert (tmp_path / "keyset.json").read_text() == keyset_text
    for name in ("secret_key", "keyset.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_wrapped_keyset_needs_its_wrapping_key(tmp_path):
    import tink
    from tink import aead, secret_key_access

    aead.register()
    kek = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
    kek_file = tmp_path / "kek.json"
    kek_file.write_text(tink.json_proto_keyset_format.serialize(kek, secret_key_access.TOKEN))
    keyset = tmp_path / "wrapped.json"
    subprocess.run(
        [sys.executable, "-m", "relais", "keys", "init", "--out", str(keyset),
         "--wrapping-key-file", str(kek_file)],
        check=True,
    )  # fmt: skip
    assert '"wrapped": true' in keyset.read_text()
    assert "keyData" not in keyset.read_text()  # only key metadata stays readable
    env = {"RELAIS_SECRET_KEY": STRONG_KEY, "RELAIS_KEYSET_FILE": str(keyset),
           "RELAIS_VAR_DIR": str(tmp_path)}  # fmt: skip
    code = "from relais.crypto.keyset import get_keys; get_keys(); print('ok')"
    assert run_django(env, code).returncode != 0
    env["RELAIS_KEYSET_WRAPPING_KEY_FILE"] = str(kek_file)
    result = run_django(env, code)
    assert result.returncode == 0, result.stderr


def test_debug_is_asked_for_explicitly(tmp_path):
    env = {"RELAIS_DEMO": "1", "RELAIS_VAR_DIR": str(tmp_path), "RELAIS_DEBUG": "maybe"}
    result = run_django(env)
    assert result.returncode != 0 and "RELAIS_DEBUG" in result.stderr
