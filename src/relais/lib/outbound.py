"""A POST to an address someone outside gave us (a pharmacy software's webhook), made so
that it cannot be turned against our own network (server-side request forgery).

The host is resolved once; every address it resolves to must be public (not loopback,
private, link-local, multicast, reserved, shared or unspecified), and the connection goes
to the address that was checked, so a second lookup cannot answer differently (DNS
rebinding). TLS still checks the certificate against the host name (SNI and Host carry the
name, not the address). Redirects are never followed (http.client does not), the answer is
read up to a few bytes, and every socket operation has a short timeout.

`allow_loopback` (tests and the demo only) admits 127.0.0.1 and ::1, and plain http to
them: nothing else.
"""

import http.client
import ipaddress
import socket
import ssl
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 500
# Enough to read the status line and headers' start; the body is not used.
MAX_RESPONSE_BYTES = 1024
LOOPBACK = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


class Refused(Exception):
    """The address may not be used; `code` says why (never the address itself)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def allowed_address(address: str, allow_loopback: bool = False) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # no scope id: link-local anyway
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in LOOPBACK:
        return allow_loopback
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def parse(url: str, allow_loopback: bool = False) -> SplitResult:
    """The URL's parts, if it may name a webhook: https (http only with allow_loopback),
    a host, no user name or password in it. Raises Refused."""
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 32 for c in url):
        raise Refused("malformed")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("malformed") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Refused("malformed")
    if not url.isascii():  # an international name goes in its xn-- form
        raise Refused("malformed")
    if parts.scheme == "http" and not allow_loopback:
        raise Refused("not_https")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise Refused("malformed")
    if port == 0:
        raise Refused("malformed")
    return parts


def default_port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def resolve(parts: SplitResult, allow_loopback: bool = False) -> list[str]:
    """The addresses to connect to, in the resolver's order. Every address the host
    resolves to must be allowed (a name that resolves to a public and a private address is
    refused), and plain http only ever goes to loopback. Raises Refused."""
    try:
        found = socket.getaddrinfo(
            parts.hostname, default_port(parts), type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError):
        raise Refused("unresolved") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses:
        raise Refused("unresolved")
    if not all(allowed_address(address, allow_loopback) for address in addresses):
        raise Refused("forbidden_address")
    if parts.scheme == "http" and not all(
        ipaddress.ip_address(address) in LOOPBACK for address in addresses
    ):
        raise Refused("not_https")
    return addresses


def check(url: str, allow_loopback: bool = False) -> None:
    """Raises Refused unless `url` may receive webhooks now (registration time)."""
    resolve(parse(url, allow_loopback), allow_loopback)


def connect(addresses: list[str], port: int, timeout: float) -> socket.socket:
    """A connection to the first of the checked addresses that answers (IPv6 or IPv4)."""
    failure: OSError = OSError("no address")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as error:
            failure = error
    raise failure


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float,
         allow_loopback: bool = False) -> int:  # fmt: skip
    """POSTs `body` and returns the answer's status. Raises Refused, or OSError (network,
    TLS, timeout) or http.client.HTTPException (a broken answer)."""
    parts = parse(url, allow_loopback)
    addresses = resolve(parts, allow_loopback)
    port = default_port(parts)
    hostname = parts.hostname or ""
    sock = connect(addresses, port, timeout)
    try:
        if parts.scheme == "https":
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=hostname)
        connection = http.client.HTTPConnection(hostname, port, timeout=timeout)
        connection.sock = sock  # already connected, to an address that was checked
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return response.status
    finally:
        sock.close()
