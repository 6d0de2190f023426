"""`relais check --deploy`, run as the real command with a production environment."""

import os
import secrets
import subprocess
import sys

import pytest

from relais.crypto.keyset import new_keys, new_wrapping_keyset_json, write_keys

pytestmark = pytest.mark.slow  # a `relais check --deploy` process per test


@pytest.fixture(scope="module")
def production_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    (root / "wrap.json").write_text(new_wrapping_keyset_json())
    write_keys(root / "keyset.json", new_keys(), str(root / "wrap.json"))
    write_keys(root / "plain-keyset.json", new_keys())
    for name in ("client.crt", "client.key", "ca.crt", "backup.json"):
        (root / name).write_text("placeholder")
    return root


@pytest.fixture(scope="module")
def good_env(production_files):
    root = production_files
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(root),
        "RELAIS_SECRET_KEY": secrets.token_urlsafe(60),
        "RELAIS_KEYSET_FILE": str(root / "keyset.json"),
        "RELAIS_KEYSET_WRAPPING_KEY_FILE": str(root / "wrap.json"),
        "RELAIS_BACKUP_KEY_FILE": str(root / "backup.json"),
        "RELAIS_DATABASE_URL": "postgres://relais@db.internal:5432/relais",
        "RELAIS_ALLOWED_HOSTS": "relais.example.fr",
        "RELAIS_BASE_URL": "https://relais.example.fr",
        "RELAIS_SIDEP_URL": "https://sidep.example.fr/hl7",
        "RELAIS_SIDEP_CLIENT_CERT": str(root / "client.crt"),
        "RELAIS_SIDEP_CLIENT_KEY": str(root / "client.key"),
        "RELAIS_SIDEP_CA_FILE": str(root / "ca.crt"),
        "RELAIS_RETENTION_DAYS": "90",
        "RELAIS_CACHE_URL": "redis://cache.internal:6379/0",
        "RELAIS_SMS_URL": "https://sms.example.fr/v1/messages",
        "RELAIS_VAR_DIR": str(root / "var"),
    }


def check_deploy(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "relais", "check", "--deploy"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_good_configuration_passes(good_env):
    result = check_deploy(good_env)
    assert result.returncode == 0, result.stderr
    assert "relais.E" not in result.stderr + result.stdout


BAD_SETTINGS = [
    ("debug on", {"RELAIS_DEBUG": "1"}, ["relais.E002"]),
    (
        "demo mode (plain HTTP, mail and SMS to files by default)",
        {"RELAIS_DEMO": "1"},
        ["relais.E001", "relais.E005", "relais.E006", "relais.E014", "relais.E015"],
    ),  # noqa: E501
    ("keyset stored unwrapped", {"RELAIS_KEYSET_WRAPPING_KEY_FILE": ""}, ["relais.E004"]),
    ("HTTP: no HSTS, cookies not secure", {"RELAIS_HTTPS": "0"}, ["relais.E005", "relais.E006"]),
    ("SQLite in production", {"RELAIS_DATABASE_URL": None}, ["relais.E007"]),
    ("allowed hosts open", {"RELAIS_ALLOWED_HOSTS": "*"}, ["relais.E008"]),
    ("SI-DEP address missing", {"RELAIS_SIDEP_URL": None}, ["relais.E009"]),
    ("SI-DEP client key missing", {"RELAIS_SIDEP_CLIENT_KEY": None}, ["relais.E010"]),
    (
        "SI-DEP client certificate missing",
        {"RELAIS_SIDEP_CLIENT_CERT": "/nonexistent.crt"},
        ["relais.E010"],
    ),  # noqa: E501
    ("SI-DEP CA missing", {"RELAIS_SIDEP_CA_FILE": None}, ["relais.E011"]),
    ("retention off", {"RELAIS_RETENTION_DAYS": "0"}, ["relais.E012"]),
    ("rate limits per process", {"RELAIS_CACHE_URL": None}, ["relais.E013"]),
    ("e-mails written to files", {"RELAIS_EMAIL_BACKEND": "file"}, ["relais.E014"]),
    ("e-mails printed to the log", {"RELAIS_EMAIL_BACKEND": "console"}, ["relais.E014"]),
    ("SMS written to a file", {"RELAIS_SMS_BACKEND": "file"}, ["relais.E015"]),
    ("SMS provider missing", {"RELAIS_SMS_URL": None}, ["relais.E015"]),
    ("SMS provider over HTTP", {"RELAIS_SMS_URL": "http://sms.example.fr/"}, ["relais.E015"]),
]


@pytest.mark.parametrize(
    ("change", "expected"), [case[1:] for case in BAD_SETTINGS], ids=[c[0] for c in BAD_SETTINGS]
)
def test_each_bad_setting_is_listed_and_fails(good_env, change, expected):
    env = {**good_env, **change}
    env = {name: value for name, value in env.items() if value is not None}
    result = check_deploy(env)
    assert result.returncode != 0
    for check_id in expected:
        assert check_id in result.stderr
    listed = {word.strip("():") for word in result.stderr.split() if word.startswith("(relais.E")}
    assert listed <= set(expected) | {"relais.E101"}  # only what was broken (E101: base URL)


def test_unwrapped_keyset_file_is_listed_even_with_a_wrapping_key_set(good_env, production_files):
    env = {**good_env, "RELAIS_KEYSET_FILE": str(production_files / "plain-keyset.json")}
    result = check_deploy(env)
    assert result.returncode != 0 and "relais.E004" in result.stderr


def test_short_secret_refuses_to_start(good_env):
    result = check_deploy({**good_env, "RELAIS_SECRET_KEY": "changeme"})
    assert result.returncode != 0 and "RELAIS_SECRET_KEY is too weak" in result.stderr


def test_plain_http_sidep_address_refuses_to_start(good_env):
    result = check_deploy({**good_env, "RELAIS_SIDEP_URL": "http://sidep.example.fr/hl7"})
    assert result.returncode != 0 and "RELAIS_SIDEP_URL" in result.stderr


def test_every_failure_is_listed_at_once(good_env):
    env = {**good_env, "RELAIS_DEBUG": "1", "RELAIS_ALLOWED_HOSTS": "*", "RELAIS_HTTPS": "0"}
    result = check_deploy(env)
    assert result.returncode != 0
    for check_id in ("relais.E002", "relais.E005", "relais.E006", "relais.E008"):
        assert check_id in result.stderr
