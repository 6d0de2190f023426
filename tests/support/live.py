"""The attacker's world: the real server, run the way production runs it.

`live_server(database_url, inbox)` makes a wrapped keyset (`relais keys init`) and a strong
secret key, migrates with `relais migrate`, seeds two approved pharmacies through the ORM
(tests/support/backstage.py), creates an API credential per pharmacy with `relais
api-credentials create`, and starts gunicorn with production settings (RELAIS_DEMO unset,
RELAIS_HTTPS=1). The client plays the TLS proxy: it sends `X-Forwarded-Proto: https`, so
RELAIS_SSL_REDIRECT=0.
"""

import datetime
import http.cookies
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.factories import key_code
from tests.support.fictitious import csv_text, make_nir
from tests.support.ports import free_port
from tests.support.servers import PROJECT_DIR, WebServer
from tests.support.smtp import SmtpInbox

# The pages whose form carries a one-time token (and, to edit, the version it shows).
GUARDED_FORM = re.compile(r"/(patients/new|tests/new|correct|edit)/$")
HIDDEN_GUARD = re.compile(r'<input type="hidden" name="(form_token|built_from)" value="([^"]*)">')

PYTHON = sys.executable
PASSWORD_LENGTH = 24
BEHIND_THE_PROXY = {"X-Forwarded-Proto": "https"}

# --- Seed data --------------------------------------------------------------------------------


def identity(birth_name, used_name, given, birth, sex, order, phone, email, address) -> dict:
    """A patient's identity as the API takes it (birth date as ISO text), born in Paris."""
    birth_date = datetime.date.fromisoformat(birth)
    return {
        "birth_name": birth_name,
        "used_name": used_name,
        "given_names": given,
        "birth_date": birth,
        "sex": sex,
        "birthplace_code": "75056",
        "nir": make_nir(sex, birth_date, order),
        "address": address,
        "postal_code": "75011",
        "city": "Paris",
        "phone": phone,
        "email": email,
    }


PATIENTS = {
    # key: (pharmacy, author, data)
    "a1": ("a", "a_pharmacist", identity("Quillebeuf", "Marchadour", "Ysaline Perrine",
           "1961-07-23", "F", 417, "+33698765431", "ysaline.quillebeuf@example.org",
           "17 allée des Quokkas")),
    "a2": ("a", "a_pharmacist", identity("Zarkowski", "", "Anselme Théodric", "1994-11-02",
           "M", 238, "+33687654329", "anselme.zarkowski@example.org", "4 impasse Vrillac")),
    "b1": ("b", "b_owner", identity("Brisemontier", "Ondinelle", "Clothilde", "1978-02-19",
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


# --- Running commands the way production does -------------------------------------------------


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
    done = subprocess.run(  # noqa: S603 (our own command lines)
        argv, env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{' '.join(argv[:4])} failed:\n{done.stderr[-3000:]}"
    return done.stdout


def start(argv: list[str], env: dict, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 (our own command lines)
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, f"{' '.join(process.args[:4])} failed:\n{stderr[-3000:]}"
    return stdout


def run_backstage(env: dict, root: Path, *args: str, stdin: str = "") -> dict:
    """tests/support/backstage.py with the server's own environment (see its docstring)."""
    argv = [PYTHON, "-m", "tests.support.backstage", *args]
    return json.loads(run(argv, {**env, "PYTHONPATH": str(PROJECT_DIR)}, root / "run", stdin))


def web_server_command(port: int) -> list[str]:
    """The demo's own gunicorn command line (its access-log format included), with one
    worker: the process-memory cache then holds every rate count, as Redis would."""
    from relais.management.commands.demo import processes

    argv = processes(str(port))["web"]
    argv[argv.index("--workers") + 1] = "1"
    return argv


# --- The live server and its clients ----------------------------------------------------------


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
    inbox: SmtpInbox
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
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as connection:
            return connection.execute(sql, params).fetchall()

    def send_queued_email(self, rounds: int = 20) -> None:
        """Runs worker rounds until no account e-mail waits: a round sends one batch, and
        earlier attacks may have left more than a batch in the queue."""
        waiting = "SELECT 1 FROM accounts_queuedemail WHERE state = 'pending' LIMIT 1"
        for _ in range(rounds):
            run([PYTHON, "-m", "relais", "worker", "--once"], self.env, self.root / "run")
            if not self.query(waiting):
                return
        raise AssertionError(f"account e-mails still waiting after {rounds} worker rounds")

    def work_imports(self, rounds: int = 10) -> None:
        """Runs worker rounds until no CSV import batch waits for its check or import."""
        busy = (
            "SELECT 1 FROM imports_importbatch WHERE state IN "
            "('queued', 'checking', 'import_queued', 'importing') LIMIT 1"
        )
        for _ in range(rounds):
            run([PYTHON, "-m", "relais", "worker", "--once"], self.env, self.root / "run")
            if not self.query(busy):
                return
        raise AssertionError(f"CSV imports still waiting after {rounds} worker rounds")


class Browser:
    """An httpx client that keeps cookies itself: the server's cookies are Secure (HTTPS
    behind the proxy) and httpx would not send them back over the plain loopback."""

    def __init__(self, server: LiveServer, source: str):
        self.server = server
        self.cookies: dict[str, str] = {}
        self.client = httpx.Client(
            base_url=server.url,
            transport=httpx.HTTPTransport(local_address=source),
            headers=BEHIND_THE_PROXY,
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
        """A POST the way the app's own forms send it (valid CSRF token, same origin; the
        hidden one-time token and version of a form that saves a patient or a test, read
        from its page as a browser would)."""
        data = {**(data or {}), "csrfmiddlewaretoken": self.csrf_token()}
        if GUARDED_FORM.search(path) and "form_token" not in data:
            page = self.get(path).text
            data = {**dict(HIDDEN_GUARD.findall(page)), **data}
        return self.post(path, data=data, **kwargs)

    def search_patients(self, criteria: dict):
        """The patient search as a browser does it: the form's POST, then the results page
        it redirects to (Post/Redirect/Get); an invalid search answers the form itself."""
        response = self.post_form("/patients/", criteria)
        return self.get(response.headers["location"]) if response.status_code == 302 else response

    def follow_result_link(self, token: str, headers: dict | None = None):
        """What a click on a result link does: /r/<token> hands the token to the session
        and redirects to the token-free date page. Returns the redirect."""
        return self.get(f"/r/{token}", headers=headers)

    def send_birth_date(self, birth: str, headers: dict | None = None):
        """The date form of the followed link (`birth` as YYYY-MM-DD)."""
        year, month, day = birth.split("-")
        date = {"day": str(int(day)), "month": str(int(month)), "year": year}
        return self.post("/r/open/", data=date, headers=headers)

    def open_result_link(self, token: str, birth: str, headers: dict | None = None):
        """Follow the link, then send `birth`; returns the date form's answer."""
        self.follow_result_link(token, headers=headers)
        return self.send_birth_date(birth, headers=headers)

    def log_in(self, key: str, password=None, code=None, path=None, headers=None):
        user = self.server.user(key)
        return self.post_form(
            path or "/accounts/login/",
            {
                "email": user["email"],
                "password": user["password"] if password is None else password,
                "otp_token": key_code(user["totp_key"]) if code is None else code,
            },
            headers=headers,
        )


def api_client(server: LiveServer, token: str | None, source: str = "127.0.0.1") -> httpx.Client:
    headers = dict(BEHIND_THE_PROXY)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(
        base_url=server.url,
        transport=httpx.HTTPTransport(local_address=source),
        headers=headers,
        follow_redirects=False,
        timeout=60,
    )


@contextmanager
def live_server(database_url: str, inbox: SmtpInbox):
    """A seeded production server on `database_url` (an empty database), its e-mail going
    to `inbox`; yields a LiveServer, stops the server and removes its files on exit."""
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
    env.update(
        {
            "RELAIS_SECRET_KEY": secrets.token_urlsafe(64),
            "RELAIS_AUDIT_KEY": secrets.token_urlsafe(48),
            "RELAIS_KEYSET_FILE": str(keys / "keyset.json"),
            "RELAIS_KEYSET_WRAPPING_KEY_FILE": str(keys / "wrap.json"),
            "RELAIS_VAR_DIR": str(root / "var"),
            "RELAIS_DATABASE_URL": database_url,
            "RELAIS_ALLOWED_HOSTS": "127.0.0.1",
            "RELAIS_HTTPS": "1",
            "RELAIS_SSL_REDIRECT": "0",
            # The addresses test_behind_the_proxy.py plays the TLS proxy from.
            "RELAIS_TRUSTED_PROXIES": "127.0.0.30,127.0.0.31",
            "RELAIS_BASE_URL": f"https://127.0.0.1:{port}",
            "RELAIS_EMAIL_HOST": "127.0.0.1",
            "RELAIS_EMAIL_PORT": str(inbox.port),
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
    web = WebServer(web_server_command(port), port, env, root / "run", logs, BEHIND_THE_PROXY)
    server = LiveServer(
        url=web.url,
        port=port,
        root=root,
        var_dir=root / "var",
        keys_dir=keys,
        tmp_dir=root / "tmp",
        log_files=[logs],
        env=env,
        database_url=database_url,
        spec=spec,
        seeded=seeded,
        api_tokens=api_tokens,
        inbox=inbox,
        personal_data=[info["data"] for info in spec["patients"].values()],
    )
    try:
        web.start(timeout=90)
        yield server
    finally:
        web.stop()
        shutil.rmtree(root, ignore_errors=True)


# --- Objects of pharmacy A, one per kind of id a URL takes ------------------------------------


def import_file_of(browser: Browser, data: dict) -> str:
    """A CSV import file (the page's own template's columns) with one test of `data`."""
    template = browser.get("/imports/template.csv")
    assert template.status_code == 200
    header = template.text.lstrip("\ufeff").splitlines()[0].split(";")
    birth = data["birth_date"]
    row = {**dict.fromkeys(header, ""), **{k: v for k, v in data.items() if k in header}}
    row["birth_date"] = f"{birth[8:10]}/{birth[5:7]}/{birth[0:4]}"
    row.update(kind="sars_cov_2_antigen", specimen="nasal_swab", result="negative",
               sampled_at="01/01/2025 09:30", symptoms="non", consent_transmission="oui",
               notify_by="none", device="Attack")  # fmt: skip
    return csv_text([row], columns=header)


def import_batch_of(live: LiveServer, browser: Browser) -> str:
    """An import batch of A, through the real upload (holds a patient's row)."""
    body = import_file_of(browser, live.personal_data[1])
    response = browser.post(
        "/imports/",
        data={"csrfmiddlewaretoken": browser.csrf_token()},
        files={"file": ("patients.csv", body.encode(), "text/csv")},
    )
    assert response.status_code == 302, response.text[:500]
    return response.headers["location"].rstrip("/").split("/")[-1]


def ids_of_a(live: LiveServer) -> dict:
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
