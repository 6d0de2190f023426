"""Throwaway certificates for the demo and the tests: a CA, a server and a client certificate.

Uses the `openssl` command line (present on every supported machine) rather than a Python
dependency. Never for production: real SI-DEP certificates come from the national PKI.
Run directly with `scripts/make-certs DIRECTORY`.
"""

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from relais.lib.certificates import openssl

DAYS_VALID = 825


@dataclass(frozen=True)
class CertPaths:
    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.crt"

    @property
    def client_key(self) -> Path:
        return self.directory / "client.key"

    def complete(self) -> bool:
        files = [self.ca_cert, self.server_cert, self.server_key, self.client_cert]
        return all(path.exists() for path in [*files, self.client_key])


def _new_key(path: Path, cwd: Path) -> None:
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", str(path), cwd=cwd)  # fmt: skip
    path.chmod(0o600)


def _sign(name: str, subject: str, extensions: str, work: Path, days: int = DAYS_VALID) -> None:
    """Create name.key and name.crt in `work`, signed by the CA in `work`, valid `days`."""
    _new_key(work / f"{name}.key", work)
    (work / f"{name}.ext").write_text(extensions)
    openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr",
             cwd=work)  # fmt: skip
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", str(days), "-sha256",
             "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=work)  # fmt: skip


def _install(source: Path, target: Path, mode: int) -> None:
    """Copy with the final mode from the start, so a key is never readable by others."""
    target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(source.read_bytes())
    target.chmod(mode)


def make_certs(
    directory: Path, *, common_name: str = "Relais demo", client_days: int = DAYS_VALID
) -> CertPaths:
    """Create ca.crt, server.crt/.key (127.0.0.1, localhost) and client.crt/.key in `directory`,
    the client certificate valid `client_days` days (tests: one about to expire).

    Keys are written with mode 0600; the CA's own key is thrown away once both
    certificates are signed, so nothing more can be signed with this CA.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = CertPaths(directory)
    with tempfile.TemporaryDirectory(prefix="relais-certs-") as tmp:
        work = Path(tmp)
        _new_key(work / "ca.key", work)
        openssl("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", str(DAYS_VALID),
                 "-subj", f"/O=Relais/CN={common_name} CA", "-addext",
                 "basicConstraints=critical,CA:TRUE", "-addext",
                 "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.crt", cwd=work)  # fmt: skip
        _sign(
            "server",
            "/O=Relais/CN=localhost",
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
            work,
        )
        _sign(
            "client",
            f"/O=Relais/CN={common_name} client",
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=clientAuth\n",
            work,
            client_days,
        )
        for name in ["ca.crt", "server.crt", "server.key", "client.crt", "client.key"]:
            _install(work / name, directory / name, 0o600 if name.endswith(".key") else 0o644)
    return paths


def ensure_certs(directory: Path) -> CertPaths:
    """The demo's certificates: created on first use, reused afterwards."""
    paths = CertPaths(Path(directory))
    if not paths.complete():
        make_certs(paths.directory)
    return paths


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: make-certs DIRECTORY", file=sys.stderr)
        return 2
    paths = make_certs(Path(args[0]))
    print(f"CA, server and client certificates written to {paths.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
