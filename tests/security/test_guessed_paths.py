"""A stranger asks for the files that leaked in 2021: listings, source, settings, database
files, exports and backups. Only the collected static files may come back."""

import http.client

ATTACK = "guessed paths and directory listings"

LISTINGS = [
    "/",
    "/static/",
    "/static",
    "/media/",
    "/uploads/",
    "/wp-content/",
    "/wp-content/uploads/",
    "/var/",
    "/backup/",
    "/backups/",
    "/exports/",
    "/export/",
    "/data/",
    "/files/",
    "/tmp/",
    "/src/",
    "/relais/",
    "/.git/",
    "/static/relais/",
]
SECRETS = [
    "/.env",
    "/.env.local",
    "/.env.production",
    "/static/.env",
    "/.git/config",
    "/.git/HEAD",
    "/.git/index",
    "/.gitignore",
    "/.ci/run",
    "/var/secret_key",
    "/var/keyset.json",
    "/keyset.json",
    "/static/keyset.json",
    "/var/demo-accounts.json",
    "/demo-accounts.json",
    "/.htpasswd",
    "/server-status",
    "/.DS_Store",
]
SOURCE = [
    "/settings.py",
    "/src/relais/settings.py",
    "/relais/settings.py",
    "/manage.py",
    "/static/../settings.py",
    "/static/%2e%2e/settings.py",
    "/static/..%2fsettings.py",
    "/static/%2e%2e/%2e%2e/pyproject.toml",
    "/static/%2e%2e%2f%2e%2e%2fsettings.py",
    "/static/....//settings.py",
    "/static/..\\settings.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/../../../../etc/passwd",
    "/pyproject.toml",
    "/requirements.lock",
    "/Makefile",
    "/README.md",
    "/wsgi.py",
    "/src/relais/wsgi.py",
    "/relais/env.py",
    "/static/relais/settings.py",
    "/static/settings.py",
    "/static/../var/keyset.json",
    "/api/v1/../../settings.py",
    "/wp-config.php",
    "/wp-login.php",
    "/admin/",
    "/phpmyadmin/",
    "/cgi-bin/",
]
DATA = ["/db.sqlite3", "/relais.sqlite3", "/var/relais.sqlite3", "/static/relais.sqlite3",
        "/var/test.sqlite3", "/backup.tar.gz", "/backup.zip", "/backup.sql", "/dump.sql",
        "/relais.sql", "/db.sql", "/database.sql", "/relais.dump", "/export.csv",
        "/patients.csv", "/results.csv", "/resultats.csv", "/export/patients.csv",
        "/uploads/export.csv", "/media/export.csv", "/static/export.csv", "/var/backup.tar.gz",
        "/relais.tar.gz", "/site.tar.gz", "/www.zip", "/var/sms/outbox.log", "/var/mail/",
        "/imports/template.csv", "/api/v1/tests.csv"]  # fmt: skip
PATHS = LISTINGS + SECRETS + SOURCE + DATA

# Words that only a leaked file (or a debug page) would show.
LEAK_MARKERS = ["SECRET_KEY", "DATABASE", "primaryKeyId", "PRIVATE KEY", "[core]",
                "root:x:0:0", "ref: refs/", "Using the URLconf", "Traceback", "RELAIS_",
                "birth_name", "def ", "import "]  # fmt: skip


def raw_get(server, path: str, source: str = "127.0.0.4") -> tuple[int, bytes]:
    """http.client sends the path byte for byte: no dot-segment clean-up like httpx's."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=30, source_address=(source, 0)
    )
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.putheader("X-Forwarded-Proto", "https")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def collected_static(server) -> dict[str, bytes]:
    root = server.var_dir / "static"
    return {
        "/static/" + str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    }


def is_leak(path: str, status: int, body: bytes, static: dict[str, bytes]) -> str:
    text = body.decode("utf-8", "replace")
    marker = next((m for m in LEAK_MARKERS if m in text), None)
    if marker and not (200 <= status < 300 and static.get(path) == body):
        return f"{path}: {status} shows {marker!r}"
    if 200 <= status < 300 and body and static.get(path) != body:
        return f"{path}: {status} with {len(body)} bytes"
    return ""


def test_no_guessed_path_returns_content(live, attacks):
    static = collected_static(live)
    # The control: collected static files are served, so /static/ probes mean something.
    assert raw_get(live, "/static/relais.css") == (200, static["/static/relais.css"])
    login_page = raw_get(live, "/accounts/login/")[1]
    for path in PATHS:
        status, body = raw_get(live, path)
        if path == "/" and status == 302:
            continue  # the home page sends strangers to the login page
        if body == login_page:
            continue  # the app's own page
        leak = is_leak(path, status, body, static)
        attacks.attempt(ATTACK, bool(leak), leak)
        assert status < 500, f"{path}: {status}"
    attacks.assert_none(ATTACK)
