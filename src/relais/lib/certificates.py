"""Reading X.509 certificates with the `openssl` command line (present on every supported
machine) rather than a Python dependency: when the SI-DEP client certificate expires, and
whether that is soon enough to warn (`relais check --deploy`, the operator's page)."""

import datetime
import functools
import shutil
import ssl
import subprocess
from pathlib import Path

# Time to order the next certificate from the national PKI and install it.
EXPIRY_WARNING = datetime.timedelta(days=30)


def openssl(*args: str, cwd: Path | None = None) -> str:
    """Runs `openssl` with `args` (fixed argument lists: no user input reaches a shell);
    its standard output. Raises RuntimeError without openssl, CalledProcessError on failure."""
    command = shutil.which("openssl")
    if command is None:
        raise RuntimeError("the openssl command is required")
    done = subprocess.run(  # noqa: S603
        [command, *args], cwd=cwd, check=True, capture_output=True, text=True
    )
    return done.stdout


def expires_at(path: str | Path) -> datetime.datetime | None:
    """The end of validity (notAfter) of the PEM certificate at `path`, or None when
    there is no readable certificate there (or no path)."""
    if not path:
        return None
    try:
        stat = Path(path).stat()
    except (OSError, ValueError):
        return None
    return _expires_at(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _expires_at(path: str, mtime_ns: int, size: int) -> datetime.datetime | None:
    # Cached per version of the file: the operator's page and each TLS failure ask again.
    try:
        output = openssl("x509", "-noout", "-enddate", "-in", path)
        seconds = ssl.cert_time_to_seconds(output.strip().removeprefix("notAfter="))
    except (OSError, RuntimeError, subprocess.CalledProcessError, ValueError):
        return None
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


def expires_soon(end: datetime.datetime, now: datetime.datetime) -> bool:
    """Whether a certificate ending at `end` is within EXPIRY_WARNING of it (or past)."""
    return end - now <= EXPIRY_WARNING
