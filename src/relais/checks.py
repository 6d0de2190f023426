"""The production rules: each one a function, run by `relais check --deploy`.

Every rule takes the configuration — `django.conf.settings`, or the `relais.config.Config`
that settings.py is built from — and returns the messages for what falls short. The rules
production cannot even start without (a strong secret key, an existing keyset) are also
`startup_errors`, which settings.py runs outside demo mode: the same functions, so the
start-up refusal and `check --deploy` can never disagree.

Django's own deployment checks run too (they are warnings); ours are errors, so the
command exits non-zero when any of them fails.
"""

import json
import math
import stat
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DatabaseError
from django.utils import timezone

from relais.lib import certificates
from relais.lib.clock import SKEW_LIMIT, skew, skew_too_large

ONE_YEAR = 365 * 24 * 3600

# The secret key rule. Its strength is estimated as length × the Shannon entropy of its
# character frequencies: a plug-in estimate that undercounts short random strings, so the
# bar is 200 bits, which Django's own 50-character keys (Shannon ≥ 212 bits in 100,000
# draws) and `openssl rand -hex 32` (≥ 217) clear, while "a" * 40 + "bcdefghij0" scores 69.
# Ordered keys ("abcdefgh…") have a high frequency entropy, so at most half of the adjacent
# pairs may be equal or neighbouring characters (about one in sixteen for random base64,
# one in five for hex).
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_BITS = 200
# A secret made of a shorter one repeated ("<25 random characters>" twice) keeps a high
# frequency entropy: no run of this many characters may appear twice. In a random
# 64-character hex key a repeated 8-character run has a chance of about 1 in 10^6.
REPEATED_RUN = 8
# Django's `startproject` marks its throwaway keys with this prefix.
INSECURE_PREFIX = "django-insecure-"
# Production bounds of the limits (the defaults sit well inside them).
MAX_SESSION_IDLE_MINUTES = 30
MAX_LOGIN_FAILURES = 10
MIN_LOCKOUT_MINUTES = 5
# An address may carry a whole pharmacy team, so it is blocked far later than an account,
# but still blocked: beyond this a sprayer tries too many accounts per window.
MAX_LOGIN_SOURCE_FAILURES = 200
# A slowed attempt holds a web worker thread while it waits.
MAX_LOGIN_SOURCE_DELAY_SECONDS = 10
RATE_LIMIT_BOUNDS = {
    # setting: (most allowed, what it counts)
    "API_RATE_LIMIT": (6000, "API requests a minute per credential"),
    "PATIENT_RATE_LIMIT": (300, "patient-page requests a minute per address"),
    "PUBLIC_FORM_RATE_PER_HOUR": (100, "public form submissions an hour per address"),
    "PATIENT_LINK_MAX_TRIES": (10, "wrong birth dates before a result link locks"),
}
MAX_RETENTION_DAYS = 90  # SI-DEP's own legal maximum
MAX_ANCHOR_MINUTES = 60
# Narrowest networks of trusted proxies: a wider one lets clients forge their address.
MIN_PROXY_PREFIX = {4: 16, 6: 48}
LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}
TLS_SSLMODES = {"require", "verify-ca", "verify-full"}


def _error(number: int, message: str, hint: str) -> Error:
    return Error(message, hint=hint, id=f"relais.E{number:03d}")


def estimated_entropy_bits(secret: str) -> float:
    counts = Counter(secret).values()
    length = len(secret)
    return -sum(count * math.log2(count / length) for count in counts)


def predictable_steps(secret: str) -> int:
    """Adjacent characters that are equal or neighbours ("aa", "ab", "ba")."""
    return sum(1 for left, right in pairwise(secret) if abs(ord(left) - ord(right)) <= 1)


def has_repeated_run(secret: str, length: int = REPEATED_RUN) -> bool:
    runs = [secret[start : start + length] for start in range(len(secret) - length + 1)]
    return len(set(runs)) < len(runs)


def secret_key_is_weak(secret: str) -> bool:
    return (
        len(secret) < MIN_SECRET_KEY_LENGTH
        or estimated_entropy_bits(secret) < MIN_SECRET_KEY_BITS
        or predictable_steps(secret) > (len(secret) - 1) // 2
        or has_repeated_run(secret)
        or secret.startswith(INSECURE_PREFIX)
    )


def secret_key_rule(conf: Any) -> list[CheckMessage]:
    if not conf.SECRET_KEY:
        return [
            _error(
                3,
                "RELAIS_SECRET_KEY is not set.",
                "Set RELAIS_SECRET_KEY or RELAIS_SECRET_KEY_FILE (or RELAIS_DEMO=1).",
            )
        ]
    if secret_key_is_weak(conf.SECRET_KEY):
        return [
            _error(
                3,
                "RELAIS_SECRET_KEY is too weak: too short, too repetitive, too ordered, a "
                "shorter secret repeated, or Django's insecure placeholder.",
                f"Use {MIN_SECRET_KEY_LENGTH}+ random characters, e.g. "
                '`python -c "import secrets; print(secrets.token_urlsafe(48))"`.',
            )
        ]
    return []


def keyset_file_rule(conf: Any) -> list[CheckMessage]:
    path = Path(conf.KEYSET_FILE)
    if path.is_file() and path.stat().st_size == 0:
        return [
            _error(
                16,
                f"The keyset file {conf.KEYSET_FILE} is empty.",
                "Restore it from its copy; a new keyset cannot read the existing data.",
            )
        ]
    if path.is_file():
        return []
    return [
        _error(
            16,
            f"The keyset file {conf.KEYSET_FILE} does not exist.",
            "Create it with `relais keys init` and set RELAIS_KEYSET_FILE (or RELAIS_DEMO=1).",
        )
    ]


def keyset_wrapped_rule(conf: Any) -> list[CheckMessage]:
    if conf.KEYSET_WRAPPING_KEY_FILE and _keyset_is_wrapped(conf.KEYSET_FILE):
        return []
    return [
        _error(
            4,
            "The keyset is stored unwrapped: the file alone decrypts every patient.",
            "Create it with `relais keys init --wrapping-key-file` and set "
            "RELAIS_KEYSET_WRAPPING_KEY_FILE (from a secret store, outside the data disk).",
        )
    ]


def _keyset_is_wrapped(keyset_file: Path) -> bool:
    try:
        return bool(json.loads(Path(keyset_file).read_text()).get("wrapped"))
    except (OSError, ValueError, AttributeError):
        return False


def demo_rule(conf: Any) -> list[CheckMessage]:
    return [_error(1, "Demo mode is on.", "Unset RELAIS_DEMO in production.")] if conf.DEMO else []


def debug_rule(conf: Any) -> list[CheckMessage]:
    return [_error(2, "Debug mode is on.", "Unset RELAIS_DEBUG.")] if conf.DEBUG else []


def https_rule(conf: Any) -> list[CheckMessage]:
    if conf.HTTPS and conf.SECURE_HSTS_SECONDS >= ONE_YEAR:
        return []
    return [_error(5, "HTTPS is off, so no HSTS.", "Set RELAIS_HTTPS=1 behind a TLS proxy.")]


def secure_cookies_rule(conf: Any) -> list[CheckMessage]:
    if conf.SESSION_COOKIE_SECURE and conf.CSRF_COOKIE_SECURE:
        return []
    return [_error(6, "Session and CSRF cookies are not marked Secure.", "Set RELAIS_HTTPS=1.")]


def database_rule(conf: Any) -> list[CheckMessage]:
    if not any(db["ENGINE"].endswith("sqlite3") for db in conf.DATABASES.values()):
        return []
    return [_error(7, "SQLite is in use.", "Set RELAIS_DATABASE_URL to a PostgreSQL database.")]


def allowed_hosts_rule(conf: Any) -> list[CheckMessage]:
    hosts = conf.ALLOWED_HOSTS
    if hosts and not any(host == "*" or host.startswith(".") for host in hosts):
        return []
    return [
        _error(8, "Allowed hosts are open.", "List the exact host names in RELAIS_ALLOWED_HOSTS.")
    ]


def sidep_url_rule(conf: Any) -> list[CheckMessage]:
    if conf.SIDEP_URL.startswith("https://"):
        return []
    return [_error(9, "RELAIS_SIDEP_URL is missing or not https.", "Set SI-DEP's https address.")]


def sidep_client_certificate_rule(conf: Any) -> list[CheckMessage]:
    missing = [
        name
        for name, path in (
            ("RELAIS_SIDEP_CLIENT_CERT", conf.SIDEP_CLIENT_CERT),
            ("RELAIS_SIDEP_CLIENT_KEY", conf.SIDEP_CLIENT_KEY),
        )
        if _file_missing(path)
    ]
    if not missing:
        return []
    return [
        _error(
            10,
            f"No client certificate for mutual TLS with SI-DEP: {', '.join(missing)}.",
            "Point these settings at the certificate and key issued for SI-DEP.",
        )
    ]


def sidep_ca_rule(conf: Any) -> list[CheckMessage]:
    if not _file_missing(conf.SIDEP_CA_FILE):
        return []
    return [
        _error(
            11,
            "RELAIS_SIDEP_CA_FILE is missing: SI-DEP's server certificate cannot be pinned.",
            "Point it at the CA bundle that signs SI-DEP's certificate.",
        )
    ]


def sidep_certificate_expiry_rule(conf: Any) -> list[CheckMessage]:
    """An error once the SI-DEP client certificate has expired, a warning in the last
    certificates.EXPIRY_WARNING before. A file that holds no readable certificate is left to the
    handshake, whose failure is reported on the operator's page."""
    expires_at = certificates.expires_at(conf.SIDEP_CLIENT_CERT)
    now = timezone.now()
    if expires_at is None or not certificates.expires_soon(expires_at, now):
        return []
    when = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    hint = "Install the renewed certificate and key (RELAIS_SIDEP_CLIENT_CERT, _KEY)."
    if expires_at <= now:
        return [
            Error(
                f"The SI-DEP client certificate expired on {when}: SI-DEP refuses every "
                "transmission.",
                hint=hint,
                id="relais.E110",
            )
        ]
    return [
        Warning(
            f"The SI-DEP client certificate expires on {when} (in less than "
            f"{certificates.EXPIRY_WARNING.days} days).",
            hint=hint,
            id="relais.W110",
        )
    ]


def clock_skew_rule() -> list[CheckMessage]:
    """This host's clock against the database's (relais.lib.clock): beyond SKEW_LIMIT,
    purges refuse to run. Not a setting, so it runs apart from the rules above (which
    `startup_errors` runs before any database is reachable)."""
    try:
        gap = skew()
    except DatabaseError as error:
        return [
            Warning(
                f"The database's clock could not be read ({type(error).__name__}): host "
                "and database clocks were not compared.",
                hint="Run `relais check --deploy` where the database is reachable.",
                id="relais.W111",
            )
        ]
    if not skew_too_large(gap):
        return []
    return [
        Error(
            f"This host's clock is {gap.total_seconds():+.0f} s off the database's (more "
            f"than {SKEW_LIMIT.total_seconds():.0f} s): purges refuse to run.",
            hint="Synchronise both hosts with NTP.",
            id="relais.E111",
        )
    ]


def _file_missing(path: str) -> bool:
    return not path or not Path(path).is_file()


def retention_rule(conf: Any) -> list[CheckMessage]:
    if conf.RETENTION_DAYS > 0:
        return []
    return [
        _error(
            12,
            "Retention is off: identifying data is never purged.",
            "Set RELAIS_RETENTION_DAYS (90 by default).",
        )
    ]


def shared_cache_rule(conf: Any) -> list[CheckMessage]:
    if conf.CACHE_URL:
        return []
    return [
        _error(
            13,
            "No shared cache: rate limits are counted in each web process's memory, so "
            "every extra process adds a full allowance for a guesser.",
            "Set RELAIS_CACHE_URL to a Redis database that every web process uses.",
        )
    ]


def email_rule(conf: Any) -> list[CheckMessage]:
    if conf.EMAIL_BACKEND_NAME == "smtp":
        return []
    return [
        _error(
            14,
            f"E-mails go to the {conf.EMAIL_BACKEND_NAME} backend: their links "
            "(activation, reset, patient results) end up on disk or in the logs.",
            "Set RELAIS_EMAIL_BACKEND=smtp and the RELAIS_EMAIL_HOST settings.",
        )
    ]


def sms_rule(conf: Any) -> list[CheckMessage]:
    if conf.SMS_BACKEND == "http" and conf.SMS_URL.startswith("https://"):
        return []
    return [
        _error(
            15,
            "SMS cannot reach patients: the backend writes to a file, or RELAIS_SMS_URL "
            "is missing or not https.",
            "Set RELAIS_SMS_BACKEND=http and the provider's https RELAIS_SMS_URL.",
        )
    ]


def base_url_rule(conf: Any) -> list[CheckMessage]:
    if conf.BASE_URL.startswith("https://"):
        return []
    return [
        Error(
            "RELAIS_BASE_URL must be the https:// address users reach Relais at "
            "(activation and password-reset links in e-mails start with it).",
            id="relais.E101",
        )
    ]


def backup_key_rule(conf: Any) -> list[CheckMessage]:
    if conf.BACKUP_KEY_FILE:
        return []
    # An error, not a warning: without it `relais backup` cannot run, so backups end up
    # made some other way (pg_dump, disk snapshots), in clear.
    return [
        _error(
            17,
            "No backup key: `relais backup` cannot run, so backups would be made "
            "unencrypted by other means.",
            "Create one with `relais keys init-backup` and set RELAIS_BACKUP_KEY_FILE.",
        )
    ]


def audit_key_rule(conf: Any) -> list[CheckMessage]:
    if not conf.AUDIT_KEY:
        return [
            _error(
                18,
                "RELAIS_AUDIT_KEY is not set: the audit chain cannot be keyed, so a database "
                "insider could rewrite it unseen.",
                "Set RELAIS_AUDIT_KEY or RELAIS_AUDIT_KEY_FILE (a random secret kept outside "
                "the database, never changed).",
            )
        ]
    if secret_key_is_weak(conf.AUDIT_KEY):
        return [
            _error(
                18,
                "RELAIS_AUDIT_KEY is too weak (the secret key's rules apply).",
                '`python -c "import secrets; print(secrets.token_urlsafe(48))"` makes one.',
            )
        ]
    return []


def audit_anchor_rule(conf: Any) -> list[CheckMessage]:
    if conf.AUDIT_ANCHOR_FILE and conf.AUDIT_ANCHOR_MINUTES <= MAX_ANCHOR_MINUTES:
        return []
    return [
        _error(
            19,
            "Audit anchors are off or rarer than hourly: events cut from the end of the "
            "chain would go unseen.",
            "Set RELAIS_AUDIT_ANCHOR_FILE to a file outside the database's reach and "
            f"RELAIS_AUDIT_ANCHOR_MINUTES to at most {MAX_ANCHOR_MINUTES}.",
        )
    ]


def reused_secret_rule(conf: Any) -> list[CheckMessage]:
    secrets = {
        "RELAIS_SECRET_KEY": conf.SECRET_KEY,
        "RELAIS_AUDIT_KEY": conf.AUDIT_KEY,
        "RELAIS_SMS_TOKEN": conf.SMS_TOKEN,
        "RELAIS_EMAIL_HOST_PASSWORD": conf.EMAIL_HOST_PASSWORD,
        "RELAIS_PSC_CLIENT_SECRET": conf.PSC_CLIENT_SECRET,
    }
    names_by_value: dict[str, list[str]] = {}
    for name, value in secrets.items():
        if value:
            names_by_value.setdefault(value, []).append(name)
    reused = [names for names in names_by_value.values() if len(names) > 1]
    return [
        _error(
            20,
            f"The same secret is used for {' and '.join(names)}: one leak gives away both.",
            "Give each its own random value.",
        )
        for names in reused
    ]


def readable_by_others(path: str | Path) -> bool:
    try:
        return bool(Path(path).stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False  # a missing file is the other rules' business


def key_file_mode_rule(conf: Any) -> list[CheckMessage]:
    files = {
        "RELAIS_KEYSET_FILE": conf.KEYSET_FILE,
        "RELAIS_KEYSET_WRAPPING_KEY_FILE": conf.KEYSET_WRAPPING_KEY_FILE,
        "RELAIS_BACKUP_KEY_FILE": conf.BACKUP_KEY_FILE,
        "RELAIS_SIDEP_CLIENT_KEY": conf.SIDEP_CLIENT_KEY,
    }
    exposed = [name for name, path in files.items() if path and readable_by_others(path)]
    if not exposed:
        return []
    return [
        _error(
            21,
            f"Key files readable by other users: {', '.join(exposed)}.",
            "chmod 600 them (owner only); `relais keys init` creates them so.",
        )
    ]


def var_dir_mode_rule(conf: Any) -> list[CheckMessage]:
    if not readable_by_others(conf.VAR_DIR):
        return []
    return [
        _error(
            22,
            f"RELAIS_VAR_DIR ({conf.VAR_DIR}) is open to other users.",
            "chmod 700 it: it holds the anchors, generated secrets and collected files.",
        )
    ]


def session_and_lockout_rule(conf: Any) -> list[CheckMessage]:
    problems = []
    if not 1 <= conf.SESSION_IDLE_MINUTES <= MAX_SESSION_IDLE_MINUTES:
        problems.append(f"RELAIS_SESSION_IDLE_MINUTES is not 1–{MAX_SESSION_IDLE_MINUTES}")
    if not 1 <= conf.LOGIN_MAX_FAILURES <= MAX_LOGIN_FAILURES:
        problems.append(f"RELAIS_LOGIN_MAX_FAILURES is not 1–{MAX_LOGIN_FAILURES}")
    if conf.LOGIN_LOCKOUT_MINUTES < MIN_LOCKOUT_MINUTES:
        problems.append(f"RELAIS_LOGIN_LOCKOUT_MINUTES is under {MIN_LOCKOUT_MINUTES}")
    if not 1 <= conf.LOGIN_SOURCE_MAX_FAILURES <= MAX_LOGIN_SOURCE_FAILURES:
        problems.append(f"RELAIS_LOGIN_SOURCE_MAX_FAILURES is not 1–{MAX_LOGIN_SOURCE_FAILURES}")
    if not 0 <= conf.LOGIN_SOURCE_MAX_DELAY_SECONDS <= MAX_LOGIN_SOURCE_DELAY_SECONDS:
        problems.append(
            f"RELAIS_LOGIN_SOURCE_MAX_DELAY_SECONDS is not 0–{MAX_LOGIN_SOURCE_DELAY_SECONDS}"
        )
    if not problems:
        return []
    return [
        _error(
            23,
            "Sessions or login lockout are too lax: " + "; ".join(problems) + ".",
            "Counter computers are shared and passwords get guessed: keep the defaults.",
        )
    ]


def rate_limits_rule(conf: Any) -> list[CheckMessage]:
    lax = [
        f"RELAIS_{name} ({what}) is {getattr(conf, name)}, above {most}"
        for name, (most, what) in RATE_LIMIT_BOUNDS.items()
        if getattr(conf, name) > most
    ]
    if not lax:
        return []
    return [
        _error(
            24,
            "Rate limits are effectively off: " + "; ".join(lax) + ".",
            "Keep the defaults, or raise them within the bounds.",
        )
    ]


def retention_maximum_rule(conf: Any) -> list[CheckMessage]:
    if conf.RETENTION_DAYS <= MAX_RETENTION_DAYS:
        return []
    return [
        _error(
            25,
            f"RELAIS_RETENTION_DAYS is {conf.RETENTION_DAYS}: identifying data is kept past "
            f"SI-DEP's own legal maximum of {MAX_RETENTION_DAYS} days.",
            f"Set it to {MAX_RETENTION_DAYS} or less.",
        )
    ]


def _remote(host: str | None) -> bool:
    host = (host or "").strip("[]")
    return not (host in LOCAL_HOSTS or host.startswith("/") or host.startswith("127."))


def database_transport_rule(conf: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for db in conf.DATABASES.values():
        if not db["ENGINE"].endswith("postgresql"):
            continue
        sslmode = db.get("OPTIONS", {}).get("sslmode", "")
        if _remote(db.get("HOST")) and sslmode not in TLS_SSLMODES:
            messages.append(
                _error(
                    26,
                    f"The database at {db.get('HOST')} is reached without TLS: patient data "
                    "and the password cross the network in clear.",
                    "Add ?sslmode=verify-full to RELAIS_DATABASE_URL.",
                )
            )
        if db.get("PASSWORD") and not conf.DATABASE_URL_FROM_FILE:
            messages.append(
                _error(
                    27,
                    "RELAIS_DATABASE_URL holds the database password in the environment "
                    "(readable in /proc, crash reports and process listings).",
                    "Put the URL in a file named by RELAIS_DATABASE_URL_FILE (mode 0600), or "
                    "the password in a .pgpass file.",
                )
            )
    return messages


def email_transport_rule(conf: Any) -> list[CheckMessage]:
    if conf.EMAIL_BACKEND_NAME != "smtp" or conf.EMAIL_USE_TLS or not _remote(conf.EMAIL_HOST):
        return []
    return [
        _error(
            28,
            f"E-mail goes to {conf.EMAIL_HOST} over plain SMTP: activation, reset and result "
            "links cross the network in clear.",
            "Set RELAIS_EMAIL_USE_TLS=1 (STARTTLS).",
        )
    ]


def cache_transport_rule(conf: Any) -> list[CheckMessage]:
    url = urlsplit(conf.CACHE_URL)
    if url.scheme != "redis" or not _remote(url.hostname):
        return []
    return [
        _error(
            29,
            f"Redis at {url.hostname} is reached over plain TCP: its password and the "
            "rate-limit counters cross the network in clear.",
            "Use a rediss:// URL (TLS).",
        )
    ]


def trusted_proxies_rule(conf: Any) -> list[CheckMessage]:
    wide = [
        str(network)
        for network in conf.TRUSTED_PROXIES
        if network.prefixlen < MIN_PROXY_PREFIX[network.version]
    ]
    if not wide:
        return []
    return [
        _error(
            30,
            f"RELAIS_TRUSTED_PROXIES is too wide ({', '.join(wide)}): any client in it can "
            "forge its address, dodging rate limits and lockouts and lying to the audit log.",
            "List only the reverse proxies' own addresses.",
        )
    ]


def csrf_origins_rule(conf: Any) -> list[CheckMessage]:
    plain = [
        origin
        for origin in conf.CSRF_TRUSTED_ORIGINS
        if not origin.startswith("https://") or "*" in origin
    ]
    if not plain:
        return []
    return [
        _error(
            31,
            f"RELAIS_CSRF_TRUSTED_ORIGINS trusts origins that are not one https host: "
            f"{', '.join(plain)}.",
            "List exact https:// origins only.",
        )
    ]


def psc_issuer_rule(conf: Any) -> list[CheckMessage]:
    """Pro Santé Connect, when on (an issuer is set): over https, never the test-only
    plain-HTTP loopback mode."""
    if not conf.PSC_ISSUER and not conf.PSC_INSECURE_LOOPBACK:
        return []
    if conf.PSC_ISSUER.startswith("https://") and not conf.PSC_INSECURE_LOOPBACK:
        return []
    return [
        _error(
            40,
            "Pro Santé Connect's issuer (RELAIS_PSC_ISSUER) is missing or not https, or the "
            "test-only RELAIS_PSC_INSECURE_LOOPBACK is on.",
            "Set RELAIS_PSC_ISSUER to the https issuer Pro Santé Connect gave you and unset "
            "RELAIS_PSC_INSECURE_LOOPBACK (docs/onboarding.md).",
        )
    ]


def psc_client_rule(conf: Any) -> list[CheckMessage]:
    if not conf.PSC_ISSUER or (conf.PSC_CLIENT_ID and conf.PSC_CLIENT_SECRET):
        return []
    return [
        _error(
            41,
            "Pro Santé Connect is on (RELAIS_PSC_ISSUER is set) without its client id or secret.",
            "Set RELAIS_PSC_CLIENT_ID and RELAIS_PSC_CLIENT_SECRET "
            "(or RELAIS_PSC_CLIENT_SECRET_FILE).",
        )
    ]


def webhook_loopback_rule(conf: Any) -> list[CheckMessage]:
    if not conf.WEBHOOK_ALLOW_LOOPBACK:
        return []
    return [
        _error(
            32,
            "Webhooks may be sent to this machine (127.0.0.1, ::1) over plain http.",
            "Unset RELAIS_WEBHOOK_ALLOW_LOOPBACK: it is for tests and the demo only.",
        )
    ]


Rule = Callable[[Any], list[CheckMessage]]

STARTUP_RULES: list[Rule] = [secret_key_rule, keyset_file_rule]
DEPLOY_RULES: list[Rule] = [
    demo_rule,
    debug_rule,
    *STARTUP_RULES,
    keyset_wrapped_rule,
    https_rule,
    secure_cookies_rule,
    database_rule,
    allowed_hosts_rule,
    sidep_url_rule,
    sidep_client_certificate_rule,
    sidep_ca_rule,
    sidep_certificate_expiry_rule,
    retention_rule,
    shared_cache_rule,
    email_rule,
    sms_rule,
    base_url_rule,
    backup_key_rule,
    audit_key_rule,
    audit_anchor_rule,
    reused_secret_rule,
    key_file_mode_rule,
    var_dir_mode_rule,
    session_and_lockout_rule,
    rate_limits_rule,
    retention_maximum_rule,
    database_transport_rule,
    email_transport_rule,
    cache_transport_rule,
    trusted_proxies_rule,
    csrf_origins_rule,
    psc_issuer_rule,
    psc_client_rule,
    webhook_loopback_rule,
]


def run_rules(rules: list[Rule], conf: Any) -> list[CheckMessage]:
    return [message for rule in rules for message in rule(conf)]


def startup_errors(conf: Any) -> list[CheckMessage]:
    """What production refuses to start with (settings.py raises on any, outside demo)."""
    return run_rules(STARTUP_RULES, conf)


@register(Tags.security, deploy=True)
def check_production_settings(app_configs=None, **kwargs) -> list[CheckMessage]:
    return run_rules(DEPLOY_RULES, settings)


@register(Tags.security, deploy=True)
def check_clocks(app_configs=None, **kwargs) -> list[CheckMessage]:
    return clock_skew_rule()
