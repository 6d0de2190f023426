"""Facts about the request that several apps need, read one way."""

import ipaddress

from django.conf import settings


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.TRUSTED_PROXIES)


def client_address(request) -> str:
    """The client's address. Behind trusted reverse proxies (RELAIS_TRUSTED_PROXIES) it is
    the last address in X-Forwarded-For that is not one of them; from anyone else the
    header is ignored, so a client cannot choose the address its limits are counted on."""
    if request is None:
        return ""
    address = request.META.get("REMOTE_ADDR", "")
    if not _trusted(address):
        return address
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # a malformed chain: fall back on what the socket says
        if not _trusted(hop):
            return hop
    return address
