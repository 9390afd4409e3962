"""Address detection: parsers, validation, every source type against the fake, the policies."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import IP1, IP2, IP6_1, Env
from pi_ddns import detect, httpclient
from pi_ddns.config import (
    CommandSource,
    DnsSource,
    Family,
    HttpSource,
    InterfaceSource,
    Source,
    StaticSource,
    TraceSource,
)
from pi_ddns.detect import SourceError, check, parse_echo, parse_trace
from pi_ddns.errors import DetectionError
from tlsserver import TlsEcho, make_ca_dir


def family(*sources: Source, version: int = 4, policy: str = "first", agree: int = 2,
           allow_nonglobal: bool = False, timeout: float = 2.0) -> Family:
    return Family(version, True, policy, agree, allow_nonglobal, timeout, tuple(sources))


# ---- validation ------------------------------------------------------------------------------

REJECTED = [
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.10", "private"),
    ("100.64.0.1", "shared address space"), ("127.0.0.1", "loopback"),
    ("169.254.1.1", "link local"),
    ("192.0.2.1", "documentation"), ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"), ("224.0.0.1", "multicast"), ("0.0.0.0", "this host"),  # noqa: S104
    ("240.0.0.1", "reserved"), ("255.255.255.255", "broadcast"), ("198.18.0.1", "benchmarking"),
    ("104.16.1.1", "Cloudflare"), ("172.67.1.1", "Cloudflare"), ("1.1.1.1", "Cloudflare"),
    ("2606:4700:4700::1111", "Cloudflare"), ("2001:db8::1", "documentation"),
    ("fd00::1", "unique-local"), ("fe80::1", "link-local"), ("::1", "loopback"),
    ("ff02::1", "multicast"), ("::", "unspecified"), ("::ffff:81.2.69.160", "IPv4-mapped"),
    # what the red team published: site-local, IPv4-compatible, reserved parts of 100::/8,
    # the local-use NAT64 prefix; and the other transition mechanisms
    ("fec0::1", "site-local"), ("::81.2.69.160", "ipv4-compatible"), ("100::1:2", "discard"),
    ("100:0:0:1::7", "dummy"), ("100:1::1", "outside 2000::/3"),
    ("64:ff9b:1::5102:45a0", "translat"), ("64:ff9b::5102:45a0", "translat"),
    ("2002:5102:45a0::1", "6to4"), ("2001:0:4136:e378::1", "teredo"),
    ("192.88.99.1", "6to4 relay"), ("2001:20::1", "orchidv2"), ("5f00::1", "srv6"),
    ("4000::1", "outside 2000::/3"), ("192.0.0.9", "anycast"), ("2620:4f:8000::1", "as112"),
]


@pytest.mark.parametrize(("text", "why"), REJECTED)
def test_non_global_and_cloudflare_addresses_are_rejected(text: str, why: str) -> None:
    address = ipaddress.ip_address(text)
    reason = check(address, address.version)
    assert reason is not None
    assert why.lower() in reason.lower()


@pytest.mark.parametrize("text", [IP1, IP2, "8.8.8.8", IP6_1, "2a00:1450:4001:82b::200e"])
def test_global_unicast_addresses_pass(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert check(address, address.version) is None


def test_wrong_family_is_rejected() -> None:
    assert "expected IPv4" in (check(ipaddress.ip_address(IP6_1), 4) or "")
    assert "expected IPv6" in (check(ipaddress.ip_address(IP1), 6) or "")


@pytest.mark.parametrize("text", ["10.0.0.1", "100.64.1.1", "127.0.0.1", "192.0.2.1", "fd00::1"])
def test_allow_nonglobal_accepts_lab_addresses(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert check(address, address.version, allow_nonglobal=True) is None


@pytest.mark.parametrize("text", ["224.0.0.1", "0.0.0.0", "240.0.0.1",  # noqa: S104
                                  "104.16.1.1", "ff02::1", "2606:4700::1"])
def test_allow_nonglobal_never_accepts_multicast_unspecified_or_cloudflare(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert check(address, address.version, allow_nonglobal=True) is not None


# ---- parsers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [IP1, f"{IP1}\n", f"  {IP1}\r\n"])
def test_echo_body_with_one_address(body: str) -> None:
    assert str(parse_echo(body.encode(), 4)) == IP1


@pytest.mark.parametrize(("body", "why"), [
    ("<html><body>502 Bad Gateway</body></html>", "not exactly one address"),
    ("<html></html>", "not an IP address"),
    ("", "not exactly one address"),
    (f"{IP1}\n{IP2}\n", "not exactly one address"),
    (f"{IP1} {IP2}", "not exactly one address"),
    (f"{IP1}x", "not an IP address"),
    (f"{IP1};", "not an IP address"),
    ("81.2.69.0160", "not an IP address"),
    (IP6_1, "expected IPv4"),
    ("fe80::1%eth0", "not exactly one address"),
    ("81.2.69.160\x00", "not an IP address"),
])
def test_echo_body_rejections(body: str, why: str) -> None:
    with pytest.raises(SourceError, match=why):
        parse_echo(body.encode(), 4)


def test_echo_body_non_ascii_is_rejected() -> None:
    with pytest.raises(SourceError, match="not ASCII"):
        parse_echo("81.2.69.16\uff10".encode(), 4)


TRACE = (f"fl=466f52\nh=1.1.1.1\nip={IP1}\nts=1.0\nuag=Mozilla/5.0 (X11; Linux)\ncolo=FRA\n"
         "new-key=ok\r\n")


def test_trace_body() -> None:
    assert str(parse_trace(TRACE.encode(), 4)) == IP1


@pytest.mark.parametrize(("body", "why"), [
    ("<html>\nip=81.2.69.160\n</html>", "not a trace answer"),
    ("fl=1\nh=x\n", "0 ip= lines"),
    (f"ip={IP1}\nip={IP2}\n", "2 ip= lines"),
    ("fl=1\nip=104.16.0.1\n", "Cloudflare"),
    (f"fl=1\nip={IP1} junk\n", "not exactly one address"),
    ("", "0 ip= lines"),
])
def test_trace_body_rejections(body: str, why: str) -> None:
    with pytest.raises(SourceError, match=why):
        parse_trace(body.encode(), 4)


def _acceptable(address: ipaddress.IPv4Address | ipaddress.IPv6Address, version: int) -> bool:
    return address.version == version and address.is_global and check(address, version) is None


@given(st.binary(max_size=300), st.sampled_from([4, 6]))
def test_property_echo_bytes_yield_a_global_address_or_a_source_error(body: bytes,
                                                                        version: int) -> None:
    try:
        address = parse_echo(body, version)
    except SourceError:
        return
    assert _acceptable(address, version)


@given(st.text(max_size=300), st.sampled_from([4, 6]))
def test_property_trace_text_yields_a_global_address_or_a_source_error(body: str,
                                                                       version: int) -> None:
    try:
        address = parse_trace(body.encode("utf-8", "surrogatepass"), version)
    except SourceError:
        return
    assert _acceptable(address, version)


@given(st.lists(st.sampled_from(["fl=1", "h=x", f"ip={IP1}", f"ip={IP6_1}", "ip=10.0.0.1",
                                 "ip=", "<p>", "", "ip=104.16.0.1", "x=y z"]), max_size=6),
       st.sampled_from([4, 6]))
def test_property_trace_like_bodies(lines: list[str], version: int) -> None:
    try:
        address = parse_trace("\n".join(lines).encode(), version)
    except SourceError:
        return
    assert _acceptable(address, version)
    assert sum(line.startswith("ip=") for line in lines) == 1


# ---- sources against the fake ----------------------------------------------------------------

def test_http_source(env: Env) -> None:
    got = detect.detect(family(HttpSource(env.fake.url + "/ip")))
    assert str(got.address) == IP1
    assert got.source == f"http {env.fake.url}/ip"


def test_trace_source_v4_and_v6(env: Env) -> None:
    assert str(detect.detect(family(TraceSource(env.fake.url + "/cdn-cgi/trace"))).address) == IP1
    six = detect.detect(family(TraceSource(env.fake.url + "/cdn-cgi/trace6"), version=6))
    assert str(six.address) == IP6_1


@pytest.mark.parametrize(("answer", "why"), [
    ({"body": "<html><h1>503 Service Unavailable</h1></html>"}, "not exactly one address"),
    ({"body": ""}, "not exactly one address"),
    ({"body": f"{IP1}\n{IP2}"}, "not exactly one address"),
    ({"body": "10.0.0.1"}, "private"),
    ({"body": "x" * 5000}, "longer than 4096"),
    ({"status": 500}, "HTTP 500"),
    ({"status": 404}, "HTTP 404"),
    ({"redirect": "http://127.0.0.2:9/ip"}, "redirect"),
    ({"delay": 3.0}, "no answer within 0.5 s"),
])
def test_http_source_failures(env: Env, answer: dict[str, object], why: str) -> None:
    env.fake.set_echo("/ip", **answer)
    with pytest.raises(DetectionError, match=why):
        detect.detect(family(HttpSource(env.fake.url + "/ip"), timeout=0.5))


def test_connection_refused(env: Env) -> None:
    port = env.fake.port
    env.fake.stop()
    with pytest.raises(DetectionError, match="connection refused"):
        detect.detect(family(HttpSource(f"http://127.0.0.1:{port}/ip")))


def dns_source(env: Env, name: str = "myip.opendns.com", rrtype: str = "A",
               rrclass: str = "IN") -> DnsSource:
    assert env.fake.dns_port is not None
    return DnsSource(ipaddress.ip_address("127.0.0.1"), name, rrtype, rrclass, env.fake.dns_port)


def test_dns_sources(env: Env) -> None:
    assert str(detect.detect(family(dns_source(env))).address) == IP1
    txt = dns_source(env, "whoami.cloudflare", "TXT", "CH")
    assert str(detect.detect(family(txt)).address) == IP1


@pytest.mark.parametrize(("mode", "why"), [
    ("nxdomain", "NXDOMAIN"), ("wrong-name", "no myip.opendns.com record"),
    ("servfail", "SERVFAIL"), ("refused", "REFUSED"), ("timeout", "no answer within"),
])
def test_dns_source_failures(env: Env, mode: str, why: str) -> None:
    assert env.fake.dns is not None
    env.fake.dns.configure(mode=mode)
    with pytest.raises(DetectionError, match=why):
        detect.detect(family(dns_source(env), timeout=0.5))


def test_dns_unknown_name_is_nxdomain(env: Env) -> None:
    with pytest.raises(DetectionError, match="NXDOMAIN"):
        detect.detect(family(dns_source(env, name="other.example.net")))


def test_static_and_command_sources(tmp_path: Path) -> None:
    assert str(detect.detect(family(StaticSource(ipaddress.ip_address(IP2)))).address) == IP2
    argv = (sys.executable, "-c", f"print('{IP1}')")
    assert str(detect.detect(family(CommandSource(argv))).address) == IP1


@pytest.mark.parametrize(("code", "why"), [
    ("print('<html>')", "not an IP address"),
    ("import sys; sys.exit(3)", "exited with status 3"),
    ("import time; time.sleep(5)", "no answer within"),
])
def test_command_source_failures(code: str, why: str) -> None:
    with pytest.raises(DetectionError, match=why):
        detect.detect(family(CommandSource((sys.executable, "-c", code)), timeout=1.0))


def test_command_not_found() -> None:
    with pytest.raises(DetectionError, match="cannot run"):
        detect.detect(family(CommandSource(("/nonexistent/pi-ddns-ip",))))


def test_interface_source_unknown_device() -> None:
    with pytest.raises(DetectionError, match="interface pi-ddns-no0: exited with status 1: "):
        detect.detect(family(InterfaceSource("pi-ddns-no0")))


def test_interface_source_loopback_has_no_global_address() -> None:
    with pytest.raises(DetectionError, match="interface lo"):
        detect.detect(family(InterfaceSource("lo")))


# ---- policies --------------------------------------------------------------------------------

def test_first_policy_skips_bad_sources_and_says_why(env: Env) -> None:
    env.fake.set_echo("/ip", body="<html>")
    got = detect.detect(family(HttpSource(env.fake.url + "/ip"),
                               TraceSource(env.fake.url + "/cdn-cgi/trace")))
    assert got.source.startswith("trace")
    env.fake.set_echo("/cdn-cgi/trace", status=502)
    with pytest.raises(DetectionError) as err:
        detect.detect(family(HttpSource(env.fake.url + "/ip"),
                             TraceSource(env.fake.url + "/cdn-cgi/trace")))
    assert "no acceptable IPv4 address" in str(err.value)
    assert "http " in str(err.value)
    assert "HTTP 502" in str(err.value)


def test_agree_policy(env: Env) -> None:
    two = (HttpSource(env.fake.url + "/ip"), TraceSource(env.fake.url + "/cdn-cgi/trace"))
    assert str(detect.detect(family(*two, policy="agree", agree=2)).address) == IP1
    static = StaticSource(ipaddress.ip_address(IP2))
    with pytest.raises(DetectionError, match="fewer than 2 sources agree"):
        detect.detect(family(two[0], static, policy="agree", agree=2))
    # a third source can break the tie
    assert str(detect.detect(family(two[0], static, two[1], policy="agree")).address) == IP1


def test_ipv6_literal_url() -> None:
    from fakes.server import FakeCloudflare

    try:
        server = FakeCloudflare(host="::1", dns_port=None, ipv6=IP6_1).start()
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        got = detect.detect(family(TraceSource(server.url + "/cdn-cgi/trace6"), version=6))
        assert str(got.address) == IP6_1
        # without a port, http.client must not read the last hextet as one
        url = server.url.rsplit(":", 1)[0] + "/ip"
        with pytest.raises(DetectionError, match=r"http http://\[::1\]/ip: ") as err:
            detect.detect(family(HttpSource(url), timeout=1.0))
        assert "InvalidURL" not in str(err.value)  # port 80 was used, not ":1"
    finally:
        server.stop()


def test_headers_are_never_read_as_the_address(env: Env) -> None:
    env.fake.set_echo("/ip", body="<html>blocked</html>", headers={"Set-Cookie": f"ip={IP2}",
                                                                  "X-Client-IP": IP2})
    with pytest.raises(DetectionError, match="not an IP address"):
        detect.detect(family(HttpSource(env.fake.url + "/ip")))
    env.fake.set_echo("/ip", body=IP1, headers={"Set-Cookie": f"ip={IP2}"})
    assert str(detect.detect(family(HttpSource(env.fake.url + "/ip"))).address) == IP1


def test_tls_context_verifies_and_looks_cas_up_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    ctx = httpclient.tls_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname
    capath = ssl.get_default_verify_paths().capath
    if capath and Path(capath).is_dir() and any(Path(capath).glob("*.0")):
        assert ctx.cert_store_stats()["x509_ca"] == 0  # nothing parsed up front
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/bundle.pem")
    assert httpclient.tls_context().verify_mode == ssl.CERT_REQUIRED


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsEcho]:
    try:
        cadir, cert, key = make_ca_dir(tmp_path)
    except (FileNotFoundError, subprocess.CalledProcessError):
        pytest.skip("openssl cannot make a test certificate")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(cadir))
    server = TlsEcho(cert, key, lambda: IP1)
    yield server
    server.stop()


def test_https_sources_verify_the_certificate(tls: TlsEcho) -> None:
    ctx = httpclient.tls_context()
    assert ctx.cert_store_stats()["x509_ca"] == 0  # looked up lazily in $SSL_CERT_DIR
    got = detect.detect(family(TraceSource(tls.url + "/cdn-cgi/trace")))
    assert str(got.address) == IP1
    assert str(detect.detect(family(HttpSource(tls.url + "/ip"))).address) == IP1
    assert tls.hits == 2


def test_https_with_an_untrusted_certificate_fails(tls: TlsEcho,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    empty = tmp_path / "empty-ca"
    empty.mkdir()
    (empty / "00000000.0").write_text("")  # a hashed dir without our CA
    monkeypatch.setenv("SSL_CERT_DIR", str(empty))
    with pytest.raises(DetectionError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
        detect.detect(family(HttpSource(tls.url + "/ip")))


def test_sources_and_the_ping_never_use_a_proxy(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """pi-ddns ignores HTTP(S)_PROXY: a source asked through a proxy sees the proxy's address."""
    from hostile import HostileServer
    from pi_ddns import healthcheck

    proxy = HostileServer().start()
    try:
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(var, proxy.url)
        got = detect.detect(family(HttpSource(env.fake.url + "/ip")))
        assert str(got.address) == IP1
        healthcheck.ping(env.fake.url + "/ip", 0, "ok")
        assert proxy.requests == []
    finally:
        proxy.stop()
