"""The configuration as a pure function of the environment: `parse(environ) -> Config`.

Every RELAIS_* variable is read here, with its default and its type; each field of Config is
the Django setting of the same name. `settings.py` calls `parse(os.environ)` and assigns the
fields; tests call `parse` with a dict. Parsing writes nothing and checks no production rule:
the demo's generated secrets are `with_demo_secrets`, the production rules live in
`relais.checks` (run by `relais check --deploy`, and at start-up by `settings.py`).
"""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from relais.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
    read_or_create_secret,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
HSTS_SECONDS = 63072000  # two years
EMAIL_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    # Demo: each message is a file under var/mail/, outside anything served.
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
}
SMS_BACKENDS = ("http", "file")
# Redis answers in a millisecond; one that takes longer than this is treated as down.
REDIS_TIMEOUT_SECONDS = 0.25


@dataclass(frozen=True)
class Config:
    DEMO: bool
    DEBUG: bool
    VAR_DIR: Path
    # Secrets ("" when unset: demo mode generates it, production refuses to start).
    SECRET_KEY: str
    KEYSET_FILE: Path
    KEYSET_WRAPPING_KEY_FILE: str
    BACKUP_KEY_FILE: str
    # The audit chain's HMAC key ("" when unset: demo mode generates it) and its anchors.
    AUDIT_KEY: str
    AUDIT_ANCHOR_FILE: str
    AUDIT_ANCHOR_MINUTES: int
    # Hosts and HTTP.
    ALLOWED_HOSTS: list[str]
    CSRF_TRUSTED_ORIGINS: list[str]
    TRUSTED_PROXIES: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    HTTPS: bool
    SECURE_PROXY_SSL_HEADER: tuple[str, str] | None
    SECURE_SSL_REDIRECT: bool
    SECURE_HSTS_SECONDS: int
    SECURE_HSTS_INCLUDE_SUBDOMAINS: bool
    SESSION_COOKIE_SECURE: bool
    CSRF_COOKIE_SECURE: bool
    DATA_UPLOAD_MAX_MEMORY_SIZE: int
    FILE_UPLOAD_MAX_MEMORY_SIZE: int
    API_MAX_BODY_BYTES: int
    API_MAX_BATCH_BYTES: int
    API_RATE_LIMIT: int
    IMPORT_MAX_BYTES: int
    IMPORT_BATCH_MINUTES: int
    # Sessions and login.
    SESSION_IDLE_MINUTES: int
    SESSION_COOKIE_AGE: int
    DRAFT_MINUTES: int
    LOGIN_MAX_FAILURES: int
    LOGIN_LOCKOUT_MINUTES: int
    LOGIN_SOURCE_SLOW_AFTER: int
    LOGIN_SOURCE_MAX_DELAY_SECONDS: float
    LOGIN_SOURCE_MAX_FAILURES: int
    # Database and cache.
    DATABASE_URL: str
    DATABASE_URL_FROM_FILE: bool
    DATABASES: dict[str, dict[str, Any]]
    DATABASE_STATEMENT_TIMEOUT: float
    DATABASE_CONNECT_TIMEOUT: int
    CACHE_URL: str
    CACHES: dict[str, dict[str, Any]]
    # SI-DEP transmission.
    SIDEP_CERTS_DIR: Path
    SIDEP_URL: str
    SIDEP_CLIENT_CERT: str
    SIDEP_CLIENT_KEY: str
    SIDEP_CA_FILE: str
    SIDEP_CONNECT_TIMEOUT: float
    SIDEP_READ_TIMEOUT: float
    SIDEP_BATCH_SIZE: int
    TRANSMISSION_BACKOFF_BASE_SECONDS: int
    TRANSMISSION_BACKOFF_MAX_SECONDS: int
    TRANSMISSION_MAX_ATTEMPTS: int
    TRANSMISSION_LEASE_SECONDS: int
    # The worker.
    WORKER_MAX_FAILED_ROUNDS: int
    # Patient access and the messages that carry result links.
    PATIENT_LINK_DAYS: int
    PATIENT_LINK_MAX_TRIES: int
    PATIENT_RATE_LIMIT: int
    PATIENT_SESSION_MINUTES: int
    NOTIFY_MAX_ATTEMPTS: int
    # Webhooks to the pharmacies' software (relais.api.webhooks).
    WEBHOOK_ALLOW_LOOPBACK: bool
    WEBHOOK_MAX_ATTEMPTS: int
    NOTIFY_RETRY_SECONDS: int
    SMS_BACKEND: str
    SMS_URL: str
    SMS_TOKEN: str
    SMS_TIMEOUT_SECONDS: int
    SMS_OUTBOX_FILE: Path
    RETENTION_DAYS: int
    # E-mail.
    EMAIL_BACKEND_NAME: str
    EMAIL_BACKEND: str
    EMAIL_FILE_PATH: Path
    EMAIL_HOST: str
    EMAIL_PORT: int
    EMAIL_HOST_USER: str
    EMAIL_HOST_PASSWORD: str
    EMAIL_USE_TLS: bool
    DEFAULT_FROM_EMAIL: str
    BASE_URL: str
    # Onboarding.
    ACTIVATION_LINK_HOURS: int
    PASSWORD_RESET_LINK_MINUTES: int
    PUBLIC_FORM_RATE_PER_HOUR: int
    # Pro Santé Connect (on when the issuer is set) and the activation letter.
    PSC_ISSUER: str
    PSC_CLIENT_ID: str
    PSC_CLIENT_SECRET: str
    PSC_SCOPE: str
    PSC_ACR_VALUES: str
    PSC_INSECURE_LOOPBACK: bool
    PSC_TIMEOUT_SECONDS: float
    ACTIVATION_LETTER_DAYS: int
    ACTIVATION_LETTER_MAX_TRIES: int
    # Time, static files, logs.
    TIME_ZONE: str
    STATIC_ROOT: Path
    WHITENOISE_AUTOREFRESH: bool
    LOG_LEVEL: str


def parse(environ: Mapping[str, str]) -> Config:
    """Every RELAIS_* variable, typed and checked; ImproperlyConfigured names a bad one."""
    demo = env_bool(environ, "RELAIS_DEMO", False)
    debug = env_bool(environ, "RELAIS_DEBUG", False)
    var_dir = Path(env_str(environ, "RELAIS_VAR_DIR", str(PROJECT_DIR / "var"))).resolve()
    https = env_bool(environ, "RELAIS_HTTPS", not demo)
    max_request_bytes = env_int(environ, "RELAIS_MAX_REQUEST_BYTES", 2 * 1024 * 1024)
    session_idle_minutes = env_int(environ, "RELAIS_SESSION_IDLE_MINUTES", 15)
    # May hold the database password: like the other secrets, it can come from a file.
    database_url = env_secret(environ, "RELAIS_DATABASE_URL")
    cache_url = env_str(environ, "RELAIS_CACHE_URL")
    statement_timeout = env_float(environ, "RELAIS_DATABASE_STATEMENT_TIMEOUT", 20.0)
    connect_timeout = env_int(environ, "RELAIS_DATABASE_CONNECT_TIMEOUT", 3)
    sidep_certs_dir = var_dir / "sidep-certs"
    email_backend_name = env_str(environ, "RELAIS_EMAIL_BACKEND", "file" if demo else "smtp")
    if email_backend_name not in EMAIL_BACKENDS:
        raise ImproperlyConfigured(
            f"RELAIS_EMAIL_BACKEND must be one of {', '.join(EMAIL_BACKENDS)}."
        )
    demo_base_url = f"http://127.0.0.1:{env_str(environ, 'RELAIS_PORT', '8000')}" if demo else ""
    config = Config(
        DEMO=demo,
        DEBUG=debug,
        VAR_DIR=var_dir,
        SECRET_KEY=env_secret(environ, "RELAIS_SECRET_KEY"),
        KEYSET_FILE=Path(env_str(environ, "RELAIS_KEYSET_FILE", str(var_dir / "keyset.json"))),
        # Optional key-encryption keyset (Tink JSON) that wraps the keyset file at rest.
        KEYSET_WRAPPING_KEY_FILE=env_str(environ, "RELAIS_KEYSET_WRAPPING_KEY_FILE"),
        # Tink streaming-AEAD keyset for `relais backup`/`restore`; separate from the data keys.
        BACKUP_KEY_FILE=env_str(environ, "RELAIS_BACKUP_KEY_FILE"),
        # Keys the audit chain's hashes; lives outside the database like the secret key.
        AUDIT_KEY=env_secret(environ, "RELAIS_AUDIT_KEY"),
        # Signed anchors of the chain, appended where the database cannot rewrite them;
        # "" turns them off (flagged by `check --deploy`).
        AUDIT_ANCHOR_FILE=env_str(
            environ, "RELAIS_AUDIT_ANCHOR_FILE", str(var_dir / "audit-anchors.log")
        ),
        AUDIT_ANCHOR_MINUTES=env_int(environ, "RELAIS_AUDIT_ANCHOR_MINUTES", 60),
        ALLOWED_HOSTS=env_list(environ, "RELAIS_ALLOWED_HOSTS", ["127.0.0.1", "localhost"]),
        CSRF_TRUSTED_ORIGINS=env_list(environ, "RELAIS_CSRF_TRUSTED_ORIGINS", []),
        TRUSTED_PROXIES=_trusted_proxies(environ),
        HTTPS=https,
        SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https") if https else None,
        SECURE_SSL_REDIRECT=https and env_bool(environ, "RELAIS_SSL_REDIRECT", True),
        SECURE_HSTS_SECONDS=HSTS_SECONDS if https else 0,
        SECURE_HSTS_INCLUDE_SUBDOMAINS=https,
        SESSION_COOKIE_SECURE=https,
        CSRF_COOKIE_SECURE=https,
        DATA_UPLOAD_MAX_MEMORY_SIZE=max_request_bytes,
        FILE_UPLOAD_MAX_MEMORY_SIZE=max_request_bytes,
        API_MAX_BODY_BYTES=env_int(environ, "RELAIS_API_MAX_BODY_BYTES", 64 * 1024),
        # A batch of 500 results: about 600 bytes each as pharmacy software sends them.
        API_MAX_BATCH_BYTES=env_int(environ, "RELAIS_API_MAX_BATCH_BYTES", 1024 * 1024),
        API_RATE_LIMIT=env_int(environ, "RELAIS_API_RATE_LIMIT", 600),
        IMPORT_MAX_BYTES=env_int(environ, "RELAIS_IMPORT_MAX_BYTES", 50 * 1024 * 1024),
        IMPORT_BATCH_MINUTES=env_int(environ, "RELAIS_IMPORT_BATCH_MINUTES", 60),
        SESSION_IDLE_MINUTES=session_idle_minutes,
        SESSION_COOKIE_AGE=session_idle_minutes * 60,
        DRAFT_MINUTES=env_int(environ, "RELAIS_DRAFT_MINUTES", 30),
        LOGIN_MAX_FAILURES=env_int(environ, "RELAIS_LOGIN_MAX_FAILURES", 5),
        LOGIN_LOCKOUT_MINUTES=env_int(environ, "RELAIS_LOGIN_LOCKOUT_MINUTES", 15),
        LOGIN_SOURCE_SLOW_AFTER=env_int(environ, "RELAIS_LOGIN_SOURCE_SLOW_AFTER", 5),
        LOGIN_SOURCE_MAX_DELAY_SECONDS=env_float(
            environ, "RELAIS_LOGIN_SOURCE_MAX_DELAY_SECONDS", 4.0
        ),
        LOGIN_SOURCE_MAX_FAILURES=env_int(environ, "RELAIS_LOGIN_SOURCE_MAX_FAILURES", 50),
        DATABASE_URL=database_url,
        DATABASE_URL_FROM_FILE=bool(env_str(environ, "RELAIS_DATABASE_URL_FILE")),
        DATABASES={"default": _database(database_url, var_dir, statement_timeout, connect_timeout)},
        DATABASE_STATEMENT_TIMEOUT=statement_timeout,
        DATABASE_CONNECT_TIMEOUT=connect_timeout,
        CACHE_URL=cache_url,
        CACHES={"default": _cache(cache_url)},
        SIDEP_CERTS_DIR=sidep_certs_dir,
        SIDEP_URL=env_str(
            environ, "RELAIS_SIDEP_URL", "https://127.0.0.1:8443/hl7/v2/batch" if demo else ""
        ),
        SIDEP_CLIENT_CERT=env_str(
            environ, "RELAIS_SIDEP_CLIENT_CERT", str(sidep_certs_dir / "client.crt") if demo else ""
        ),
        SIDEP_CLIENT_KEY=env_str(
            environ, "RELAIS_SIDEP_CLIENT_KEY", str(sidep_certs_dir / "client.key") if demo else ""
        ),
        SIDEP_CA_FILE=env_str(
            environ, "RELAIS_SIDEP_CA_FILE", str(sidep_certs_dir / "ca.crt") if demo else ""
        ),
        SIDEP_CONNECT_TIMEOUT=env_float(environ, "RELAIS_SIDEP_CONNECT_TIMEOUT", 5.0),
        SIDEP_READ_TIMEOUT=env_float(environ, "RELAIS_SIDEP_READ_TIMEOUT", 15.0),
        SIDEP_BATCH_SIZE=env_int(environ, "RELAIS_SIDEP_BATCH_SIZE", 100),
        # A failed send waits a random time in [0, min(max, base * 2^(attempts-1))] seconds;
        # after MAX_ATTEMPTS attempts (about 8 hours with these defaults) it is dead-lettered.
        TRANSMISSION_BACKOFF_BASE_SECONDS=env_int(
            environ, "RELAIS_TRANSMISSION_BACKOFF_BASE_SECONDS", 5
        ),
        TRANSMISSION_BACKOFF_MAX_SECONDS=env_int(
            environ, "RELAIS_TRANSMISSION_BACKOFF_MAX_SECONDS", 1800
        ),
        TRANSMISSION_MAX_ATTEMPTS=env_int(environ, "RELAIS_TRANSMISSION_MAX_ATTEMPTS", 40),
        # A worker's hold on a claimed batch; a crashed worker's rows come back after it.
        TRANSMISSION_LEASE_SECONDS=env_int(environ, "RELAIS_TRANSMISSION_LEASE_SECONDS", 120),
        # Consecutive rounds in which every job failed (the database unreachable, most
        # likely) before the worker exits non-zero for its supervisor to restart it.
        WORKER_MAX_FAILED_ROUNDS=env_int(environ, "RELAIS_WORKER_MAX_FAILED_ROUNDS", 60),
        PATIENT_LINK_DAYS=env_int(environ, "RELAIS_PATIENT_LINK_DAYS", 10),
        PATIENT_LINK_MAX_TRIES=env_int(environ, "RELAIS_PATIENT_LINK_MAX_TRIES", 5),
        # Requests per minute per client address on the patient pages (through the cache).
        PATIENT_RATE_LIMIT=env_int(environ, "RELAIS_PATIENT_RATE_LIMIT", 30),
        # How long a result stays open after the date of birth was checked.
        PATIENT_SESSION_MINUTES=env_int(environ, "RELAIS_PATIENT_SESSION_MINUTES", 15),
        NOTIFY_MAX_ATTEMPTS=env_int(environ, "RELAIS_NOTIFY_MAX_ATTEMPTS", 5),
        # Tests and the demo only: lets a webhook reach 127.0.0.1 or ::1, over plain http.
        WEBHOOK_ALLOW_LOOPBACK=env_bool(environ, "RELAIS_WEBHOOK_ALLOW_LOOPBACK", False),
        # About a day of retries with the backoff in relais.api.webhooks.
        WEBHOOK_MAX_ATTEMPTS=env_int(environ, "RELAIS_WEBHOOK_MAX_ATTEMPTS", 12),
        NOTIFY_RETRY_SECONDS=env_int(environ, "RELAIS_NOTIFY_RETRY_SECONDS", 60),
        SMS_BACKEND=env_str(environ, "RELAIS_SMS_BACKEND", "file" if demo else "http"),
        SMS_URL=env_str(environ, "RELAIS_SMS_URL"),
        SMS_TOKEN=env_secret(environ, "RELAIS_SMS_TOKEN"),
        SMS_TIMEOUT_SECONDS=env_int(environ, "RELAIS_SMS_TIMEOUT_SECONDS", 10),
        # The demo's "phone": the file SMS backend appends each message here.
        SMS_OUTBOX_FILE=var_dir / "sms" / "outbox.log",
        # Identifying data of tests older than this is erased (`relais purge`).
        RETENTION_DAYS=env_int(environ, "RELAIS_RETENTION_DAYS", 90),
        EMAIL_BACKEND_NAME=email_backend_name,
        EMAIL_BACKEND=EMAIL_BACKENDS[email_backend_name],
        EMAIL_FILE_PATH=var_dir / "mail",
        EMAIL_HOST=env_str(environ, "RELAIS_EMAIL_HOST", "localhost"),
        EMAIL_PORT=env_int(environ, "RELAIS_EMAIL_PORT", 587),
        EMAIL_HOST_USER=env_str(environ, "RELAIS_EMAIL_HOST_USER"),
        EMAIL_HOST_PASSWORD=env_secret(environ, "RELAIS_EMAIL_HOST_PASSWORD"),
        EMAIL_USE_TLS=env_bool(environ, "RELAIS_EMAIL_USE_TLS", True),
        DEFAULT_FROM_EMAIL=env_str(
            environ, "RELAIS_DEFAULT_FROM_EMAIL", "Relais <no-reply@relais.invalid>"
        ),
        # Absolute links in e-mails start with this.
        BASE_URL=env_str(environ, "RELAIS_BASE_URL", demo_base_url).rstrip("/"),
        ACTIVATION_LINK_HOURS=env_int(environ, "RELAIS_ACTIVATION_LINK_HOURS", 72),
        PASSWORD_RESET_LINK_MINUTES=env_int(environ, "RELAIS_PASSWORD_RESET_LINK_MINUTES", 60),
        # Submissions per hour per client address of the public forms (application, reset).
        PUBLIC_FORM_RATE_PER_HOUR=env_int(environ, "RELAIS_PUBLIC_FORM_RATE_PER_HOUR", 10),
        # Pro Santé Connect: the issuer's https address turns it on (docs/onboarding.md).
        PSC_ISSUER=env_str(environ, "RELAIS_PSC_ISSUER").rstrip("/"),
        PSC_CLIENT_ID=env_str(environ, "RELAIS_PSC_CLIENT_ID"),
        PSC_CLIENT_SECRET=env_secret(environ, "RELAIS_PSC_CLIENT_SECRET"),
        # What PSC documents for its identity claims, and the level asked for.
        PSC_SCOPE=env_str(environ, "RELAIS_PSC_SCOPE", "openid scope_all"),
        PSC_ACR_VALUES=env_str(environ, "RELAIS_PSC_ACR_VALUES", "eidas1"),
        # Tests and demos only: an http:// issuer on the loopback interface (flagged by
        # `check --deploy`); anything else must be https.
        PSC_INSECURE_LOOPBACK=env_bool(environ, "RELAIS_PSC_INSECURE_LOOPBACK", False),
        PSC_TIMEOUT_SECONDS=env_float(environ, "RELAIS_PSC_TIMEOUT_SECONDS", 10.0),
        # The code of the activation letter posted to the pharmacy's directory address.
        ACTIVATION_LETTER_DAYS=env_int(environ, "RELAIS_ACTIVATION_LETTER_DAYS", 30),
        ACTIVATION_LETTER_MAX_TRIES=env_int(environ, "RELAIS_ACTIVATION_LETTER_MAX_TRIES", 5),
        TIME_ZONE=env_str(environ, "RELAIS_TIME_ZONE", "Europe/Paris"),
        STATIC_ROOT=Path(env_str(environ, "RELAIS_STATIC_ROOT", str(var_dir / "static"))),
        WHITENOISE_AUTOREFRESH=debug,
        LOG_LEVEL=env_str(environ, "RELAIS_LOG_LEVEL", "INFO"),
    )
    _check_consistency(config)
    return config


def with_demo_secrets(config: Config) -> Config:
    """Demo mode: a secret key and an audit key generated once under var/ (mode 0600) when
    none is given.

    A side effect kept out of `parse`; the demo's keyset is created by `relais.crypto`.
    """
    return replace(
        config,
        SECRET_KEY=config.SECRET_KEY or read_or_create_secret(config.VAR_DIR / "secret_key"),
        AUDIT_KEY=config.AUDIT_KEY or read_or_create_secret(config.VAR_DIR / "audit_key"),
    )


def _trusted_proxies(
    environ: Mapping[str, str],
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Reverse proxies whose X-Forwarded-For is believed (addresses or networks).

    Limits and the audit log use the client's address; without this, behind a proxy, every
    client would share the proxy's address.
    """
    try:
        return [
            ipaddress.ip_network(item, strict=False)
            for item in env_list(environ, "RELAIS_TRUSTED_PROXIES", [])
        ]
    except ValueError as error:
        raise ImproperlyConfigured(f"RELAIS_TRUSTED_PROXIES: {error}") from None


def _database(
    database_url: str, var_dir: Path, statement_timeout: float, connect_timeout: int
) -> dict[str, Any]:
    if database_url:
        database: dict[str, Any] = dict(dj_database_url.parse(database_url, conn_max_age=60))
        if database["ENGINE"].endswith("postgresql"):
            database["OPTIONS"] = _postgresql_options(
                dict(database.get("OPTIONS") or {}), statement_timeout, connect_timeout
            )
        # A connection kept across requests (or worker rounds) is checked before reuse:
        # after a server restart it is replaced instead of failing every query.
        database["CONN_HEALTH_CHECKS"] = True
        return database
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": var_dir / "relais.sqlite3",
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


def _postgresql_options(
    options: dict[str, Any], statement_timeout: float, connect_timeout: int
) -> dict[str, Any]:
    """Never wait forever on the server: a bounded connect, a server-side statement
    timeout (relais.lib.database adds the client-side deadline for a frozen server), and
    TCP keepalives so a connection to a vanished host is noticed while idle."""
    server_options = options.get("options", "")
    if statement_timeout > 0:
        milliseconds = round(statement_timeout * 1000)
        server_options = f"{server_options} -c statement_timeout={milliseconds}".strip()
    bounded = {
        **options,
        "connect_timeout": connect_timeout,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    if server_options:
        bounded["options"] = server_options
    return bounded


def _cache(cache_url: str) -> dict[str, Any]:
    """The shared store for rate limits once there is more than one process. A request
    waits at most REDIS_TIMEOUT_SECONDS for it; relais.lib.ratelimit counts in the
    process when it does not answer."""
    if cache_url:
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": cache_url,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
            },
        }
    return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


def _check_consistency(config: Config) -> None:
    """Values no mode can run with (production rules are `relais.checks`)."""
    if config.SIDEP_URL and not config.SIDEP_URL.startswith("https://"):
        raise ImproperlyConfigured("RELAIS_SIDEP_URL must be an https:// address.")
    if (
        config.SIDEP_CONNECT_TIMEOUT <= 0
        or config.SIDEP_READ_TIMEOUT <= 0
        or config.SIDEP_BATCH_SIZE < 1
    ):
        raise ImproperlyConfigured("RELAIS_SIDEP_* timeouts and batch size must be positive.")
    if config.DATABASE_STATEMENT_TIMEOUT < 0 or config.DATABASE_CONNECT_TIMEOUT < 2:
        raise ImproperlyConfigured(
            "RELAIS_DATABASE_STATEMENT_TIMEOUT must be 0 (off) or positive, "
            "RELAIS_DATABASE_CONNECT_TIMEOUT at least 2 (seconds)."
        )
    if config.WORKER_MAX_FAILED_ROUNDS < 1:
        raise ImproperlyConfigured("RELAIS_WORKER_MAX_FAILED_ROUNDS must be at least 1.")
    if config.ACTIVATION_LETTER_DAYS < 1 or config.ACTIVATION_LETTER_MAX_TRIES < 1:
        raise ImproperlyConfigured(
            "RELAIS_ACTIVATION_LETTER_DAYS and RELAIS_ACTIVATION_LETTER_MAX_TRIES must be positive."
        )
    if config.WEBHOOK_MAX_ATTEMPTS < 1:
        raise ImproperlyConfigured("RELAIS_WEBHOOK_MAX_ATTEMPTS must be at least 1.")
    if config.AUDIT_ANCHOR_MINUTES < 1:
        raise ImproperlyConfigured("RELAIS_AUDIT_ANCHOR_MINUTES must be positive.")
    if config.SMS_BACKEND not in SMS_BACKENDS:
        raise ImproperlyConfigured('RELAIS_SMS_BACKEND must be "http" or "file".')
    if min(config.TRANSMISSION_BACKOFF_BASE_SECONDS, config.TRANSMISSION_MAX_ATTEMPTS) < 1 or (
        config.TRANSMISSION_BACKOFF_MAX_SECONDS < config.TRANSMISSION_BACKOFF_BASE_SECONDS
    ):
        raise ImproperlyConfigured(
            "RELAIS_TRANSMISSION_BACKOFF_* and MAX_ATTEMPTS must be positive, "
            "the max above the base."
        )
    # The lease must outlast a whole batch's send (connect + read timeouts).
    whole_send_seconds = config.SIDEP_CONNECT_TIMEOUT + config.SIDEP_READ_TIMEOUT
    if config.TRANSMISSION_LEASE_SECONDS <= whole_send_seconds:
        raise ImproperlyConfigured(
            "RELAIS_TRANSMISSION_LEASE_SECONDS must exceed the SI-DEP connect + read timeouts."
        )
