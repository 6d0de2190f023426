"""`relais check --deploy`: every production setting that falls short is an error.

Django's own deployment checks run too (they are warnings); ours are errors, so the
command exits non-zero when any of them fails.
"""

import json
from pathlib import Path

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

ONE_YEAR = 365 * 24 * 3600


def _error(number: int, message: str, hint: str) -> Error:
    return Error(message, hint=hint, id=f"relais.E{number:03d}")


def _keyset_is_wrapped() -> bool:
    try:
        return bool(json.loads(Path(settings.KEYSET_FILE).read_text()).get("wrapped"))
    except (OSError, ValueError, AttributeError):
        return False


def _file_missing(path: str) -> bool:
    return not path or not Path(path).is_file()


@register(Tags.security, deploy=True)
def check_production_settings(app_configs=None, **kwargs):
    errors: list[CheckMessage] = []
    if settings.DEMO:
        errors.append(_error(1, "Demo mode is on.", "Unset RELAIS_DEMO in production."))
    if settings.DEBUG:
        errors.append(_error(2, "Debug mode is on.", "Unset RELAIS_DEBUG."))
    secret = settings.SECRET_KEY or ""
    if len(secret) < settings.MIN_SECRET_KEY_LENGTH or len(set(secret)) < 10:
        errors.append(_error(3, "The secret key is short or weak.", "Set 50+ random characters."))
    if not settings.KEYSET_WRAPPING_KEY_FILE or not _keyset_is_wrapped():
        errors.append(
            _error(
                4,
                "The keyset is stored unwrapped: the file alone decrypts every patient.",
                "Create it with `relais keys init --wrapping-key-file` and set "
                "RELAIS_KEYSET_WRAPPING_KEY_FILE (from a secret store, outside the data disk).",
            )
        )
    if not settings.HTTPS or settings.SECURE_HSTS_SECONDS < ONE_YEAR:
        errors.append(
            _error(5, "HTTPS is off, so no HSTS.", "Set RELAIS_HTTPS=1 behind a TLS proxy.")
        )
    if not (settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE):
        errors.append(
            _error(6, "Session and CSRF cookies are not marked Secure.", "Set RELAIS_HTTPS=1.")
        )
    if any(db["ENGINE"].endswith("sqlite3") for db in settings.DATABASES.values()):
        errors.append(
            _error(7, "SQLite is in use.", "Set RELAIS_DATABASE_URL to a PostgreSQL database.")
        )
    hosts = settings.ALLOWED_HOSTS
    if not hosts or any(host == "*" or host.startswith(".") for host in hosts):
        errors.append(
            _error(
                8, "Allowed hosts are open.", "List the exact host names in RELAIS_ALLOWED_HOSTS."
            )
        )
    errors += _sidep_errors()
    errors += _delivery_errors()
    if settings.RETENTION_DAYS <= 0:
        errors.append(
            _error(
                12,
                "Retention is off: identifying data is never purged.",
                "Set RELAIS_RETENTION_DAYS (90 by default).",
            )
        )
    if not settings.BACKUP_KEY_FILE:
        errors.append(
            Warning(
                "No backup key: `relais backup` cannot run.",
                hint="Create one with `relais keys init-backup` and set RELAIS_BACKUP_KEY_FILE.",
                id="relais.W001",
            )
        )
    return errors


def _delivery_errors() -> list[Error]:
    """Rate limits and the messages that carry links to patients and staff."""
    errors = []
    if not settings.CACHE_URL:
        errors.append(
            _error(
                13,
                "No shared cache: rate limits are counted in each web process's memory, so "
                "every extra process adds a full allowance for a guesser.",
                "Set RELAIS_CACHE_URL to a Redis database that every web process uses.",
            )
        )
    if settings.EMAIL_BACKEND_NAME != "smtp":
        errors.append(
            _error(
                14,
                f"E-mails go to the {settings.EMAIL_BACKEND_NAME} backend: their links "
                "(activation, reset, patient results) end up on disk or in the logs.",
                "Set RELAIS_EMAIL_BACKEND=smtp and the RELAIS_EMAIL_HOST settings.",
            )
        )
    if settings.SMS_BACKEND != "http" or not settings.SMS_URL.startswith("https://"):
        errors.append(
            _error(
                15,
                "SMS cannot reach patients: the backend writes to a file, or RELAIS_SMS_URL "
                "is missing or not https.",
                "Set RELAIS_SMS_BACKEND=http and the provider's https RELAIS_SMS_URL.",
            )
        )
    return errors


def _sidep_errors() -> list[Error]:
    url = getattr(settings, "SIDEP_URL", "")
    errors = []
    if not url.startswith("https://"):
        errors.append(
            _error(9, "RELAIS_SIDEP_URL is missing or not https.", "Set SI-DEP's https address.")
        )
    missing = [
        name
        for name, setting in (
            ("RELAIS_SIDEP_CLIENT_CERT", "SIDEP_CLIENT_CERT"),
            ("RELAIS_SIDEP_CLIENT_KEY", "SIDEP_CLIENT_KEY"),
        )
        if _file_missing(getattr(settings, setting, ""))
    ]
    if missing:
        errors.append(
            _error(
                10,
                f"No client certificate for mutual TLS with SI-DEP: {', '.join(missing)}.",
                "Point these settings at the certificate and key issued for SI-DEP.",
            )
        )
    if _file_missing(getattr(settings, "SIDEP_CA_FILE", "")):
        errors.append(
            _error(
                11,
                "RELAIS_SIDEP_CA_FILE is missing: SI-DEP's server certificate cannot be pinned.",
                "Point it at the CA bundle that signs SI-DEP's certificate.",
            )
        )
    return errors
