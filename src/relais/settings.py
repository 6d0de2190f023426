"""Django settings: the static configuration, and the values `relais.config.parse` reads from
the RELAIS_* environment variables (see the README's table).

Defaults are the secure ones. Demo mode (RELAIS_DEMO=1) is the only mode that invents
secrets, and it keeps them under var/ with mode 0600; any other mode refuses to start
without a strong secret key and an existing keyset (the rules of `relais.checks`).
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from relais.checks import startup_errors
from relais.config import parse, with_demo_secrets

BASE_DIR = Path(__file__).resolve().parent

config = parse(os.environ)
if config.DEMO:
    config = with_demo_secrets(config)
elif errors := startup_errors(config):
    raise ImproperlyConfigured(" ".join(f"{error.msg} {error.hint}" for error in errors))

DEMO = config.DEMO
DEBUG = config.DEBUG
VAR_DIR = config.VAR_DIR

# --- Secrets and keys (the keyset: field encryption and blind-index keys) -----------------
SECRET_KEY = config.SECRET_KEY
KEYSET_FILE = config.KEYSET_FILE
KEYSET_WRAPPING_KEY_FILE = config.KEYSET_WRAPPING_KEY_FILE
BACKUP_KEY_FILE = config.BACKUP_KEY_FILE
AUDIT_KEY = config.AUDIT_KEY
AUDIT_ANCHOR_FILE = config.AUDIT_ANCHOR_FILE
AUDIT_ANCHOR_MINUTES = config.AUDIT_ANCHOR_MINUTES

# --- Hosts and HTTP -------------------------------------------------------------------
ALLOWED_HOSTS = config.ALLOWED_HOSTS
CSRF_TRUSTED_ORIGINS = config.CSRF_TRUSTED_ORIGINS
TRUSTED_PROXIES = config.TRUSTED_PROXIES
HTTPS = config.HTTPS
SECURE_PROXY_SSL_HEADER = config.SECURE_PROXY_SSL_HEADER
SECURE_SSL_REDIRECT = config.SECURE_SSL_REDIRECT
SECURE_HSTS_SECONDS = config.SECURE_HSTS_SECONDS
SECURE_HSTS_INCLUDE_SUBDOMAINS = config.SECURE_HSTS_INCLUDE_SUBDOMAINS
SESSION_COOKIE_SECURE = config.SESSION_COOKIE_SECURE
CSRF_COOKIE_SECURE = config.CSRF_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
DATA_UPLOAD_MAX_MEMORY_SIZE = config.DATA_UPLOAD_MAX_MEMORY_SIZE
FILE_UPLOAD_MAX_MEMORY_SIZE = config.FILE_UPLOAD_MAX_MEMORY_SIZE
# Uploads (CSV files of results) stay in memory, capped, never in a clear temporary file.
FILE_UPLOAD_HANDLERS = ["relais.lib.uploads.BoundedMemoryFileUploadHandler"]
API_MAX_BODY_BYTES = config.API_MAX_BODY_BYTES
API_MAX_BATCH_BYTES = config.API_MAX_BATCH_BYTES
API_RATE_LIMIT = config.API_RATE_LIMIT
IMPORT_MAX_BYTES = config.IMPORT_MAX_BYTES
IMPORT_BATCH_MINUTES = config.IMPORT_BATCH_MINUTES

# --- Sessions and login -----------------------------------------------------------------
# Counter computers are shared: a session dies after this many idle minutes.
SESSION_IDLE_MINUTES = config.SESSION_IDLE_MINUTES
SESSION_COOKIE_AGE = config.SESSION_COOKIE_AGE
# How long a form posted after its session ended is kept (encrypted) for its user to log
# in again and find it (relais.accounts.drafts).
DRAFT_MINUTES = config.DRAFT_MINUTES
# Written when changed, and refreshed well before the idle time runs out, not on every
# page (relais.accounts.sessions); in the database, so the demo needs no other server.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_ENGINE = "relais.accounts.sessions"
LOGIN_MAX_FAILURES = config.LOGIN_MAX_FAILURES
LOGIN_LOCKOUT_MINUTES = config.LOGIN_LOCKOUT_MINUTES
# A source address (a pharmacy's one public address, or a proxy's client) is only slowed
# by its failures, then blocked far later than an account: see accounts/throttle.py.
LOGIN_SOURCE_SLOW_AFTER = config.LOGIN_SOURCE_SLOW_AFTER
LOGIN_SOURCE_MAX_DELAY_SECONDS = config.LOGIN_SOURCE_MAX_DELAY_SECONDS
LOGIN_SOURCE_MAX_FAILURES = config.LOGIN_SOURCE_MAX_FAILURES
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
    # Before anything reads the request: an over-long URL is refused as it arrives.
    "relais.api.middleware.UrlLengthMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "relais.language.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # The user, its second factor and its pharmacy in one query (Django's
    # AuthenticationMiddleware and django-otp's OTPMiddleware, merged).
    "relais.accounts.middleware.StaffSessionMiddleware",
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

# --- Database and cache (the cache is shared by every process: rate limits) -------------
DATABASE_URL = config.DATABASE_URL
DATABASE_URL_FROM_FILE = config.DATABASE_URL_FROM_FILE
DATABASES = config.DATABASES
# Seconds a statement may run (server-side timeout, plus a client-side deadline for a
# frozen server: relais.lib.database); 0 turns both off.
DATABASE_STATEMENT_TIMEOUT = config.DATABASE_STATEMENT_TIMEOUT
DATABASE_CONNECT_TIMEOUT = config.DATABASE_CONNECT_TIMEOUT
if not DATABASE_URL:
    VAR_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)  # SQLite's file lives there
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
CACHE_URL = config.CACHE_URL
CACHES = config.CACHES

# --- SI-DEP transmission (HL7 v2.5.1 over mutual TLS) -----------------------------------
# The demo talks to the bundled simulator with throwaway certificates kept under var/.
SIDEP_CERTS_DIR = config.SIDEP_CERTS_DIR
SIDEP_URL = config.SIDEP_URL
SIDEP_CLIENT_CERT = config.SIDEP_CLIENT_CERT
SIDEP_CLIENT_KEY = config.SIDEP_CLIENT_KEY
SIDEP_CA_FILE = config.SIDEP_CA_FILE
SIDEP_CONNECT_TIMEOUT = config.SIDEP_CONNECT_TIMEOUT
SIDEP_READ_TIMEOUT = config.SIDEP_READ_TIMEOUT
SIDEP_BATCH_SIZE = config.SIDEP_BATCH_SIZE
TRANSMISSION_BACKOFF_BASE_SECONDS = config.TRANSMISSION_BACKOFF_BASE_SECONDS
TRANSMISSION_BACKOFF_MAX_SECONDS = config.TRANSMISSION_BACKOFF_MAX_SECONDS
TRANSMISSION_MAX_ATTEMPTS = config.TRANSMISSION_MAX_ATTEMPTS
TRANSMISSION_LEASE_SECONDS = config.TRANSMISSION_LEASE_SECONDS

# --- The worker: exits non-zero after this many rounds in a row in which every job failed,
# so that its supervisor restarts it (relais.worker) -------------------------------------
WORKER_MAX_FAILED_ROUNDS = config.WORKER_MAX_FAILED_ROUNDS

# --- Patient access: result links and the messages that carry them -------------------
PATIENT_LINK_DAYS = config.PATIENT_LINK_DAYS
PATIENT_LINK_MAX_TRIES = config.PATIENT_LINK_MAX_TRIES
PATIENT_RATE_LIMIT = config.PATIENT_RATE_LIMIT
PATIENT_SESSION_MINUTES = config.PATIENT_SESSION_MINUTES
NOTIFY_MAX_ATTEMPTS = config.NOTIFY_MAX_ATTEMPTS
NOTIFY_RETRY_SECONDS = config.NOTIFY_RETRY_SECONDS
SMS_BACKEND = config.SMS_BACKEND
SMS_URL = config.SMS_URL
SMS_TOKEN = config.SMS_TOKEN
SMS_TIMEOUT_SECONDS = config.SMS_TIMEOUT_SECONDS
SMS_OUTBOX_FILE = config.SMS_OUTBOX_FILE

# --- Webhooks to the pharmacies' software (relais.api.webhooks) ----------------------
WEBHOOK_ALLOW_LOOPBACK = config.WEBHOOK_ALLOW_LOOPBACK
WEBHOOK_MAX_ATTEMPTS = config.WEBHOOK_MAX_ATTEMPTS

# --- Retention: identifying data of tests older than this is erased (`relais purge`) ---
RETENTION_DAYS = config.RETENTION_DAYS

# --- E-mail (activation, invitation and password-reset links; patient notifications) ---
EMAIL_BACKEND_NAME = config.EMAIL_BACKEND_NAME
EMAIL_BACKEND = config.EMAIL_BACKEND
EMAIL_FILE_PATH = config.EMAIL_FILE_PATH
EMAIL_HOST = config.EMAIL_HOST
EMAIL_PORT = config.EMAIL_PORT
EMAIL_HOST_USER = config.EMAIL_HOST_USER
EMAIL_HOST_PASSWORD = config.EMAIL_HOST_PASSWORD
EMAIL_USE_TLS = config.EMAIL_USE_TLS
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = config.DEFAULT_FROM_EMAIL
BASE_URL = config.BASE_URL

# --- Onboarding ---------------------------------------------------------------------------
ACTIVATION_LINK_HOURS = config.ACTIVATION_LINK_HOURS
PASSWORD_RESET_LINK_MINUTES = config.PASSWORD_RESET_LINK_MINUTES
PUBLIC_FORM_RATE_PER_HOUR = config.PUBLIC_FORM_RATE_PER_HOUR
ACTIVATION_LETTER_DAYS = config.ACTIVATION_LETTER_DAYS
ACTIVATION_LETTER_MAX_TRIES = config.ACTIVATION_LETTER_MAX_TRIES

# --- Pro Santé Connect (relais.accounts.psc; on when the issuer is set) -------------------
PSC_ISSUER = config.PSC_ISSUER
PSC_CLIENT_ID = config.PSC_CLIENT_ID
PSC_CLIENT_SECRET = config.PSC_CLIENT_SECRET
PSC_SCOPE = config.PSC_SCOPE
PSC_ACR_VALUES = config.PSC_ACR_VALUES
PSC_INSECURE_LOOPBACK = config.PSC_INSECURE_LOOPBACK
PSC_TIMEOUT_SECONDS = config.PSC_TIMEOUT_SECONDS

# --- Languages --------------------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = config.TIME_ZONE
USE_TZ = True

# --- Static files: the only thing ever served from disk ---------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = config.STATIC_ROOT
WHITENOISE_AUTOREFRESH = config.WHITENOISE_AUTOREFRESH
# WhiteNoise sends `Access-Control-Allow-Origin: *` by default: no other site needs to
# read our scripts and styles.
WHITENOISE_ALLOW_ALL_ORIGINS = False
# No MEDIA_ROOT: Relais never stores uploaded or generated files.

# --- Logging: no personal data (see relais.lib.logging) -------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        "personal_data": {"()": "relais.lib.logging.PersonalDataFilter"},
        # Patient links carry their secret token in the path Django logs for 4xx answers.
        "link_tokens": {"()": "relais.lib.logging.LinkTokenFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["personal_data", "link_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": config.LOG_LEVEL},
    "loggers": {
        # Django logs the request line of 4xx/5xx; our URLs carry no personal data.
        "django.security": {"level": "WARNING"},
    },
}
