"""The IP echo and trace endpoints, with hostile answers."""

from __future__ import annotations

import http.client
import socket
from urllib.parse import urlsplit

import pytest

from fakes.server import FakeCloudflare


def get(fake: FakeCloudflare, path: str, timeout: float = 5.0) -> http.client.HTTPResponse:
    """One GET without following redirects."""
    u = urlsplit(fake.url)
    conn = http.client.HTTPConnection(u.hostname or "", u.port, timeout=timeout)
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()  # buffer the body so the caller can inspect after the connection closes
    return resp


def body(fake: FakeCloudflare, path: str) -> str:
    u = urlsplit(fake.url)
    conn = http.client.HTTPConnection(u.hostname or "", u.port, timeout=5)
    conn.request("GET", path)
    return conn.getresponse().read().decode()


def test_trace_has_the_real_format(fake: FakeCloudflare) -> None:
    text = body(fake, "/cdn-cgi/trace")
    fields = dict(line.split("=", 1) for line in text.splitlines())
    assert fields["ip"] == "81.2.69.160"
    assert {"fl", "h", "ts", "visit_scheme", "uag", "colo", "loc", "tls", "warp"} <= set(fields)
    assert text.endswith("\n")


def test_ip_is_the_bare_address(fake: FakeCloudflare) -> None:
    assert body(fake, "/ip") == "81.2.69.160"


def test_set_ip_changes_every_family(fake: FakeCloudflare) -> None:
    fake.set_ip(ipv4="81.2.69.161", ipv6="2a01:4f8:c0c:1::2")
    assert body(fake, "/ip") == "81.2.69.161"
    assert body(fake, "/ip6") == "2a01:4f8:c0c:1::2"
    assert "ip=2a01:4f8:c0c:1::2\n" in body(fake, "/cdn-cgi/trace6")


def test_no_ipv6_configured_is_404(fake: FakeCloudflare) -> None:
    assert get(fake, "/ip6").status == 404


@pytest.mark.parametrize("hostile", [
    "<html><body>502 Bad Gateway</body></html>", "", "81.2.69.160\n81.2.69.161\n", "81.2.69.160 junk",
])
def test_hostile_bodies(fake: FakeCloudflare, hostile: str) -> None:
    fake.set_echo("/ip", body=hostile, content_type="text/html")
    assert body(fake, "/ip") == hostile
    assert body(fake, "/cdn-cgi/trace").count("ip=81.2.69.160") == 1  # other endpoints unchanged


def test_set_cookie_header(fake: FakeCloudflare) -> None:
    fake.set_echo("ipv4", headers={"Set-Cookie": "ip=81.2.69.99; Path=/"})
    resp = get(fake, "/ip")
    assert resp.getheader("Set-Cookie") == "ip=81.2.69.99; Path=/"


def test_redirect_to_another_host(fake: FakeCloudflare) -> None:
    fake.set_echo("/ip", redirect="http://127.0.0.2:9/ip")
    resp = get(fake, "/ip")
    assert resp.status == 302
    assert resp.getheader("Location") == "http://127.0.0.2:9/ip"


@pytest.mark.parametrize("status", [403, 404, 500, 503])
def test_error_status(fake: FakeCloudflare, status: int) -> None:
    fake.set_echo("/cdn-cgi/trace", status=status, body="error\n")
    assert get(fake, "/cdn-cgi/trace").status == status


def test_hang_past_the_client_timeout(fake: FakeCloudflare) -> None:
    fake.set_echo("/ip", delay=1.0, times=1)
    with pytest.raises((TimeoutError, socket.timeout)):
        get(fake, "/ip", timeout=0.2)
    assert body(fake, "/ip") == "81.2.69.160"  # times=1 used up


def test_set_ip_clears_hostile_answers_of_that_family(fake: FakeCloudflare) -> None:
    fake.set_echo("*", body="<html/>")
    fake.set_ip(ipv4="81.2.69.162")
    assert body(fake, "/ip") == "81.2.69.162"
    assert fake.echo_overrides.keys() == {"/cdn-cgi/trace6", "/ip6"}


def test_hits_are_counted_apart_from_the_api(fake: FakeCloudflare) -> None:
    body(fake, "/ip")
    body(fake, "/ip")
    body(fake, "/cdn-cgi/trace")
    assert fake.echo_hits["/ip"] == 2
    assert fake.echo_hits["/cdn-cgi/trace"] == 1
    assert fake.requests() == []
    fake.clear_requests()
    assert sum(fake.echo_hits.values()) == 0


def test_unknown_echo_endpoint_is_refused(fake: FakeCloudflare) -> None:
    with pytest.raises(ValueError, match="unknown echo endpoint"):
        fake.set_echo("/what", body="x")
