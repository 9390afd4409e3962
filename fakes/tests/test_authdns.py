"""The zones' authoritative nameserver, asked with hand-built packets (RD=0, as pi-ddns asks)."""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from fakes.authdns import PROXIED, NameServer
from fakes.dns import TYPE_A, TYPE_AAAA, encode_name
from fakes.server import FakeCloudflare
from fakes.tests.conftest import call, records_url

NAME = "home.example.com"


class Answer(NamedTuple):
    flags: int  # without the rcode
    rcode: int
    answers: list[str]


def ask(port: int | None, name: str, *, qtype: int = TYPE_A, server: str = "127.0.0.1",
        qclass: int = 1, timeout: float = 1.0) -> Answer | None:
    """One RD=0 question; None when no answer comes."""
    assert port
    packet = struct.pack("!HHHHHH", 0x4242, 0, 1, 0, 0, 0) + encode_name(name)
    packet += struct.pack("!HH", qtype, qclass)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (server, port))
        try:
            data = s.recv(512)
        except TimeoutError:
            return None
    qid, flags, _qd, ancount = struct.unpack("!HHHH", data[:8])
    assert qid == 0x4242
    assert data[12:len(packet)] == packet[12:]  # the question, echoed
    pos, answers = len(packet), []
    for _ in range(ancount):
        assert data[pos:pos + 2] == b"\xc0\x0c"
        rtype, rclass, _ttl, rdlen = struct.unpack("!HHIH", data[pos + 2:pos + 12])
        assert (rtype, rclass) == (qtype, 1)
        answers.append(str(ipaddress.ip_address(data[pos + 12:pos + 12 + rdlen])))
        pos += 12 + rdlen
    return Answer(flags & 0xFFF0, flags & 0xF, answers)


def got(port: int | None, name: str, **kw: Any) -> list[str]:
    """The addresses answered (there must be an answer)."""
    answer = ask(port, name, **kw)
    assert answer is not None
    return answer.answers


def nameserver(fake: FakeCloudflare) -> NameServer:
    assert fake.ns is not None
    return fake.ns


@pytest.fixture
def two() -> Iterator[FakeCloudflare]:
    """A fake whose nameserver listens on two loopback addresses, as a zone has two."""
    with FakeCloudflare(ns_addresses=("127.0.0.1", "127.0.0.2")) as f:
        yield f


def create(fake: FakeCloudflare, content: str, name: str = NAME, **kw: object) -> str:
    body = {"type": "AAAA" if ":" in content else "A", "name": name, "content": content, **kw}
    return str(call(records_url(fake), "POST", body).json["result"]["id"])


def update(fake: FakeCloudflare, rid: str, content: str) -> None:
    assert call(f"{records_url(fake)}/{rid}", "PATCH", {"content": content}).status == 200


def test_zones_name_its_addresses_never_real_names(two: FakeCloudflare) -> None:
    zone = call(f"{two.api_url}/zones?name=example.com").json["result"][0]
    assert zone["name_servers"] == ["127.0.0.1", "127.0.0.2"]
    assert two.add_zone("example.org")["name_servers"] == ["127.0.0.1", "127.0.0.2"]
    with FakeCloudflare(name_servers=("localhost",)) as named:
        assert named.add_zone("example.net")["name_servers"] == ["localhost"]


def test_answers_the_records_authoritatively(two: FakeCloudflare) -> None:
    port = two.ns_port
    assert ask(port, NAME) == (0x8400, 3, [])  # no record yet: NXDOMAIN, AA set, RA clear
    create(two, "81.2.69.160")
    create(two, "2a01:4f8:c0c:1::1")
    for server in ("127.0.0.1", "127.0.0.2"):
        assert ask(port, NAME, server=server) == (0x8400, 0, ["81.2.69.160"])
        assert ask(port, NAME.upper(), qtype=TYPE_AAAA, server=server) == (
            0x8400, 0, ["2a01:4f8:c0c:1::1"])
    assert ask(port, "example.com") == (0x8400, 0, [])  # the apex: NODATA
    assert ask(port, "x.example.com") == (0x8400, 3, [])
    assert ask(port, "example.net") == (0x8000, 5, [])  # not a zone of ours: REFUSED
    assert ask(port, NAME, qclass=3) == (0x8000, 5, [])
    create(two, "81.2.69.170", name="web.example.com", proxied=True)
    assert got(port, "web.example.com") == sorted(PROXIED["A"])  # Cloudflare's, not the origin
    ns = nameserver(two)
    assert two.ns_hits == 10
    assert {q["server"] for q in ns.queries} == {"127.0.0.1", "127.0.0.2"}
    assert not any(q["rd"] for q in ns.queries)


def test_lag_shows_a_change_only_after_it(fake: FakeCloudflare) -> None:
    rid = create(fake, "81.2.69.160")
    nameserver(fake).configure(lag=0.6)
    assert got(fake.ns_port, NAME) == ["81.2.69.160"]  # made before the fault
    update(fake, rid, "81.2.69.161")
    assert got(fake.ns_port, NAME) == ["81.2.69.160"]
    time.sleep(0.7)
    assert got(fake.ns_port, NAME) == ["81.2.69.161"]


def test_stale_and_silent_per_address(two: FakeCloudflare) -> None:
    port, ns = two.ns_port, nameserver(two)
    rid = create(two, "81.2.69.160")
    ns.configure(address="127.0.0.2", stale=True)
    update(two, rid, "81.2.69.161")
    time.sleep(0.2)
    assert got(port, NAME, server="127.0.0.1") == ["81.2.69.161"]
    assert got(port, NAME, server="127.0.0.2") == ["81.2.69.160"]
    ns.configure(silent=True)
    assert ask(port, NAME, server="127.0.0.1", timeout=0.3) is None
    assert got(port, NAME, server="127.0.0.2") == ["81.2.69.160"]  # its own fault wins
    two.reset_faults()
    assert got(port, NAME, server="127.0.0.2") == ["81.2.69.161"]
    with pytest.raises(ValueError, match="does not listen"):
        ns.configure(address="127.0.0.3", lag=1)


def test_control_endpoints_and_counts(fake: FakeCloudflare) -> None:
    rid = create(fake, "81.2.69.160")
    faults = call(f"{fake.url}/_fake/ns", "PUT", {"lag": 5}, token=None).json["ns"]["faults"]
    assert faults == {"*": {"lag": 5.0, "stale": False, "silent": False}}
    update(fake, rid, "81.2.69.161")
    assert got(fake.ns_port, NAME) == ["81.2.69.160"]
    log = call(f"{fake.url}/_fake/requests", token=None).json
    assert log["ns_hits"] == 1
    assert [(q["name"], q["type"]) for q in log["ns_queries"]] == [(NAME, "A")]
    assert call(f"{fake.url}/_fake/state", token=None).json["ns"]["port"] == fake.ns_port
    assert call(f"{fake.url}/_fake/ns", "DELETE", token=None).json["ns"]["faults"] == {}
    assert got(fake.ns_port, NAME) == ["81.2.69.161"]
    assert call(f"{fake.url}/_fake/ns", "PUT", {"lag": -1}, token=None).status == 400
    call(f"{fake.url}/_fake/requests", "DELETE", token=None)
    assert fake.ns_hits == 0


def test_junk_is_dropped_and_answers_are_not_answered(fake: FakeCloudflare) -> None:
    assert fake.ns_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        for junk in (b"", b"\x00", b"\xff" * 40, struct.pack("!HHHHHH", 1, 0x8000, 1, 0, 0, 0)
                     + encode_name(NAME) + struct.pack("!HH", 1, 1)):
            s.sendto(junk, ("127.0.0.1", fake.ns_port))
            with pytest.raises(TimeoutError):
                s.recv(512)
    assert ask(fake.ns_port, "example.com") is not None  # still serving


def test_a_restarted_fake_lists_its_own_addresses(tmp_path: Path) -> None:
    state = tmp_path / "fake.json"
    with FakeCloudflare(state_file=state) as first:
        first.add_zone("example.org")  # written to the state file
    data = json.loads(state.read_text())
    for zone in data["zones"]:
        zone["name_servers"] = ["ada.ns.cloudflare.com"]  # an older fake's file
    state.write_text(json.dumps(data))
    with FakeCloudflare(state_file=state, ns_addresses=("127.0.0.2",)) as again:
        assert [z["name_servers"] for z in again.snapshot()["zones"]] == [["127.0.0.2"]] * 2
