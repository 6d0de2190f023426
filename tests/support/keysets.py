"""A private copy of the test keyset, so that a test's rotations and drops stay its own."""

import shutil
from contextlib import contextmanager

from relais.crypto import rotation
from relais.crypto.keyset import get_keys


@contextmanager
def keyset_copy(settings, tmp_path, monkeypatch):
    """Points RELAIS_KEYSET_FILE at a copy of the current keyset (mode 0600), re-read at
    once by every get_keys(); yields the copy's path."""
    get_keys()  # the demo keyset is made on first use
    copy = tmp_path / "keyset.json"
    shutil.copy(settings.KEYSET_FILE, copy)
    copy.chmod(0o600)
    settings.KEYSET_FILE = copy
    monkeypatch.setattr(rotation, "RELOAD_CHECK_SECONDS", 0)
    get_keys.cache_clear()
    try:
        yield copy
    finally:
        get_keys.cache_clear()
