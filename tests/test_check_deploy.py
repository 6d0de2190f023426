"""`relais check --deploy`: each production rule, in-process, and one run of the real command.

A case is an environment: `parse` turns it into a Config, whose fields (the Django settings of
the same names) override the test settings while the registered check runs. A missing secret
key cannot reach the check (Django refuses an empty SECRET_KEY, production refuses to start):
tests/test_settings.py covers it.
"""

import dataclasses
import os
import secrets
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from django.core.checks import registry
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from relais.checks import check_production_settings
from relais.config import parse
from relais.crypto.keyset import new_keys, new_wrapping_keyset_json, write_keys


@pytest.fixture(scope="module")
def production_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    (root / "wrap.json").write_text(new_wrapping_keyset_json())
    write_keys(root / "keyset.json", new_keys(), str(root / "wrap.json"))
    write_keys(root / "plain-keyset.json", new_keys())
    for name in ("client.crt", "client.key", "ca.crt", "backup.json"):
        (root / name).write_text("placeholder")
    for name in ("wrap.json", "client.key", "backup.json"):
        (root / name).chmod(0o600)
    (root / "var").mkdir(mode=0o700)
    (root / "database-url").write_text("postgres://relais:s3cret@db.internal/relais")
    (root / "database-url").chmod(0o600)
    # The files an auditor finds readable by everyone.
    (root / "open").mkdir(mode=0o755)
    (root / "open").chmod(0o755)
    write_keys(root / "open" / "keyset.json", new_keys(), str(root / "wrap.json"))
    (root / "open" / "keyset.json").chmod(0o644)
    (root / "open" / "client.key").write_text("placeholder")
    (root / "open" / "client.key").chmod(0o644)
    return root


@pytest.fixture(scope="module")
def good_env(production_files):
    root = production_files
    return {
        "RELAIS_SECRET_KEY": secrets.token_urlsafe(60),
        "RELAIS_KEYSET_FILE": str(root / "keyset.json"),
        "RELAIS_KEYSET_WRAPPING_KEY_FILE": str(root / "wrap.json"),
        "RELAIS_BACKUP_KEY_FILE": str(root / "backup.json"),
        "RELAIS_AUDIT_KEY": secrets.token_urlsafe(48),
        "RELAIS_DATABASE_URL": "postgres://relais@db.internal:5432/relais?sslmode=verify-full",
        "RELAIS_ALLOWED_HOSTS": "relais.example.fr",
        "RELAIS_BASE_URL": "https://relais.example.fr",
        "RELAIS_SIDEP_URL": "https://sidep.example.fr/hl7",
        "RELAIS_SIDEP_CLIENT_CERT": str(root / "client.crt"),
        "RELAIS_SIDEP_CLIENT_KEY": str(root / "client.key"),
        "RELAIS_SIDEP_CA_FILE": str(root / "ca.crt"),
        "RELAIS_RETENTION_DAYS": "90",
        "RELAIS_CACHE_URL": "rediss://cache.internal:6379/0",
        "RELAIS_SMS_URL": "https://sms.example.fr/v1/messages",
        "RELAIS_VAR_DIR": str(root / "var"),
    }


def listed_ids(environ: dict) -> set[str]:
    """The ids `check --deploy`'s own rules report under the configuration of `environ`."""
    environ = {name: value for name, value in environ.items() if value is not None}
    with warnings.catch_warnings():
        # The rules read DATABASES; no connection is opened with the overridden value.
        warnings.filterwarnings("ignore", "Overriding setting DATABASES", UserWarning)
        with override_settings(**dataclasses.asdict(parse(environ))):
            return {message.id for message in check_production_settings()}


def test_good_configuration_passes(good_env):
    assert listed_ids(good_env) == set()


def test_pro_sante_connect_over_https_with_its_client_passes(good_env):
    issuer = {"RELAIS_PSC_ISSUER": "https://auth.esante.gouv.fr/auth/realms/esante-wallet"}
    assert listed_ids({**good_env, **issuer, **PSC_CLIENT}) == set()


PSC_CLIENT = {
    "RELAIS_PSC_CLIENT_ID": "relais",
    "RELAIS_PSC_CLIENT_SECRET": secrets.token_urlsafe(32),
}
BAD_SETTINGS = [
    ("debug on", {"RELAIS_DEBUG": "1"}, {"relais.E002"}),
    (
        "demo mode (plain HTTP, mail and SMS to files by default)",
        {"RELAIS_DEMO": "1"},
        {"relais.E001", "relais.E005", "relais.E006", "relais.E014", "relais.E015"},
    ),
    ("secret key short", {"RELAIS_SECRET_KEY": "changeme"}, {"relais.E003"}),
    ("secret key repetitive", {"RELAIS_SECRET_KEY": "a" * 40 + "bcdefghij0"}, {"relais.E003"}),
    ("secret key ordered", {"RELAIS_SECRET_KEY": "0123456789" + "abcdefghij" * 4}, {"relais.E003"}),
    ("keyset stored unwrapped", {"RELAIS_KEYSET_WRAPPING_KEY_FILE": ""}, {"relais.E004"}),
    ("HTTP: no HSTS, cookies not secure", {"RELAIS_HTTPS": "0"}, {"relais.E005", "relais.E006"}),
    ("SQLite in production", {"RELAIS_DATABASE_URL": None}, {"relais.E007"}),
    ("allowed hosts open", {"RELAIS_ALLOWED_HOSTS": "*"}, {"relais.E008"}),
    ("allowed hosts a whole domain", {"RELAIS_ALLOWED_HOSTS": ".example.fr"}, {"relais.E008"}),
    ("SI-DEP address missing", {"RELAIS_SIDEP_URL": None}, {"relais.E009"}),
    ("SI-DEP client key missing", {"RELAIS_SIDEP_CLIENT_KEY": None}, {"relais.E010"}),
    (
        "SI-DEP client certificate missing",
        {"RELAIS_SIDEP_CLIENT_CERT": "/nonexistent.crt"},
        {"relais.E010"},
    ),
    ("SI-DEP CA missing", {"RELAIS_SIDEP_CA_FILE": None}, {"relais.E011"}),
    ("retention off", {"RELAIS_RETENTION_DAYS": "0"}, {"relais.E012"}),
    ("rate limits per process", {"RELAIS_CACHE_URL": None}, {"relais.E013"}),
    ("e-mails written to files", {"RELAIS_EMAIL_BACKEND": "file"}, {"relais.E014"}),
    ("e-mails printed to the log", {"RELAIS_EMAIL_BACKEND": "console"}, {"relais.E014"}),
    ("SMS written to a file", {"RELAIS_SMS_BACKEND": "file"}, {"relais.E015"}),
    ("SMS provider missing", {"RELAIS_SMS_URL": None}, {"relais.E015"}),
    ("SMS provider over HTTP", {"RELAIS_SMS_URL": "http://sms.example.fr/"}, {"relais.E015"}),
    (
        "keyset file missing",
        {"RELAIS_KEYSET_FILE": "/nonexistent/keyset.json"},
        {"relais.E016", "relais.E004"},
    ),
    ("base URL over HTTP", {"RELAIS_BASE_URL": "http://relais.example.fr"}, {"relais.E101"}),
    ("no backup key", {"RELAIS_BACKUP_KEY_FILE": None}, {"relais.E017"}),
    (
        "Pro Santé Connect issuer over HTTP",
        {"RELAIS_PSC_ISSUER": "http://psc.example.fr", **PSC_CLIENT},
        {"relais.E040"},
    ),
    (
        "Pro Santé Connect in the test-only loopback mode",
        {
            "RELAIS_PSC_ISSUER": "http://127.0.0.1:9000",
            "RELAIS_PSC_INSECURE_LOOPBACK": "1",
            **PSC_CLIENT,
        },
        {"relais.E040"},
    ),
    (
        "Pro Santé Connect without its client id and secret",
        {"RELAIS_PSC_ISSUER": "https://auth.esante.gouv.fr/auth/realms/esante-wallet"},
        {"relais.E041"},
    ),
    ("webhooks to this machine", {"RELAIS_WEBHOOK_ALLOW_LOOPBACK": "1"}, {"relais.E032"}),
]


@pytest.mark.parametrize(
    ("change", "expected"), [case[1:] for case in BAD_SETTINGS], ids=[c[0] for c in BAD_SETTINGS]
)
def test_each_bad_setting_is_listed_and_only_it(good_env, change, expected):
    assert listed_ids({**good_env, **change}) == expected


# The auditor's list of 24 weak settings (issue 13, item 14): 15 of them passed before.
# A case's expected outcome is the ids `check --deploy` lists, or ImproperlyConfigured
# when the value is refused as soon as the configuration is read (no process starts).
REPEATED_HALVES = "x7Kq2mP9vL4wN8rT3bY6cH1jF" * 2  # 50 characters, ~232 bits by frequency


def weak_settings(files: Path, secret_key: str) -> list[tuple[str, dict, set[str] | type]]:
    return [
        ("secret key: 25 random characters twice", {"RELAIS_SECRET_KEY": REPEATED_HALVES},
         {"relais.E003"}),
        ("secret key: Django's insecure placeholder",
         {"RELAIS_SECRET_KEY": "django-insecure-" + secrets.token_urlsafe(48)}, {"relais.E003"}),
        ("debug on", {"RELAIS_DEBUG": "1"}, {"relais.E002"}),
        ("HTTPS off (no HSTS, cookies not Secure)", {"RELAIS_HTTPS": "0"},
         {"relais.E005", "relais.E006"}),
        ("allowed hosts *", {"RELAIS_ALLOWED_HOSTS": "*"}, {"relais.E008"}),
        ("SI-DEP over http://", {"RELAIS_SIDEP_URL": "http://sidep.example.fr/hl7"},
         ImproperlyConfigured),
        ("SI-DEP client key readable by others",
         {"RELAIS_SIDEP_CLIENT_KEY": str(files / "open" / "client.key")}, {"relais.E021"}),
        ("keyset readable by others",
         {"RELAIS_KEYSET_FILE": str(files / "open" / "keyset.json")}, {"relais.E021"}),
        ("var dir world-readable", {"RELAIS_VAR_DIR": str(files / "open")}, {"relais.E022"}),
        ("sessions idle for 8 hours", {"RELAIS_SESSION_IDLE_MINUTES": "480"}, {"relais.E023"}),
        ("login lockout off", {"RELAIS_LOGIN_MAX_FAILURES": "1000000"}, {"relais.E023"}),
        ("rate limits off", {"RELAIS_PATIENT_RATE_LIMIT": "100000"}, {"relais.E024"}),
        ("database without TLS on another host",
         {"RELAIS_DATABASE_URL": "postgres://relais@db.internal:5432/relais"}, {"relais.E026"}),
        ("database password in the environment",
         {"RELAIS_DATABASE_URL": "postgres://relais:s3cret@db.internal/relais?sslmode=require"},
         {"relais.E027"}),
        ("e-mail over plain SMTP to another host",
         {"RELAIS_EMAIL_HOST": "smtp.example.fr", "RELAIS_EMAIL_USE_TLS": "0"}, {"relais.E028"}),
        ("SMS provider over http://", {"RELAIS_SMS_URL": "http://sms.example.fr/"},
         {"relais.E015"}),
        ("Redis over plain TCP on another host",
         {"RELAIS_CACHE_URL": "redis://cache.internal:6379/0"}, {"relais.E029"}),
        ("backups unencrypted (no backup key)", {"RELAIS_BACKUP_KEY_FILE": None},
         {"relais.E017"}),
        ("audit chain unkeyed", {"RELAIS_AUDIT_KEY": None}, {"relais.E018"}),
        ("audit anchor unset", {"RELAIS_AUDIT_ANCHOR_FILE": ""}, {"relais.E019"}),
        ("secret key reused as the audit key", {"RELAIS_AUDIT_KEY": secret_key}, {"relais.E020"}),
        ("trusted proxies: the whole Internet", {"RELAIS_TRUSTED_PROXIES": "0.0.0.0/0"},
         {"relais.E030"}),
        ("retention beyond SI-DEP's 90 days", {"RELAIS_RETENTION_DAYS": "365"}, {"relais.E025"}),
        ("CSRF trusts a plain-HTTP origin",
         {"RELAIS_CSRF_TRUSTED_ORIGINS": "http://relais.example.fr"}, {"relais.E031"}),
    ]  # fmt: skip


WEAK_SETTING_NAMES = [case[0] for case in weak_settings(Path("/"), "")]


def test_the_auditor_list_has_24_weak_settings():
    assert len(set(WEAK_SETTING_NAMES)) == 24


@pytest.mark.parametrize("name", WEAK_SETTING_NAMES)
def test_each_weak_setting_of_the_audit_fails_check_deploy(good_env, production_files, name):
    [(change, expected)] = [
        (change, expected)
        for case, change, expected in weak_settings(production_files, good_env["RELAIS_SECRET_KEY"])
        if case == name
    ]
    environ = {**good_env, **change}
    if expected is ImproperlyConfigured:
        with pytest.raises(ImproperlyConfigured, match="RELAIS_SIDEP_URL"):
            listed_ids(environ)
    else:
        assert listed_ids(environ) == expected


def test_the_database_url_from_a_file_may_hold_the_password(good_env, production_files):
    environ = {**good_env, "RELAIS_DATABASE_URL": None}
    environ["RELAIS_DATABASE_URL_FILE"] = str(production_files / "database-url")
    assert listed_ids(environ) == {"relais.E026"}  # only the missing TLS: its URL has no sslmode


def test_the_secret_key_rule_passes_random_keys_of_every_usual_kind():
    from relais.checks import secret_key_is_weak

    for _ in range(200):
        assert not secret_key_is_weak(secrets.token_urlsafe(48))
        assert not secret_key_is_weak(secrets.token_hex(32))


def test_unwrapped_keyset_file_is_listed_even_with_a_wrapping_key_set(good_env, production_files):
    plain = str(production_files / "plain-keyset.json")
    assert listed_ids({**good_env, "RELAIS_KEYSET_FILE": plain}) == {"relais.E004"}


def test_every_failure_is_listed_at_once(good_env):
    change = {"RELAIS_DEBUG": "1", "RELAIS_ALLOWED_HOSTS": "*", "RELAIS_HTTPS": "0"}
    expected = {"relais.E002", "relais.E005", "relais.E006", "relais.E008"}
    assert listed_ids({**good_env, **change}) == expected


def test_the_rules_are_a_deployment_check():
    assert check_production_settings in registry.registry.get_checks(include_deployment_checks=True)
    assert check_production_settings not in registry.registry.get_checks()


@pytest.mark.slow  # two `relais check --deploy` processes
def test_the_real_command_passes_a_production_environment_and_fails_a_bad_one(good_env):
    """The smoke test: `relais check --deploy` started for real, settings loaded from scratch."""
    base = {"PATH": os.environ["PATH"], "HOME": good_env["RELAIS_VAR_DIR"]}

    def check_deploy(environ: dict) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "relais", "check", "--deploy"],
            env={**base, **environ},
            capture_output=True,
            text=True,
            timeout=120,
        )

    passed = check_deploy(good_env)
    assert passed.returncode == 0, passed.stderr
    assert "relais.E" not in passed.stderr + passed.stdout
    failed = check_deploy({**good_env, "RELAIS_ALLOWED_HOSTS": "*", "RELAIS_HTTPS": "0"})
    assert failed.returncode != 0
    assert {"relais.E005", "relais.E006", "relais.E008"} <= {
        word.strip("():") for word in failed.stderr.split() if word.startswith("(relais.")
    }


@pytest.mark.parametrize(
    "change",
    [
        {"RELAIS_LOGIN_SOURCE_MAX_FAILURES": "100000"},  # a sprayer is never blocked
        {"RELAIS_LOGIN_SOURCE_MAX_DELAY_SECONDS": "600"},  # a wait holds a web thread
    ],
)
def test_an_address_lockout_too_lax_or_a_wait_too_long_fails_check_deploy(good_env, change):
    assert listed_ids({**good_env, **change}) == {"relais.E023"}
