"""The client's address, the one every limit and the audit log count on."""

import ipaddress

from django.test import RequestFactory

from relais.lib.http import client_address


def request(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert client_address(request("192.0.2.1", "198.51.100.9")) == "192.0.2.1"


def test_behind_a_trusted_proxy_the_client_is_the_last_untrusted_hop(settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    assert client_address(request("10.0.0.2", "203.0.113.5")) == "203.0.113.5"
    # A client cannot plant an address in front: only the hop the proxy added counts.
    assert client_address(request("10.0.0.2", "1.2.3.4, 203.0.113.5")) == "203.0.113.5"
    assert client_address(request("10.0.0.2", "203.0.113.5, 10.0.0.9")) == "203.0.113.5"


def test_a_malformed_chain_falls_back_on_the_socket_address(settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    assert client_address(request("10.0.0.2", "not-an-ip")) == "10.0.0.2"
    assert client_address(request("10.0.0.2")) == "10.0.0.2"


def test_an_untrusted_sender_cannot_spoof(settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    assert client_address(request("198.51.100.1", "10.0.0.3")) == "198.51.100.1"
