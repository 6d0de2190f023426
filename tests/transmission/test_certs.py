"""scripts/make-certs: a throwaway CA, a server certificate for 127.0.0.1 and a client one."""

import subprocess
import sys

from tests.support.servers import PROJECT_DIR

SCRIPT = PROJECT_DIR / "scripts" / "make-certs"


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


def test_script_creates_a_ca_and_certificates_it_signed(tmp_path):
    target = tmp_path / "certs"
    subprocess.run([sys.executable, str(SCRIPT), str(target)], check=True, capture_output=True)

    names = sorted(path.name for path in target.iterdir())
    assert names == ["ca.crt", "client.crt", "client.key", "server.crt", "server.key"]
    for key in ["client.key", "server.key"]:
        assert (target / key).stat().st_mode & 0o777 == 0o600
    ca = str(target / "ca.crt")
    for cert in ["server.crt", "client.crt"]:
        assert openssl("verify", "-CAfile", ca, str(target / cert)).strip().endswith(": OK")
    server = openssl("x509", "-in", str(target / "server.crt"), "-noout", "-text")
    assert "IP Address:127.0.0.1" in server and "DNS:localhost" in server
    assert "TLS Web Server Authentication" in server
    client = openssl("x509", "-in", str(target / "client.crt"), "-noout", "-text")
    assert "TLS Web Client Authentication" in client


def test_script_needs_exactly_one_directory(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "usage: make-certs DIRECTORY" in done.stderr
