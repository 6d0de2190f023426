"""Reading RELAIS_* variables from an environment mapping, and the demo's generated secrets.

The readers take the mapping as an argument (never os.environ directly), so that parsing the
configuration is a pure function a test can call with a dict.
"""

import errno
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

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


@contextmanager
def private_file_writer(
    path: Path, *, binary: bool = False, replace: bool = False, temporary: Path | None = None
) -> Iterator[IO]:
    """A file readable by its owner only, that appears under its name whole or not at all.

    What is written goes to `temporary` (by default a hidden name of this process in the
    same directory), which is flushed, fsynced, moved into place (never over an existing
    file unless `replace`), and the directory fsynced. On any error, a full disk
    included, the temporary file is removed and `path` is left as it was: a crash or an
    ENOSPC never leaves an empty or truncated file under the final name.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not replace and path.exists():
        raise FileExistsError(errno.EEXIST, "File exists", str(path))
    temporary = temporary or path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _move_into_place(temporary, path, replace)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _move_into_place(temporary: Path, path: Path, replace: bool) -> None:
    if replace:
        os.replace(temporary, path)
        return
    # A hard link fails if `path` exists (another process got there first): no overwrite,
    # and no window in which a half-written file has the final name.
    os.link(temporary, path)
    temporary.unlink()


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private_file(path: Path, content: str, *, replace: bool = False) -> None:
    """Create (or, with `replace`, atomically replace) a file readable by its owner only;
    see private_file_writer."""
    with private_file_writer(path, replace=replace) as handle:
        handle.write(content)


DEMO_SECRET_BYTES = 64
DEMO_SECRET_LENGTH = len(secrets.token_urlsafe(DEMO_SECRET_BYTES))


def read_or_create_secret(path: Path) -> str:
    """Demo mode only: a random secret generated once and kept under var/ (mode 0600).

    Written atomically, so a full disk at the first start leaves no file rather than an
    empty one; an empty or truncated file (left by an older release) is refused, never
    used as a secret.
    """
    if not path.exists():
        try:
            write_private_file(path, secrets.token_urlsafe(DEMO_SECRET_BYTES))
        except FileExistsError:
            pass  # another process of the demo created it first
        except OSError as error:
            raise ImproperlyConfigured(
                f"Cannot create the secret key file {path}: {error.strerror}."
            ) from None
    try:
        content = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not text"
        raise ImproperlyConfigured(f"Cannot read the secret key file {path} ({reason}).") from None
    if len(content) < DEMO_SECRET_LENGTH:
        raise ImproperlyConfigured(
            f"The secret key file {path} is {'empty' if not content else 'truncated'}: "
            "remove it to have a new one generated (this signs out every session)."
        )
    return content
