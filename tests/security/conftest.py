"""The attacker's world: the real server, run the way production runs it, and a table of
every attack tried.

The `live` fixture (once for this package: the server stops after its last test) creates a
throwaway PostgreSQL database, a wrapped keyset (`relais keys init`), a strong secret key,
migrates with `relais migrate`, seeds two approved pharmacies through the ORM
(backstage.py), creates an API credential per pharmacy with `relais api-credentials
create`, and starts `python -m gunicorn relais.wsgi` with production settings (RELAIS_DEMO
unset, RELAIS_HTTPS=1). The client plays the TLS proxy: it sends `X-Forwarded-Proto:
https`, so RELAIS_SSL_REDIRECT=0.

Each attacker and victim talks from its own loopback address (127.0.0.x), so the
per-address limits of one attack do not lock out the next.

Every test counts its attempts and successes into `attacks`; the table is printed at the
end of the session; any success fails the test that found it (a weakness reported but not
fixed yet is an xfail(strict=True) test, and the table says so).
"""

import datetime
import http.cookies
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from django_otp.oath import TOTP
from stdnum.fr import nir as stdnum_nir

PROJECT = Path(__file__).resolve().parents[2]
BACKSTAGE = Path(__file__).resolve().parent / "backstage.py"
PYTHON = sys.executable
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
PASSWORD_LENGTH = 24

# --- The table of attacks -------------------------------------------------------------------


@dataclass
class Row:
    attempts: int = 0
    successes: int = 0
    details: list[str] = field(default_factory=list)


class AttackTable:
    """attack name -> attempts and successes, in the order attacks were first tried."""

    def __init__(self):
        self.rows: dict[str, Row] = {}
        self.known: dict[str, str] = {}  # attack -> the reported weakness it finds (xfail)

    def attempt(self, attack: str, succeeded: bool, detail: str = "") -> bool:
        row = self.rows.setdefault(attack, Row())
        row.attempts += 1
        if succeeded:
            row.successes += 1
            row.details.append(detail)
        return succeeded

    def assert_none(self, attack: str) -> None:
        row = self.rows.get(attack)
        assert row is not None and row.attempts > 0, f"{attack}: nothing was tried"
        assert row.successes == 0, f"{attack}: {row.successes} success(es): {row.details[:10]}"

    def render(self) -> list[str]:
        width = max([len("attack"), *(len(name) for name in self.rows)])
        lines = [f"{'attack':<{width}} | attempts | successes", "-" * (width + 23)]
        for name, row in self.rows.items():
            known = "  (known weakness, reported: xfail)" if name in self.known else ""
            lines.append(f"{name:<{width}} | {row.attempts:>8} | {row.successes:>9}{known}")
        return lines


TABLE = AttackTable()


@pytest.fixture(scope="session")
def attacks():
    return TABLE


def pytest_configure(config):
    config.addinivalue_line("markers", "late: security attack run after the others")
    config.addinivalue_line("markers", "scan: security scan run after every attack")


def pytest_collection_modifyitems(session, config, items):
    """Inside tests/security: ordinary attacks, then `late` ones (they exhaust limits),
    then the `scan`s of what the attacks left behind."""
    here = Path(__file__).resolve().parent
    ours = [item for item in items if item.path.resolve().is_relative_to(here)]
    if not ours:
        return
    ours_set = set(ours)

    def phase(item):
        return 2 if item.get_closest_marker("scan") else 1 if item.get_closest_marker("late") else 0

    ordered = sorted(ours, key=phase)  # stable: file order within a phase
    slots = [index for index, item in enumerate(items) if item in ours_set]
    for index, item in zip(slots, ordered, strict=True):
        items[index] = item


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not TABLE.rows:
        return
    terminalreporter.section("attacks on the live server")
    for line in TABLE.render():
        terminalreporter.write_line(line)
    total = sum(row.successes for row in TABLE.rows.values())
    known = sum(row.successes for name, row in TABLE.rows.items() if name in TABLE.known)
    terminalreporter.write_line(
        f"total successes: {total} ({known} in known weaknesses reported as xfail)"
    )


# --- Seed data --------------------------------------------------------------------------------


def make_nir(sex: str, birth: datetime.date, place: str, order: int) -> str:
    body = f"{1 if sex == 'M' else 2}{birth:%y%m}{place}{order:03d}"
    return body + stdnum_nir.calc_check_digits(body)


def patient(birth_name, used_name, given, birth, sex, order, phone, email, address):
    birth_date = datetime.date.fromisoformat(birth)
    return {
        "birth_name": birth_name,
        "used_name": used_name,
        "given_names": given,
        "birth_date": birth,
        "sex": sex,
        "birthplace_code": "75056",
        "nir": make_nir(sex, birth_date, "75056", order),
        "address": address,
        "postal_code": "75011",
        "city": "Paris",
        "phone": phone,
        "email": email,
    }


PATIENTS = {
    # key: (pharmacy, author, data)
    "a1": ("a", "a_pharmacist", patient("Quillebeuf", "Marchadour", "Ysaline Perrine",
           "1961-07-23", "F", 417, "+33698765431", "ysaline.quillebeuf@example.org",
           "17 allée des Quokkas")),
    "a2": ("a", "a_pharmacist", patient("Zarkowski", "", "Anselme Théodric", "1994-11-02",
           "M", 238, "+33687654329", "anselme.zarkowski@example.org", "4 impasse Vrillac")),
    "b1": ("b", "b_owner", patient("Brisemontier", "Ondinelle", "Clothilde", "1978-02-19",
           "F", 551, "+33676543218", "clothilde.brisemontier@example.org",
           "9 quai des Harfangs")),
}  # fmt: skip

MEMBERS = {"a": ("owner", "pharmacist", "assistant"), "b": ("owner", "pharmacist")}
# Extra pharmacists of A: each login of a user spends one TOTP time step (replay
# protection), so every separate browser logs in as a user of its own.
SPARE_USERS = ("spare1", "spare2", "spare3", "spare4", "victim1", "victim2", "bystander")


def seed_spec() -> dict:
    pharmacies = {
        "a": {"name": "Pharmacie Alpha", "finess": "750000101", "address": "1 rue A, Paris"},
        "b": {"name": "Pharmacie Beta", "finess": "750000202", "address": "2 rue B, Paris"},
    }
    users = {}
    for pharmacy, roles in MEMBERS.items():
        for role in roles:
            users[f"{pharmacy}_{role}"] = (pharmacy, role)
    for name in SPARE_USERS:
        users[f"a_{name}"] = ("a", "pharmacist")
    users["admin"] = (None, "admin")
    return {
        "pharmacies": pharmacies,
        "users": {
            key: {
                "email": f"{key.replace('_', '.')}@attack.test",
                "password": secrets.token_urlsafe(PASSWORD_LENGTH),
                "totp_key": secrets.token_hex(20),
                "pharmacy": pharmacy,
                "role": role,
            }
            for key, (pharmacy, role) in users.items()
        },
        "patients": {
            key: {"pharmacy": pharmacy, "author": author, "data": data}
            for key, (pharmacy, author, data) in PATIENTS.items()
        },
    }


def totp_now(hex_key: str) -> str:
    return f"{TOTP(bytes.fromhex(hex_key)).token():06d}"


# --- PostgreSQL -------------------------------------------------------------------------------


def postgres_urls() -> tuple[str, str]:
    """(administrative URL, URL of a new throwaway database) on the test server."""
    base = os.environ.get("RELAIS_TEST_DATABASE_URL") or DEFAULT_POSTGRES
    parts = urllib.parse.urlsplit(base)
    name = f"relais_attack_{secrets.token_hex(6)}"
    return parts._replace(path="/postgres").geturl(), parts._replace(path=f"/{name}").geturl()


def connect(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="package")
def database():
    admin_url, url = postgres_urls()
    try:
        admin = connect(admin_url)
    except Exception as error:  # noqa: BLE001 (any connection failure)
        if os.environ.get("RELAIS_TEST_DATABASE_URL"):
            raise
        pytest.skip(f"the attack suite needs PostgreSQL at 127.0.0.1:5432 ({error})")
    name = urllib.parse.urlsplit(url).path.lstrip("/")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url
    finally:
        with connect(admin_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- SMTP: the server's e-mail goes to a real SMTP server in this process ------------------------


class Inbox:
    def __init__(self):
        self.messages: list[bytes] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture(scope="package")
def smtp():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, inbox
    controller.stop()


# --- The live server --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    port: int
    root: Path
    var_dir: Path
    keys_dir: Path
    tmp_dir: Path
    log_files: list[Path]
    env: dict
    database_url: str
    spec: dict
    seeded: dict
    api_tokens: dict
    inbox: Inbox
    personal_data: list[dict]
    logged_in: dict = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def user(self, key: str) -> dict:
        return self.spec["users"][key]

    def browser(self, source: str = "127.0.0.1") -> "Browser":
        return Browser(self, source)

    def api(self, pharmacy: str, source: str = "127.0.0.1") -> httpx.Client:
        return api_client(self, self.api_tokens[pharmacy], source)

    def login(self, key: str) -> "Browser":
        """A browser logged in as `key`, once per session (TOTP codes are single-use)."""
        if key not in self.logged_in:
            browser = self.browser()
            response = browser.log_in(key)
            assert response.status_code == 302, f"{key} could not log in: {response.status_code}"
            self.logged_in[key] = browser
        return self.logged_in[key]

    def backstage(self, *args: str, stdin: str = "") -> dict:
        return run_backstage(self.env, self.root, *args, stdin=stdin)

    def query(self, sql: str, params=()) -> list[tuple]:
        with connect(self.database_url) as connection:
            return connection.execute(sql, params).fetchall()


class Browser:
    """An httpx client that keeps cookies itself: the server's cookies are Secure (HTTPS
    behind the proxy) and httpx would not send them back over the plain loopback."""

    def __init__(self, server: LiveServer, source: str):
        self.server = server
        self.cookies: dict[str, str] = {}
        self.client = httpx.Client(
            base_url=server.url,
            transport=httpx.HTTPTransport(local_address=source),
            headers={"X-Forwarded-Proto": "https"},
            follow_redirects=False,
            timeout=60,
        )

    def request(self, method: str, path: str, headers: dict | None = None, **kwargs):
        headers = dict(headers or {})
        if self.cookies and "Cookie" not in headers:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method.upper() not in ("GET", "HEAD", "OPTIONS"):
            headers.setdefault("Origin", self.server.origin)
        response = self.client.request(method, path, headers=headers, **kwargs)
        self.client.cookies.clear()
        self.keep_cookies(response)
        return response

    def keep_cookies(self, response) -> None:
        for header in response.headers.get_list("set-cookie"):
            jar = http.cookies.SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def csrf_token(self) -> str:
        if "csrftoken" not in self.cookies:
            self.get("/accounts/login/")
        return self.cookies["csrftoken"]

    def post_form(self, path: str, data: dict | None = None, **kwargs):
        """A POST the way the app's own forms send it (valid CSRF token, same origin)."""
        data = {**(data or {}), "csrfmiddlewaretoken": self.csrf_token()}
        return self.post(path, data=data, **kwargs)

    def log_in(self, key: str, password=None, code=None, path=None, headers=None):
        user = self.server.user(key)
        return self.post_form(
            path or "/accounts/login/",
            {
                "email": user["email"],
                "password": user["password"] if password is None else password,
                "otp_token": totp_now(user["totp_key"]) if code is None else code,
            },
            headers=headers,
        )


def api_client(server: LiveServer, token: str | None, source: str = "127.0.0.1") -> httpx.Client:
    headers = {"X-Forwarded-Proto": "https"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(
        base_url=server.url,
        transport=httpx.HTTPTransport(local_address=source),
        headers=headers,
        follow_redirects=False,
        timeout=60,
    )


def base_env(root: Path) -> dict:
    """Nothing of the test process's settings (tests.settings sets demo mode): a clean
    environment with the production variables only."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root / "home"),
        "LANG": "C.UTF-8",
        "TMPDIR": str(root / "tmp"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def run(argv: list[str], env: dict, cwd: Path, stdin: str = "") -> str:
    done = subprocess.run(
        argv, env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{' '.join(argv[:4])} failed:\n{done.stderr[-3000:]}"
    return done.stdout


def start(argv: list[str], env: dict, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, f"{' '.join(process.args[:4])} failed:\n{stderr[-3000:]}"
    return stdout


def run_backstage(env: dict, root: Path, *args: str, stdin: str = "") -> dict:
    return json.loads(run([PYTHON, str(BACKSTAGE), *args], env, root / "run", stdin=stdin))


def web_server_command(port: int) -> list[str]:
    """The demo's own gunicorn command line (its access-log format included), with one
    worker: the process-memory cache then holds every rate count, as Redis would."""
    from relais.management.commands.demo import processes

    argv = processes(str(port))["web"]
    argv[argv.index("--workers") + 1] = "1"
    return argv


def wait_until_up(url: str, process: subprocess.Popen, logs: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited:\n{logs.read_text()[-3000:]}")
        try:
            response = httpx.get(
                f"{url}/api/v1/health", headers={"X-Forwarded-Proto": "https"}, timeout=2
            )
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("gunicorn did not answer within 90 s")


@pytest.fixture(scope="package")
def live(database, smtp):
    root = Path(tempfile.mkdtemp(prefix="relais-attack-"))
    for name in ("home", "tmp", "run", "var", "keys", "logs"):
        (root / name).mkdir(mode=0o700)
    port = free_port()
    env = base_env(root)
    keys = root / "keys"
    run([PYTHON, "-m", "relais", "keys", "init-wrapping", "--out", str(keys / "wrap.json")],
        env, root / "run")  # fmt: skip
    run([PYTHON, "-m", "relais", "keys", "init", "--out", str(keys / "keyset.json"),
         "--wrapping-key-file", str(keys / "wrap.json")], env, root / "run")  # fmt: skip
    smtp_port, inbox = smtp
    env.update(
        {
            "RELAIS_SECRET_KEY": secrets.token_urlsafe(64),
            "RELAIS_KEYSET_FILE": str(keys / "keyset.json"),
            "RELAIS_KEYSET_WRAPPING_KEY_FILE": str(keys / "wrap.json"),
            "RELAIS_VAR_DIR": str(root / "var"),
            "RELAIS_DATABASE_URL": database,
            "RELAIS_ALLOWED_HOSTS": "127.0.0.1",
            "RELAIS_HTTPS": "1",
            "RELAIS_SSL_REDIRECT": "0",
            # The addresses test_behind_the_proxy.py plays the TLS proxy from.
            "RELAIS_TRUSTED_PROXIES": "127.0.0.30,127.0.0.31",
            "RELAIS_BASE_URL": f"https://127.0.0.1:{port}",
            "RELAIS_EMAIL_HOST": "127.0.0.1",
            "RELAIS_EMAIL_PORT": str(smtp_port),
            "RELAIS_EMAIL_USE_TLS": "0",
        }
    )
    relais = [PYTHON, "-m", "relais"]
    collecting = start([*relais, "collectstatic", "--noinput", "-v", "0"], env, root / "run")
    run([*relais, "migrate", "--noinput", "-v", "0"], env, root / "run")
    spec = seed_spec()
    seeded = run_backstage(env, root, "seed", stdin=json.dumps(spec))
    creating = {
        key: start([*relais, "api-credentials", "create", "--pharmacy", info["finess"],
                    "--name", f"LGO {key}"], env, root / "run")
        for key, info in spec["pharmacies"].items()
    }  # fmt: skip
    finish(collecting)
    api_tokens = {key: finish(process).strip() for key, process in creating.items()}
    logs = root / "logs" / "gunicorn.log"
    with logs.open("wb") as log_file:
        process = subprocess.Popen(
            web_server_command(port), env=env, cwd=root / "run", stdout=log_file,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = LiveServer(
        url=f"http://127.0.0.1:{port}",
        port=port,
        root=root,
        var_dir=root / "var",
        keys_dir=keys,
        tmp_dir=root / "tmp",
        log_files=[logs],
        env=env,
        database_url=database,
        spec=spec,
        seeded=seeded,
        api_tokens=api_tokens,
        inbox=inbox,
        personal_data=[info["data"] for info in spec["patients"].values()],
    )
    try:
        wait_until_up(server.url, process, logs)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


# --- Objects of pharmacy A, one per kind of id a URL takes ------------------------------------


def valid_test_body() -> dict:
    sampled = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    return {
        "kind": "sars_cov_2_antigen",
        "specimen": "nasal_swab",
        "sampled_at": sampled.isoformat(),
        "result": "negative",
        "consent_transmission": True,
    }


def csv_row(values: list[str]) -> str:
    return ";".join(values) + "\r\n"


def import_batch_of(live, browser) -> str:
    """An import batch of A, through the real upload (holds a patient's row)."""
    template = browser.get("/imports/template.csv")
    assert template.status_code == 200
    header = template.text.lstrip("\ufeff").splitlines()[0].split(";")
    data = live.personal_data[1]
    birth = data["birth_date"]
    row = {**dict.fromkeys(header, ""), **{k: v for k, v in data.items() if k in header}}
    row["birth_date"] = f"{birth[8:10]}/{birth[5:7]}/{birth[0:4]}"
    row.update(kind="sars_cov_2_antigen", specimen="nasal_swab", result="negative",
               sampled_at="01/01/2025 09:30", symptoms="non", consent_transmission="oui",
               notify_by="none", device="Attack")  # fmt: skip
    body = csv_row(header) + csv_row([row[name] for name in header])
    response = browser.post(
        "/imports/",
        data={"csrfmiddlewaretoken": browser.csrf_token()},
        files={"file": ("patients.csv", body.encode(), "text/csv")},
    )
    assert response.status_code == 302, response.text[:500]
    return response.headers["location"].rstrip("/").split("/")[-1]


@pytest.fixture(scope="package")
def ids_of_a(live):
    """One object of pharmacy A for each kind of id a URL takes."""
    seeded = live.seeded
    a_id = seeded["pharmacies"]["a"]["id"]
    transmission = live.query(
        "SELECT id FROM transmission_transmission WHERE pharmacy_id = %s LIMIT 1", (a_id,)
    )
    credential = live.query("SELECT id FROM api_apicredential WHERE pharmacy_id = %s", (a_id,))
    return {
        "patient_id": seeded["patients"]["a1"],
        "test_id": seeded["tests"]["a1"],
        "membership_id": seeded["users"]["a_assistant"]["membership"],
        "pharmacy_id": a_id,
        "application_id": seeded["pharmacies"]["a"]["application"],
        "transmission_id": str(transmission[0][0]),
        "credential_id": str(credential[0][0]),
        "batch_id": import_batch_of(live, live.login("a_pharmacist")),
    }
