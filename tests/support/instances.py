"""Private database and cache servers a test can break: a PostgreSQL cluster and a Redis
server of its own, on free ports, that the test stops, restarts, kills or freezes.

The shared servers (127.0.0.1:5432 and :6379) belong to everyone; a fault test must never
stop them. These start in a second or two (PostgreSQL without fsync, small buffers), so a
test module starts one of each it needs and shares it between its tests:

    with private_postgres() as postgres:
        url = postgres.url("relais")   # a database created on it
        postgres.freeze()              # SIGSTOP on the postmaster and every backend
        postgres.thaw()
        postgres.restart()             # fast shutdown, then start on the same port

PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user.
"""

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from tests.support.databases import admin, with_database
from tests.support.ports import free_port, wait_for_port
from tests.support.servers import PROJECT_DIR, RELAIS, clean_env

# The database tests/faults/conftest.py migrates once per session, for modules to clone.
MIGRATED_TEMPLATE = "relais_template"
START_SECONDS = 30
STOP_SECONDS = 30
POSTGRES_USER = "postgres"
# Cheap to start and to write to: nothing here must survive a power cut.
POSTGRES_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
    "max_connections": "40",
    "listen_addresses": "127.0.0.1",
    "log_min_messages": "warning",
}


def postgres_bin_dir() -> Path:
    """The newest PostgreSQL server binaries installed (Debian's layout), or those of
    RELAIS_TEST_POSTGRES_BIN."""
    if configured := os.environ.get("RELAIS_TEST_POSTGRES_BIN"):
        return Path(configured)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda path: int(Path(path).parts[-3]),
    )
    if not found:
        raise RuntimeError("no PostgreSQL server binaries (set RELAIS_TEST_POSTGRES_BIN)")
    return Path(found[-1]).parent


def children_of(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc), children before grandchildren."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        # "pid (command) state ppid ...": the command may hold spaces and parentheses.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        for child in parents.get(pending.pop(0), []):
            found.append(child)
            pending.append(child)
    return found


def signal_tree(pid: int, sig: int) -> None:
    """`sig` to `pid` and all its descendants (those that ended meanwhile are skipped)."""
    for target in [pid, *children_of(pid)]:
        try:
            os.kill(target, sig)
        except ProcessLookupError:
            pass


class PostgresInstance:
    """A PostgreSQL cluster in a temporary directory, served on 127.0.0.1:`port`."""

    def __init__(self, root: Path):
        self.root = root
        self.data_dir = root / "data"
        self.socket_dir = root / "run"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.bin_dir = postgres_bin_dir()
        self.process: subprocess.Popen | None = None
        self.frozen = False

    # --- running as the postgres user when we are root ---------------------------------
    def _as_owner(self) -> dict:
        if os.geteuid() != 0:
            return {}
        return {"user": POSTGRES_USER, "group": POSTGRES_USER, "extra_groups": []}

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam(POSTGRES_USER)
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def init(self) -> "PostgresInstance":
        for path in (self.root, self.data_dir, self.socket_dir):
            path.mkdir(mode=0o700, exist_ok=True)
            self._own(path)
        subprocess.run(  # noqa: S603 (our own command line)
            [str(self.bin_dir / "initdb"), "--pgdata", str(self.data_dir), "--username",
             POSTGRES_USER, "--auth", "trust", "--no-sync", "--encoding", "UTF8",
             "--locale", "C"],
            check=True, capture_output=True, cwd=self.root, **self._as_owner(),
        )  # fmt: skip
        return self

    # --- life cycle -----------------------------------------------------------------
    def start(self) -> "PostgresInstance":
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-k", str(self.socket_dir)]  # fmt: skip
        for name, value in POSTGRES_SETTINGS.items():
            argv += ["-c", f"{name}={value}"]
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(  # noqa: S603 (our own command line)
                argv, stdout=output, stderr=subprocess.STDOUT, cwd=self.root, **self._as_owner()
            )
        wait_for_port(self.port, self.process, START_SECONDS)
        self._wait_until_accepting()
        return self

    def _wait_until_accepting(self) -> None:
        """The port opens before recovery ends ("the database system is starting up")."""
        import psycopg

        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                with psycopg.connect(self.server_url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self, mode: str = "fast") -> None:
        """Shut down: "fast" (SIGINT: sessions are ended, as on `pg_ctl restart`) or
        "immediate" (SIGQUIT: as after a crash, recovery at the next start)."""
        if self.process is None:
            return
        self.thaw()
        self.process.send_signal(signal.SIGINT if mode == "fast" else signal.SIGQUIT)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            signal_tree(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def freeze(self) -> None:
        """SIGSTOP on the postmaster and its backends: connections stay open and the
        kernel still accepts and acknowledges bytes, but nothing ever answers."""
        if self.process is not None:
            signal_tree(self.process.pid, signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        if self.process is not None and self.frozen:
            signal_tree(self.process.pid, signal.SIGCONT)
            self.frozen = False

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # --- addresses -----------------------------------------------------------------
    def server_url(self, database: str = "postgres") -> str:
        return f"postgres://{POSTGRES_USER}@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """The URL of database `database`, created on this cluster if it is missing."""
        import psycopg

        try:
            admin(self.server_url(), f'CREATE DATABASE "{database}"')
        except psycopg.errors.DuplicateDatabase:
            pass
        return with_database(self.server_url(), database)

    def clone(self, template: str, database: str) -> str:
        """A new database `database`, a copy of `template` (a file copy: no migrations to
        run again); returns its URL."""
        admin(self.server_url(), f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
        return with_database(self.server_url(), database)

    def migrate(self, database: str, var_dir: Path) -> str:
        """Database `database` with Relais's schema (`relais migrate` in demo mode, its
        generated secrets under `var_dir`); returns its URL."""
        url = self.url(database)
        environment = clean_env(
            RELAIS_DEMO="1", RELAIS_VAR_DIR=str(var_dir), RELAIS_DATABASE_URL=url
        )
        done = subprocess.run(  # noqa: S603 (our own command line)
            [RELAIS, "migrate", "--verbosity", "0"], env=environment, cwd=PROJECT_DIR,
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"relais migrate failed:\n{done.stderr[-3000:]}")
        return url


class RedisInstance:
    """A redis-server on 127.0.0.1:`port`, in memory only."""

    def __init__(self, root: Path):
        self.root = root
        self.log = root / "redis.log"
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.frozen = False

    def start(self) -> "RedisInstance":
        self.root.mkdir(mode=0o700, exist_ok=True)
        redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
        argv = [redis_server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.root)]  # fmt: skip
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(  # noqa: S603 (our own command line)
                argv, stdout=output, stderr=subprocess.STDOUT, cwd=self.root
            )
        wait_for_port(self.port, self.process, START_SECONDS)
        return self

    def kill(self) -> None:
        """SIGKILL: the port closes, every connection is reset."""
        if self.process is not None:
            self.thaw()
            self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def freeze(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        if self.process is not None and self.frozen:
            self.process.send_signal(signal.SIGCONT)
            self.frozen = False

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


@contextmanager
def private_postgres():
    """A started PostgreSQL cluster of the caller's own; stopped and removed on exit."""
    instance = PostgresInstance(Path(tempfile.mkdtemp(prefix="relais-pg-")))
    try:
        yield instance.init().start()
    finally:
        instance.cleanup()


@contextmanager
def private_redis():
    """A started Redis server of the caller's own; killed and removed on exit."""
    instance = RedisInstance(Path(tempfile.mkdtemp(prefix="relais-redis-")))
    try:
        yield instance.start()
    finally:
        instance.cleanup()
