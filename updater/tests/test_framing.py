"""Fault class 1: any framing anomaly in an IP source's answer fails that source.

A hostile raw-socket server sends a well-formed answer mutated by Hypothesis (cut, spliced,
bytes flipped, headers doubled or rewritten, chunking garbled, line ends changed, data appended).
The property: the source either fails (SourceError), or returns exactly the address of a body
that h11, an independent strict HTTP/1.1 parser, also reads from those bytes as one complete
200 answer with nothing after it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import h11
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from hostile import HostileServer
from pi_ddns import detect
from pi_ddns.detect import SourceError

IP = "81.2.69.16"


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    s = HostileServer().start()
    yield s
    s.stop()


def framed(body: bytes, chunked: bool = False, extra: tuple[bytes, ...] = ()) -> bytes:
    head = [b"HTTP/1.1 200 OK", b"Content-Type: text/plain", *extra]
    if chunked:
        payload = b""
        for i in range(0, len(body), 4):
            part = body[i:i + 4]
            payload += b"%x\r\n%s\r\n" % (len(part), part)
        payload += b"0\r\n\r\n"
        return b"\r\n".join([*head, b"Transfer-Encoding: chunked"]) + b"\r\n\r\n" + payload
    return b"\r\n".join([*head, b"Content-Length: %d" % len(body)]) + b"\r\n\r\n" + body


def h11_body(raw: bytes) -> bytes | None:
    """The body of `raw` if h11 reads it as one complete 200 answer and nothing more."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x"),
                                                             ("Connection", "close")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    conn.receive_data(b"")
    body, status = b"", None
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.InformationalResponse):
                return None
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            elif event in (h11.NEED_DATA, h11.PAUSED) or isinstance(event, h11.ConnectionClosed):
                return None
    except h11.RemoteProtocolError:
        return None
    # h11 stops at the end of the message; bytes after it are an anomaly for us both
    trailing = conn.trailing_data[0]
    if status != 200 or trailing:
        return None
    return body


# ---- mutations ----------------------------------------------------------------------------

HEADERS = [b"Content-Length: 3", b"Content-Length: 10", b"Content-Length: 99999",
           b"Content-Length: -1", b"Content-Length: 0x0a", b"Content-Length: 10, 10",
           b"Content-Length:", b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip",
           b"Transfer-Encoding: chunked, identity", b"Content-Encoding: gzip",
           b" folded-continuation", b"Bad Header: x", b"X-Evil: \x1b[31m", b"Location: ::",
           b"Connection: keep-alive"]
STATUS_LINES = [b"HTTP/1.1 200", b"HTTP/1.1 200 OK OK", b"HTTP/1.0 200 OK", b"HTTP/2 200 OK",
                b"HTTP/1.1 2000 OK", b"HTTP/1.1 20 OK", b"http/1.1 200 OK", b"HTTP/1.1  200 OK",
                b"ICY 200 OK", b"HTTP/1.1 200 \x1b[2J", b"HTTP/1.1 100 Continue",
                b"HTTP/1.1 204 No Content", b"HTTP/1.1 302 Found", b""]

mutation = st.one_of(
    st.tuples(st.just("cut"), st.integers(0, 400)),
    st.tuples(st.just("insert"), st.integers(0, 400), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 400), st.integers(1, 8)),
    st.tuples(st.just("flip"), st.integers(0, 400), st.integers(0, 255)),
    st.tuples(st.just("header"), st.sampled_from(HEADERS)),
    st.tuples(st.just("status"), st.sampled_from(STATUS_LINES)),
    st.tuples(st.just("lf"), st.integers(0, 10)),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("dup-length"), st.booleans()),
)


def mutate(raw: bytes, op: tuple[object, ...]) -> bytes:  # noqa: PLR0911 - one per kind
    kind = op[0]
    head, _, body = raw.partition(b"\r\n\r\n")
    if kind == "cut":
        return raw[:int(str(op[1])) % (len(raw) + 1)]
    if kind == "insert":
        pos = int(str(op[1])) % (len(raw) + 1)
        return raw[:pos] + bytes(op[2]) + raw[pos:]  # type: ignore[call-overload]
    if kind == "delete":
        pos = int(str(op[1])) % (len(raw) + 1)
        return raw[:pos] + raw[pos + int(str(op[2])):]
    if kind == "flip":
        if not raw:
            return raw
        pos = int(str(op[1])) % len(raw)
        return raw[:pos] + bytes([int(str(op[2]))]) + raw[pos + 1:]
    if kind == "header":
        return head + b"\r\n" + bytes(op[1]) + b"\r\n\r\n" + body  # type: ignore[call-overload]
    if kind == "status":
        lines = head.split(b"\r\n")
        return b"\r\n".join([bytes(op[1]), *lines[1:]]) + b"\r\n\r\n" + body  # type: ignore[call-overload]
    if kind == "lf":
        n = int(str(op[1]))
        return raw.replace(b"\r\n", b"\n", n) if n else raw.replace(b"\r\n", b"\n")
    if kind == "append":
        return raw + bytes(op[1])  # type: ignore[call-overload]
    # dup-length: the same Content-Length twice, or a second one that disagrees
    length = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    extra = length[0] if length and op[1] else b"Content-Length: %d" % (len(body) + 1)
    return head + b"\r\n" + extra + b"\r\n\r\n" + body


def ask(server: HostileServer, raw: bytes, split: int | None = None) -> ipaddress.IPv4Address:
    server.answer, server.split = raw, split
    address = detect.parse_echo(detect.http_get(server.url + "/ip", 2.0), 4)
    assert isinstance(address, ipaddress.IPv4Address)
    return address


@settings(max_examples=300)
@given(st.sampled_from([IP.encode(), (IP + "\n").encode()]), st.booleans(),
       st.lists(mutation, min_size=1, max_size=3), st.none() | st.integers(1, 200))
def test_property_a_mutated_answer_fails_or_is_exactly_well_formed(
        server: HostileServer, body: bytes, chunked: bool, ops: list[tuple[object, ...]],
        split: int | None) -> None:
    raw = framed(body, chunked)
    for op in ops:
        raw = mutate(raw, op)
    try:
        address = ask(server, raw, split)
    except SourceError as e:
        failure = str(e)
    else:
        failure = None
    if failure is not None:
        assert failure.isprintable()  # fault class 9: no raw answer text in a message
        event("the source failed")
        return
    event("an address came out")
    oracle = h11_body(raw)
    assert oracle is not None, f"accepted an answer h11 calls malformed: {raw!r}"
    assert address == ipaddress.ip_address(oracle.decode("ascii").strip())


@pytest.mark.parametrize("chunked", [False, True])
def test_the_unmutated_answers_pass(server: HostileServer, chunked: bool) -> None:
    assert str(ask(server, framed(IP.encode(), chunked))) == IP
    assert str(ask(server, framed(IP.encode(), chunked), split=20)) == IP


CASES = [
    # the red team's case: Content-Length 11, 10 bytes sent, then close
    ("short body", b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n" + IP.encode(), "cut short"),
    ("long body", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n" + IP.encode(), "more data"),
    ("no length", b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + IP.encode(),
     "without a length"),
    ("two lengths", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 10\r\n\r\n"
     + IP.encode(), "more than one Content-Length"),
    ("length list", b"HTTP/1.1 200 OK\r\nContent-Length: 10, 10\r\n\r\n" + IP.encode(),
     "malformed Content-Length"),
    ("signed length", b"HTTP/1.1 200 OK\r\nContent-Length: +10\r\n\r\n" + IP.encode(),
     "malformed Content-Length"),
    ("length and chunked", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"
     b"Transfer-Encoding: chunked\r\n\r\na\r\n" + IP.encode() + b"\r\n0\r\n\r\n", "both"),
    ("chunk size lies", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n"
     + IP.encode() + b"\r\n0\r\n\r\n", "chunk longer"),
    ("no last chunk", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n"
     + IP.encode() + b"\r\n", "cut short"),
    ("chunk size in hex with 0x", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0xa\r\n"
     + IP.encode() + b"\r\n0\r\n\r\n", "malformed chunk"),
    ("gzip coding", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\na\r\n"
     + IP.encode() + b"\r\n0\r\n\r\n", "other than chunked"),
    ("status line without reason", b"HTTP/1.1 200\r\nContent-Length: 10\r\n\r\n" + IP.encode(),
     "malformed status line"),
    ("status line escape", b"HTTP/1.1 200 \x1b[2J\r\nContent-Length: 10\r\n\r\n" + IP.encode(),
     "malformed status line"),
    ("bare LF", b"HTTP/1.1 200 OK\nContent-Length: 10\n\n" + IP.encode(), "cut short"),
    ("folded header", b"HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 10\r\n\r\n"
     + IP.encode(), "malformed header"),
    ("body past the cap", b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"1" * 5000,
     "longer than 4096"),
    ("chunks past the cap", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     + b"400\r\n" + b"1" * 1024 + b"\r\n" + b"400\r\n" + b"1" * 1024 + b"\r\n"
     + b"400\r\n" + b"1" * 1024 + b"\r\n" + b"400\r\n" + b"1" * 1024 + b"\r\n"
     + b"1\r\n1\r\n0\r\n\r\n", "longer than 4096"),
    ("redirect without Location", b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n",
     "0 Location headers"),
    ("redirect to an invalid Location", b"HTTP/1.1 302 Found\r\nLocation: http://[::1\r\n"
     b"Content-Length: 0\r\n\r\n", "an invalid Location"),
    ("redirect with a bad port", b"HTTP/1.1 302 Found\r\nLocation: http://a:99999/\r\n"
     b"Content-Length: 0\r\n\r\n", "an invalid Location"),
    ("headers past the cap", b"HTTP/1.1 200 OK\r\n" + b"X-A: " + b"a" * 9000 + b"\r\n\r\n",
     "longer than 8192"),
    ("100 Continue first", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
     b"Content-Length: 10\r\n\r\n" + IP.encode(), "interim"),
]


@pytest.mark.parametrize(("raw", "why"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_framing_anomalies_fail_the_source(server: HostileServer, raw: bytes, why: str) -> None:
    with pytest.raises(SourceError, match=why):
        ask(server, raw)


def test_an_answer_held_open_past_its_end_still_counts(server: HostileServer) -> None:
    """A server that ignores Connection: close costs the grace wait, not the answer."""
    server.linger = 1.0
    try:
        assert str(ask(server, framed(IP.encode()))) == IP
    finally:
        server.linger = 0.0


def test_data_after_the_end_fails(server: HostileServer) -> None:
    with pytest.raises(SourceError, match=r"data after the end|more data than"):
        ask(server, framed(IP.encode()) + b"HTTP/1.1 200 OK\r\n")
