"""A real, tiny filesystem that tests fill up: a tmpfs mounted for the test (root only)."""

import subprocess
from contextlib import contextmanager
from pathlib import Path

FILL_CHUNK = 4096


@contextmanager
def tiny_tmpfs(mountpoint: Path, size: str = "512k"):
    """Mounts a tmpfs of `size` at `mountpoint` for the block; yields it, or raises
    OSError with mount's reason when this host cannot mount one."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        raise OSError(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "--lazy", str(mountpoint)], check=False)


def fill(directory: Path) -> Path:
    """Writes a file until the filesystem is full; returns it (delete it to free the space)."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as handle:  # unbuffered: close() has nothing left
        try:
            while True:
                handle.write(b"\0" * FILL_CHUNK)
        except OSError:
            pass
    return filler
