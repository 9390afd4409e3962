"""The UDP DNS responder, queried with a hand-built packet."""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest

from fakes.dns import CLASS_CH, CLASS_IN, TYPE_A, TYPE_AAAA, TYPE_TXT, encode_name
from fakes.server import FakeCloudflare
from fakes.tests.conftest import call


def query(port: int, name: str, qtype: int, qclass: int, timeout: float = 1.0
          ) -> tuple[int, list[tuple[bytes, int, bytes]]]:
    """(rcode, [(owner name bytes, type, rdata)]) of one UDP query to 127.0.0.1."""
    packet = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + encode_name(name)
    packet += struct.pack("!HH", qtype, qclass)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, ("127.0.0.1", port))
        data = s.recv(512)
    qid, flags, _qd, ancount = struct.unpack("!HHHH", data[:8])
    assert qid == 0x1234
    assert flags & 0x8000  # a response
    pos, answers = len(packet), []
    for _ in range(ancount):
        if data[pos] & 0xC0:
            owner, pos = data[pos:pos + 2], pos + 2
        else:
            end = data.index(b"\0", pos) + 1
            owner, pos = data[pos:end], end
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", data[pos:pos + 10])
        answers.append((owner, rtype, data[pos + 10:pos + 10 + rdlen]))
        pos += 10 + rdlen
    return flags & 0x0F, answers


def test_opendns_a(fake: FakeCloudflare) -> None:
    assert fake.dns_port
    rcode, answers = query(fake.dns_port, "myip.opendns.com", TYPE_A, CLASS_IN)
    assert rcode == 0
    assert [(o, t, str(ipaddress.ip_address(r))) for o, t, r in answers] == [
        (b"\xc0\x0c", TYPE_A, "81.2.69.160")]


def test_opendns_aaaa(fake: FakeCloudflare) -> None:
    assert fake.dns_port
    fake.set_ip(ipv6="2a01:4f8:c0c:1::1")
    _, answers = query(fake.dns_port, "myip.opendns.com", TYPE_AAAA, CLASS_IN)
    assert str(ipaddress.ip_address(answers[0][2])) == "2a01:4f8:c0c:1::1"


def test_cloudflare_whoami_txt_ch(fake: FakeCloudflare) -> None:
    assert fake.dns_port
    fake.set_ip(ipv4="81.2.69.161")
    rcode, answers = query(fake.dns_port, "whoami.cloudflare", TYPE_TXT, CLASS_CH)
    assert rcode == 0
    assert answers[0][1:] == (TYPE_TXT, b"\x0b81.2.69.161")
    assert fake.dns_hits == 1


def test_whoami_in_class_in_is_nxdomain(fake: FakeCloudflare) -> None:
    assert fake.dns_port
    assert query(fake.dns_port, "whoami.cloudflare", TYPE_TXT, CLASS_IN) == (3, [])


def test_other_names_are_nxdomain(fake: FakeCloudflare) -> None:
    assert fake.dns_port
    assert query(fake.dns_port, "example.com", TYPE_A, CLASS_IN) == (3, [])


def test_mode_nxdomain(fake: FakeCloudflare) -> None:
    assert fake.dns is not None
    fake.dns.configure(mode="nxdomain")
    assert query(fake.dns.port, "myip.opendns.com", TYPE_A, CLASS_IN) == (3, [])


def test_mode_wrong_name_over_http(fake: FakeCloudflare) -> None:
    assert fake.dns_port
    assert call(f"{fake.url}/_fake/dns", "PUT", {"mode": "wrong-name"}, token=None).status == 200
    rcode, answers = query(fake.dns_port, "myip.opendns.com", TYPE_A, CLASS_IN)
    assert rcode == 0
    assert answers[0][0] == encode_name("wrong.example.net")


def test_mode_timeout(fake: FakeCloudflare) -> None:
    assert fake.dns is not None
    fake.dns.configure(mode="timeout")
    with pytest.raises((TimeoutError, socket.timeout)):
        query(fake.dns.port, "myip.opendns.com", TYPE_A, CLASS_IN, timeout=0.3)
    assert fake.dns_hits == 1


def test_unknown_mode_is_refused(fake: FakeCloudflare) -> None:
    resp = call(f"{fake.url}/_fake/dns", "PUT", {"mode": "sometimes"}, token=None)
    assert resp.status == 400


def test_garbage_is_dropped(fake: FakeCloudflare) -> None:
    assert fake.dns_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        s.sendto(b"\x00\x01garbage", ("127.0.0.1", fake.dns_port))
        with pytest.raises((TimeoutError, socket.timeout)):
            s.recv(512)
    assert query(fake.dns_port, "myip.opendns.com", TYPE_A, CLASS_IN)[0] == 0  # still serving
