"""Reading RELAIS_* variables from an environment mapping, and the demo's generated secrets.

The readers take the mapping as an argument (never os.environ directly), so that parsing the
configuration is a pure function a test can call with a dict.
"""

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def env_str(environ: Mapping[str, str], name: str, default: str = "") -> str:
    return environ.get(name, default).strip()


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None


def env_float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}.") from None


def env_list(environ: Mapping[str, str], name: str, default: list[str]) -> list[str]:
    raw = environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(environ: Mapping[str, str], name: str) -> str:
    """The secret in NAME, or in the file named by NAME_FILE (stripped); "" when neither is set.

    A file that cannot be read or holds nothing is an error, never a silently empty secret.
    The error names the variable and the path, never the content.
    """
    value = env_str(environ, name)
    file_variable = f"{name}_FILE"
    path = env_str(environ, file_variable)
    if not path:
        return value
    if value:
        raise ImproperlyConfigured(f"Set {name} or {file_variable}, not both.")
    try:
        content = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not text"
        raise ImproperlyConfigured(f"{file_variable}: cannot read {path} ({reason}).") from None
    if not content:
        raise ImproperlyConfigured(f"{file_variable}: {path} is empty.")
    return content


def write_private_file(path: Path, content: str) -> None:
    """Create a file readable by its owner only; never overwrite an existing one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def read_or_create_secret(path: Path) -> str:
    """Demo mode only: a random secret generated once and kept under var/ (mode 0600)."""
    if not path.exists():
        try:
            write_private_file(path, secrets.token_urlsafe(64))
        except FileExistsError:
            pass  # another process of the demo created it first
    return path.read_text().strip()
