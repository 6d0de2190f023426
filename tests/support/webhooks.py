"""A real HTTP server on loopback playing a pharmacy software's webhook receiver."""

import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "api.md"


class Receiver:
    """Records each POST (headers, raw body) and answers the next of `statuses` (the last
    one again once they run out), with `location` as a Location header when given; over
    TLS with `tls` (certificate and key files), its URL naming `host`. Serves inside a
    `with`."""

    def __init__(self, statuses=(200,), location: str | None = None, tls=None, host="127.0.0.1"):
        self.requests: list[dict] = []
        self.statuses = list(statuses)
        self.location = location
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                receiver.requests.append(
                    {"path": self.path, "headers": self.headers, "body": self.rfile.read(length)}
                )
                status = (
                    receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                )
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        scheme = "http"
        if tls is not None:  # (certificate file, key file): https
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://{host}:{self.port}/relais/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def documented_verify():
    """The `verify` function of docs/api.md's webhook section, exactly as printed there."""
    section = GUIDE.read_text().split("## Webhooks", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 (our own documentation's example)
    return namespace["verify"]
