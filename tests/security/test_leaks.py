"""After every attack: the database, every file the server wrote and its logs hold no
plaintext personal data of the test patients; no tracked file holds a secret."""

import re
import subprocess
import unicodedata
from pathlib import Path

import pytest
from django.core import signing

from tests.support.servers import PROJECT_DIR

PERSONAL_DATA_IN_DB = "personal data in the database"
PERSONAL_DATA_IN_FILES = "personal data in files and logs"
SECRETS_IN_GIT = "secrets in tracked files"
LINK_TOKENS = "patient-link tokens in files, logs and the database"
SESSION_SALT = "django.contrib.sessions.SessionStore"

# Built from parts, so this file does not match its own patterns.
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*" + rb"PRIVATE KEY-----")
TINK_KEYSET = re.compile(rb'"primary' + rb'KeyId"\s*:\s*\d')
AWS_KEY = re.compile(rb"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
SECRET_LITERAL = re.compile(rb"SECRET" + rb"_KEY\s*=\s*[\"'][^\"']{8,}[\"']")
FORBIDDEN_FILES = re.compile(r"(^|/)\.env(\.[^/]*)?$|\.(sqlite3?|db|dump)$")
KEYSETS_ALLOWED_UNDER = "tests/fixtures/"


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def needles(personal_data: list[dict]) -> dict[bytes, str]:
    """Every way a test patient's data could be written, as bytes -> what it is."""
    found = {}
    for data in personal_data:
        birth = data["birth_date"]
        year, month, day = birth.split("-")
        values = {
            "birth name": data["birth_name"],
            "used name": data["used_name"],
            "given names": data["given_names"],
            "NIR": data["nir"],
            "phone": data["phone"],
            "national phone": "0" + data["phone"][3:],
            "e-mail": data["email"],
            "birth date": birth,
            "birth date (dd/mm/yyyy)": f"{day}/{month}/{year}",
            "birth date (HL7)": f"{year}{month}{day}",
        }
        for number, name in enumerate(data["given_names"].split()):
            values[f"given name {number + 1}"] = name
        for what, value in values.items():
            if not value:
                continue
            for form in {value, value.upper(), value.lower(), fold(value), fold(value).upper()}:
                found[form.encode("utf-8")] = f"{what} of {data['birth_name']}"
    return found


def hits(blob: bytes, wanted: dict[bytes, str]) -> list[str]:
    return sorted({what for needle, what in wanted.items() if needle in blob})


def session_payloads(live) -> list[bytes]:
    secret = live.env["RELAIS_SECRET_KEY"]
    decoded = []
    for (data,) in live.query("SELECT session_data FROM django_session"):
        try:
            payload = signing.loads(data, key=secret, salt=SESSION_SALT)
        except signing.BadSignature:
            continue
        decoded.append(repr(payload).encode())
    return decoded


@pytest.mark.scan
def test_the_database_holds_no_plaintext_personal_data(live, attacks):
    wanted = needles(live.personal_data)
    tables = [
        row[0] for row in live.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    ]
    scanned = 0
    for table in tables:
        columns = live.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s",
            (table,),
        )
        binary = [name for name, kind in columns if kind == "bytea"]
        for row in live.query(f'SELECT t::text FROM "{table}" t'):
            scanned += 1
            found = hits(row[0].encode(), wanted)
            attacks.attempt(PERSONAL_DATA_IN_DB, bool(found), f"{table}: {found}")
        for column in binary:
            for (value,) in live.query(
                f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
            ):
                found = hits(bytes(value), wanted)
                attacks.attempt(PERSONAL_DATA_IN_DB, bool(found), f"{table}.{column}: {found}")
    for payload in session_payloads(live):
        found = hits(payload, wanted)
        attacks.attempt(PERSONAL_DATA_IN_DB, bool(found), f"session: {found}")
    # The scan sees data: the patients' rows are there, encrypted.
    assert scanned > 100
    assert live.query("SELECT count(*) FROM screening_patient")[0][0] >= len(live.personal_data)
    attacks.assert_none(PERSONAL_DATA_IN_DB)


def written_files(live) -> list[Path]:
    keysets = {live.keys_dir / "keyset.json", live.keys_dir / "wrap.json"}
    files = [path for path in live.root.rglob("*") if path.is_file() and path not in keysets]
    return files


@pytest.mark.scan
def test_files_and_logs_hold_no_plaintext_personal_data(live, attacks):
    wanted = needles(live.personal_data)
    files = written_files(live)
    assert any(path in files for path in live.log_files)
    assert live.log_files[0].stat().st_size > 0  # gunicorn's output is captured
    for path in files:
        found = hits(path.read_bytes(), wanted)
        attacks.attempt(
            PERSONAL_DATA_IN_FILES, bool(found), f"{path.relative_to(live.root)}: {found}"
        )
    attacks.assert_none(PERSONAL_DATA_IN_FILES)


def tracked_files() -> list[str]:
    done = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT_DIR, capture_output=True, check=True
    )
    return [name for name in done.stdout.decode().split("\0") if name]


@pytest.mark.scan
def test_no_tracked_file_holds_a_secret(attacks):
    names = tracked_files()
    assert len(names) > 100
    for name in names:
        path = PROJECT_DIR / name
        attacks.attempt(SECRETS_IN_GIT, bool(FORBIDDEN_FILES.search(name)), f"{name} is tracked")
        if not path.is_file():
            continue
        content = path.read_bytes()
        found = [label for label, pattern in (("private key", PRIVATE_KEY), ("AWS key", AWS_KEY),
                                              ("SECRET_KEY literal", SECRET_LITERAL))
                 if pattern.search(content)]  # fmt: skip
        if TINK_KEYSET.search(content) and not name.startswith(KEYSETS_ALLOWED_UNDER):
            found.append("Tink keyset")
        attacks.attempt(SECRETS_IN_GIT, bool(found), f"{name}: {found}")
    attacks.assert_none(SECRETS_IN_GIT)


@pytest.mark.scan
def test_link_tokens_are_written_nowhere(live, attacks):
    """A link token and a birth date open a result: the token must not sit in a log."""
    tokens = [token.encode() for token in live.seeded["links"].values()]
    for path in written_files(live):
        content = path.read_bytes()
        found = sum(token in content for token in tokens)
        attacks.attempt(LINK_TOKENS, bool(found), f"{path.relative_to(live.root)}: {found}")
    for table in ("patient_access_resultlink", "patient_access_notification", "audit_auditevent"):
        for (row,) in live.query(f'SELECT t::text FROM "{table}" t'):
            found = sum(token in row.encode() for token in tokens)
            attacks.attempt(LINK_TOKENS, bool(found), f"{table}: {found}")
    attacks.assert_none(LINK_TOKENS)
