"""A real OpenID Connect provider (npm's oidc-provider, tests/accounts/psc_provider/
provider.mjs) standing in for Pro Santé Connect on 127.0.0.1, and a user agent that walks
its login pages over HTTP.

`make browser` installs the package (package-lock.json) with `npm ci`.
"""

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from tests.support.servers import PROJECT_DIR, stop_process

SCRIPT = Path(__file__).with_name("provider.mjs")
PACKAGE = PROJECT_DIR / "node_modules" / "oidc-provider" / "package.json"
FORM_ACTION_RE = re.compile(r'<form[^>]*action="([^"]+)"')


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen
    log: Path
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def set_mode(self, **mode: str) -> None:
        """A provider gone wrong on purpose (see provider.mjs); no argument: back to normal."""
        response = self.http.post(f"{self.issuer}/__test__/mode", content=json.dumps(mode))
        response.raise_for_status()

    def sign_in(self, authorization_url: str, account: str, until: str) -> str:
        """Walk the provider's pages as a browser would (a fresh one: no session there), as
        `account`; returns the address it finally sends the browser to (starting with
        `until`: Relais's redirect URI)."""
        browser = httpx.Client(timeout=10)
        url = authorization_url
        for _ in range(12):
            if url.startswith(until):
                return url
            response = browser.get(url)
            if response.status_code in (302, 303):
                url = urljoin(url, response.headers["location"])
                continue
            assert response.status_code == 200, (response.status_code, response.text[:500])
            action = FORM_ACTION_RE.search(response.text)
            assert action, response.text[:500]
            response = browser.post(
                urljoin(url, action.group(1)),
                data={"prompt": "login", "login": account, "password": "any"},
            )
            assert response.status_code in (302, 303), response.text[:500]
            url = urljoin(url, response.headers["location"])
        raise AssertionError(f"the provider never sent the browser back: {url}")

    def stop(self) -> None:
        self.http.close()
        stop_process(self.process)


def start(client_id: str, client_secret: str, redirect_uri: str, accounts: dict) -> Provider:
    assert PACKAGE.exists(), "oidc-provider is not installed: run `make browser` (npm ci)"
    config = {
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uris": [redirect_uri],
        "accounts": accounts,
    }
    log = Path(tempfile.mkstemp(prefix="psc-provider-", suffix=".log")[1])
    with log.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603 (our own command line)
            ["node", str(SCRIPT), json.dumps(config)],
            cwd=PROJECT_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        stop_process(process)
        raise RuntimeError(f"the provider did not start: {log.read_text()[-2000:]}")
    issuer = json.loads(line)["issuer"]
    assert urlsplit(issuer).hostname == "127.0.0.1"
    return Provider(issuer=issuer, process=process, log=log)
