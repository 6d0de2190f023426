"""All configuration comes from RELAIS_* environment variables (see the README's table).

Defaults are the secure ones. Demo mode (RELAIS_DEMO=1) is the only mode that invents
secrets, and it keeps them under var/ with mode 0600; any other mode refuses to start
without them.
"""

import ipaddress
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from relais.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    read_or_create_secret,
)

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent.parent

DEMO = env_bool("RELAIS_DEMO", False)
DEBUG = env_bool("RELAIS_DEBUG", False)
VAR_DIR = Path(env_str("RELAIS_VAR_DIR", str(PROJECT_DIR / "var"))).resolve()

# --- Secrets -----------------------------------------------------------------------------
MIN_SECRET_KEY_LENGTH = 50
if DEMO:
    SECRET_KEY = env_str("RELAIS_SECRET_KEY") or read_or_create_secret(VAR_DIR / "secret_key")
else:
    SECRET_KEY = env_str("RELAIS_SECRET_KEY")
    secret_key_file = env_str("RELAIS_SECRET_KEY_FILE")
    if not SECRET_KEY and secret_key_file:
        SECRET_KEY = Path(secret_key_file).read_text().strip()
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "RELAIS_SECRET_KEY or RELAIS_SECRET_KEY_FILE is required (or RELAIS_DEMO=1)."
        )
    if len(SECRET_KEY) < MIN_SECRET_KEY_LENGTH or len(set(SECRET_KEY)) < 10:
        raise ImproperlyConfigured(
            f"RELAIS_SECRET_KEY is too weak: use {MIN_SECRET_KEY_LENGTH}+ random characters."
        )

# The Tink keyset file (field encryption + blind-index keys). Demo mode creates it.
KEYSET_FILE = Path(env_str("RELAIS_KEYSET_FILE", str(VAR_DIR / "keyset.json")))
# Optional key-encryption keyset (Tink JSON) that wraps the keyset file at rest.
KEYSET_WRAPPING_KEY_FILE = env_str("RELAIS_KEYSET_WRAPPING_KEY_FILE")
# Tink streaming-AEAD keyset for `relais backup`/`restore`; separate from the data keys.
BACKUP_KEY_FILE = env_str("RELAIS_BACKUP_KEY_FILE")
if not DEMO and not KEYSET_FILE.exists():
    raise ImproperlyConfigured(
        f"The keyset file {KEYSET_FILE} does not exist. Create it with "
        "`relais keys init` and set RELAIS_KEYSET_FILE (or use RELAIS_DEMO=1)."
    )

# --- Hosts and HTTP -------------------------------------------------------------------
ALLOWED_HOSTS = env_list("RELAIS_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("RELAIS_CSRF_TRUSTED_ORIGINS", [])
# Reverse proxies whose X-Forwarded-For is believed (addresses or networks). Limits and
# the audit log use the client's address; without this, behind a proxy, every client
# would share the proxy's address.
try:
    TRUSTED_PROXIES = [
        ipaddress.ip_network(item, strict=False) for item in env_list("RELAIS_TRUSTED_PROXIES", [])
    ]
except ValueError as error:
    raise ImproperlyConfigured(f"RELAIS_TRUSTED_PROXIES: {error}") from None
HTTPS = env_bool("RELAIS_HTTPS", not DEMO)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_SSL_REDIRECT = HTTPS and env_bool("RELAIS_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 63072000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("RELAIS_MAX_REQUEST_BYTES", 2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
# REST API: largest JSON body accepted, and requests a minute per credential.
API_MAX_BODY_BYTES = env_int("RELAIS_API_MAX_BODY_BYTES", 64 * 1024)
API_RATE_LIMIT = env_int("RELAIS_API_RATE_LIMIT", 600)
# CSV import: largest file accepted, and how long a checked file waits for confirmation.
IMPORT_MAX_BYTES = env_int("RELAIS_IMPORT_MAX_BYTES", 50 * 1024 * 1024)
IMPORT_BATCH_MINUTES = env_int("RELAIS_IMPORT_BATCH_MINUTES", 60)

# --- Sessions and login -----------------------------------------------------------------
# Counter computers are shared: a session dies after this many idle minutes.
SESSION_IDLE_MINUTES = env_int("RELAIS_SESSION_IDLE_MINUTES", 15)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_ENGINE = "django.contrib.sessions.backends.db"
LOGIN_MAX_FAILURES = env_int("RELAIS_LOGIN_MAX_FAILURES", 5)
LOGIN_LOCKOUT_MINUTES = env_int("RELAIS_LOGIN_LOCKOUT_MINUTES", 15)
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "screening:day"

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
OTP_TOTP_ISSUER = "Relais"

# --- Applications -----------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "relais",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "relais.crypto",
    "relais.audit",
    "relais.backup",
    "relais.accounts",
    "relais.directory",
    "relais.screening",
    "relais.transmission",
    "relais.patient_access",
    "relais.api",
    "relais.imports",
]

MIDDLEWARE = [
    "relais.audit.middleware.RequestIdMiddleware",
    # Outermost but one, so responses WhiteNoise serves get the headers too.
    "relais.security.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "relais.language.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "relais.accounts.middleware.PharmacyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Innermost, so its headers reach every patient response (errors and 404s included).
    "relais.patient_access.middleware.PatientPageMiddleware",
]

ROOT_URLCONF = "relais.urls"
WSGI_APPLICATION = "relais.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "relais.accounts.context_processors.pharmacy",
            ],
        },
    }
]

# --- Database ---------------------------------------------------------------------------
DATABASE_URL = env_str("RELAIS_DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "relais.sqlite3"),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- SI-DEP transmission (HL7 v2.5.1 over mutual TLS) -----------------------------------
# The demo talks to the bundled simulator with throwaway certificates kept under var/.
SIDEP_CERTS_DIR = VAR_DIR / "sidep-certs"
SIDEP_URL = env_str("RELAIS_SIDEP_URL", "https://127.0.0.1:8443/hl7/v2/batch" if DEMO else "")
SIDEP_CLIENT_CERT = env_str(
    "RELAIS_SIDEP_CLIENT_CERT", str(SIDEP_CERTS_DIR / "client.crt") if DEMO else ""
)
SIDEP_CLIENT_KEY = env_str(
    "RELAIS_SIDEP_CLIENT_KEY", str(SIDEP_CERTS_DIR / "client.key") if DEMO else ""
)
SIDEP_CA_FILE = env_str("RELAIS_SIDEP_CA_FILE", str(SIDEP_CERTS_DIR / "ca.crt") if DEMO else "")
SIDEP_CONNECT_TIMEOUT = env_float("RELAIS_SIDEP_CONNECT_TIMEOUT", 5.0)
SIDEP_READ_TIMEOUT = env_float("RELAIS_SIDEP_READ_TIMEOUT", 15.0)
SIDEP_BATCH_SIZE = env_int("RELAIS_SIDEP_BATCH_SIZE", 100)
if SIDEP_URL and not SIDEP_URL.startswith("https://"):
    raise ImproperlyConfigured("RELAIS_SIDEP_URL must be an https:// address.")
if SIDEP_CONNECT_TIMEOUT <= 0 or SIDEP_READ_TIMEOUT <= 0 or SIDEP_BATCH_SIZE < 1:
    raise ImproperlyConfigured("RELAIS_SIDEP_* timeouts and batch size must be positive.")

# --- Cache (shared store for rate limits once there is more than one process) ---------
CACHE_URL = env_str("RELAIS_CACHE_URL")
if CACHE_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Patient access: result links and the messages that carry them -------------------
PATIENT_LINK_DAYS = env_int("RELAIS_PATIENT_LINK_DAYS", 10)
PATIENT_LINK_MAX_TRIES = env_int("RELAIS_PATIENT_LINK_MAX_TRIES", 5)
# Requests per minute per client address on the patient pages (shared through the cache).
PATIENT_RATE_LIMIT = env_int("RELAIS_PATIENT_RATE_LIMIT", 30)
# How long a result stays open after the date of birth was checked.
PATIENT_SESSION_MINUTES = env_int("RELAIS_PATIENT_SESSION_MINUTES", 15)
NOTIFY_MAX_ATTEMPTS = env_int("RELAIS_NOTIFY_MAX_ATTEMPTS", 5)
NOTIFY_RETRY_SECONDS = env_int("RELAIS_NOTIFY_RETRY_SECONDS", 60)
SMS_BACKEND = env_str("RELAIS_SMS_BACKEND", "file" if DEMO else "http")
if SMS_BACKEND not in ("http", "file"):
    raise ImproperlyConfigured('RELAIS_SMS_BACKEND must be "http" or "file".')
SMS_URL = env_str("RELAIS_SMS_URL")
SMS_TOKEN = env_str("RELAIS_SMS_TOKEN")
if not SMS_TOKEN and env_str("RELAIS_SMS_TOKEN_FILE"):
    SMS_TOKEN = Path(env_str("RELAIS_SMS_TOKEN_FILE")).read_text().strip()
SMS_TIMEOUT_SECONDS = env_int("RELAIS_SMS_TIMEOUT_SECONDS", 10)
# The demo's "phone": the file SMS backend appends each message here.
SMS_OUTBOX_FILE = VAR_DIR / "sms" / "outbox.log"

# --- Transmission outbox: retries and leases --------------------------------------------
# A failed send waits a random time in [0, min(max, base * 2^(attempts-1))] seconds; after
# MAX_ATTEMPTS attempts (about 8 hours with these defaults) the row is dead-lettered.
TRANSMISSION_BACKOFF_BASE_SECONDS = env_int("RELAIS_TRANSMISSION_BACKOFF_BASE_SECONDS", 5)
TRANSMISSION_BACKOFF_MAX_SECONDS = env_int("RELAIS_TRANSMISSION_BACKOFF_MAX_SECONDS", 1800)
TRANSMISSION_MAX_ATTEMPTS = env_int("RELAIS_TRANSMISSION_MAX_ATTEMPTS", 40)
# A worker's hold on a claimed batch; a crashed worker's rows come back after it. Must
# be longer than a whole batch's send (connect + read timeouts).
TRANSMISSION_LEASE_SECONDS = env_int("RELAIS_TRANSMISSION_LEASE_SECONDS", 120)
if min(TRANSMISSION_BACKOFF_BASE_SECONDS, TRANSMISSION_MAX_ATTEMPTS) < 1 or (
    TRANSMISSION_BACKOFF_MAX_SECONDS < TRANSMISSION_BACKOFF_BASE_SECONDS
):
    raise ImproperlyConfigured(
        "RELAIS_TRANSMISSION_BACKOFF_* and MAX_ATTEMPTS must be positive, the max above the base."
    )
if TRANSMISSION_LEASE_SECONDS <= SIDEP_CONNECT_TIMEOUT + SIDEP_READ_TIMEOUT:
    raise ImproperlyConfigured(
        "RELAIS_TRANSMISSION_LEASE_SECONDS must exceed the SI-DEP connect + read timeouts."
    )

# --- Retention: identifying data of tests older than this is erased (`relais purge`) ---
RETENTION_DAYS = env_int("RELAIS_RETENTION_DAYS", 90)

# --- E-mail (activation, invitation and password-reset links; patient notifications) ---
EMAIL_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    # Demo: each message is a file under var/mail/, outside anything served.
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
}
EMAIL_BACKEND_NAME = env_str("RELAIS_EMAIL_BACKEND", "file" if DEMO else "smtp")
if EMAIL_BACKEND_NAME not in EMAIL_BACKENDS:
    raise ImproperlyConfigured(f"RELAIS_EMAIL_BACKEND must be one of {', '.join(EMAIL_BACKENDS)}.")
EMAIL_BACKEND = EMAIL_BACKENDS[EMAIL_BACKEND_NAME]
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_HOST = env_str("RELAIS_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("RELAIS_EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("RELAIS_EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("RELAIS_EMAIL_HOST_PASSWORD")
if not EMAIL_HOST_PASSWORD and env_str("RELAIS_EMAIL_HOST_PASSWORD_FILE"):
    EMAIL_HOST_PASSWORD = Path(env_str("RELAIS_EMAIL_HOST_PASSWORD_FILE")).read_text().strip()
EMAIL_USE_TLS = env_bool("RELAIS_EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = env_str("RELAIS_DEFAULT_FROM_EMAIL", "Relais <no-reply@relais.invalid>")
# Absolute links in e-mails start with this (checked by `relais check --deploy`).
BASE_URL = env_str(
    "RELAIS_BASE_URL", f"http://127.0.0.1:{env_str('RELAIS_PORT', '8000')}" if DEMO else ""
).rstrip("/")

# --- Onboarding ---------------------------------------------------------------------------
ACTIVATION_LINK_HOURS = env_int("RELAIS_ACTIVATION_LINK_HOURS", 72)
PASSWORD_RESET_LINK_MINUTES = env_int("RELAIS_PASSWORD_RESET_LINK_MINUTES", 60)
# Submissions per hour per client address of the public forms (application, reset).
PUBLIC_FORM_RATE_PER_HOUR = env_int("RELAIS_PUBLIC_FORM_RATE_PER_HOUR", 10)

# --- Languages --------------------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_str("RELAIS_TIME_ZONE", "Europe/Paris")
USE_TZ = True

# --- Static files: the only thing ever served from disk ---------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("RELAIS_STATIC_ROOT", str(VAR_DIR / "static")))
WHITENOISE_AUTOREFRESH = DEBUG
# No MEDIA_ROOT: Relais never stores uploaded or generated files.

# --- Logging: no personal data (see relais.audit.logging) -------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        "personal_data": {"()": "relais.audit.logging.PersonalDataFilter"},
        # Patient links carry their secret token in the path Django logs for 4xx answers.
        "link_tokens": {"()": "relais.patient_access.logging.LinkTokenFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["personal_data", "link_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("RELAIS_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django logs the request line of 4xx/5xx; our URLs carry no personal data.
        "django.security": {"level": "WARNING"},
    },
}
