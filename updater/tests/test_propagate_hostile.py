"""Issue 12, proof of propagation under attack: two hostile nameservers on loopback (127.0.0.1
and 127.0.0.2, one port), each answering every question with a Hypothesis-drawn behaviour.

Whatever they do (silence, junk, wrong ids, truncation, another name, an answer for another
question, stale content, error codes, an answer without the AA flag, floods of strays, answers from another port, single
byte mutations of a good answer, late answers), propagate.prove:
- returns (never raises) within its wait, at least one round, and never past the deadline;
- never calls a record confirmed unless a server sent a well-formed answer with the new
  content from its own address and port;
- confirms when both servers answer right away.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pi_ddns import propagate, report

NAME = "home.example.com"
NEW = {"A": "81.2.69.161", "AAAA": "2a01:4f8:c0c:1::2"}
OLD = {"A": "81.2.69.160", "AAAA": "2a01:4f8:c0c:1::1"}
TYPES = {"A": 1, "AAAA": 28}
SERVERS = ("127.0.0.1", "127.0.0.2")
INTERVAL = 0.05  # the first round's length here (the updater's is 1 s): fast examples
SLACK = 0.5  # seconds a busy 2-core machine may add to a bound

Action = tuple[Any, ...]

actions = st.one_of(
    st.tuples(st.just("silent")),
    st.tuples(st.just("junk"), st.binary(max_size=64)),
    st.tuples(st.just("good"), st.sampled_from([0.0, 0.0, 0.02, 0.1, 0.4])),
    st.tuples(st.just("stale")),
    st.tuples(st.just("wrong_id")),
    st.tuples(st.just("truncated")),
    st.tuples(st.just("other_question")),
    st.tuples(st.just("other_owner")),
    st.tuples(st.just("not_a_response")),
    st.tuples(st.just("not_authoritative")),
    st.tuples(st.just("rcode"), st.integers(1, 15)),
    st.tuples(st.just("empty")),
    st.tuples(st.just("spoofed")),
    st.tuples(st.just("flood"), st.integers(1, 50)),
    st.tuples(st.just("mutate"), st.integers(0, 200), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 60)),
)
# What may legitimately confirm (a good answer, or a mutation that happens to leave one).
MAY_CONFIRM = {"good", "mutate", "cut"}


def answer(query: bytes, content: str, *, rtype: int, flags: int = 0x8400, qid: int | None = None,
           question: bytes | None = None, owner: bytes = b"\xc0\x0c") -> bytes:
    """An answer to `query` with one record of `content`, as a nameserver builds it."""
    question = query[12:] if question is None else question
    rid = int.from_bytes(query[:2], "big") if qid is None else qid
    rdata = socket.inet_pton(socket.AF_INET6 if ":" in content else socket.AF_INET, content)
    return (struct.pack("!HHHHHH", rid, flags, 1, 1, 0, 0) + question + owner
            + struct.pack("!HHIH", rtype, 1, 300, len(rdata)) + rdata)


def encode(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


class Hostile:
    """A UDP server on each of SERVERS (one port); query k to server i gets behaviours[i][k %
    len]. Records every datagram it sends."""

    def __init__(self) -> None:
        self.socks: list[socket.socket] = []
        for _ in range(20):
            try:
                self.socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in SERVERS]
                self.socks[0].bind((SERVERS[0], 0))
                self.port = self.socks[0].getsockname()[1]
                self.socks[1].bind((SERVERS[1], self.port))
                break
            except OSError:
                for s in self.socks:
                    s.close()
        self.spoofer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.behaviours: list[list[Action]] = [[("silent",)], [("silent",)]]
        self.rtype = "A"
        self.counts = [0, 0]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.serve, args=(i,), daemon=True)
                        for i in range(len(SERVERS))]
        for t in self.threads:
            t.start()

    def reset(self, behaviours: list[list[Action]], rtype: str) -> None:
        self.behaviours, self.rtype, self.counts = behaviours, rtype, [0, 0]

    def serve(self, i: int) -> None:
        sock = self.socks[i]
        sock.settimeout(0.05)
        while not self.stop.is_set():
            try:
                query, client = sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            plan = self.behaviours[i]
            action = plan[self.counts[i] % len(plan)]
            self.counts[i] += 1
            with contextlib.suppress(OSError):
                self.act(sock, query, client, action)

    def act(self, sock: socket.socket, query: bytes, client: Any, action: Action) -> None:
        kind, rtype = action[0], TYPES[self.rtype]
        new, old = NEW[self.rtype], OLD[self.rtype]
        good = answer(query, new, rtype=rtype)
        qid = int.from_bytes(query[:2], "big")
        if kind == "good" and action[1]:  # late, without holding up the next question
            threading.Timer(action[1], self.late, (sock, good, client)).start()
            return
        if kind == "spoofed":  # the right answer, from another port of the same host
            self.spoofer.sendto(good, client)
            return
        other = encode("other.example.com")
        build: dict[str, Any] = {
            "silent": lambda: [],
            "junk": lambda: [action[1]],
            "good": lambda: [good],
            "stale": lambda: [answer(query, old, rtype=rtype)],
            "wrong_id": lambda: [answer(query, new, rtype=rtype, qid=qid ^ 0x5A5A)],
            "truncated": lambda: [answer(query, new, rtype=rtype, flags=0x8600)],
            "other_question": lambda: [answer(query, new, rtype=rtype,
                                              question=other + struct.pack("!HH", rtype, 1))],
            "other_owner": lambda: [answer(query, new, rtype=rtype, owner=other)],
            "not_a_response": lambda: [answer(query, new, rtype=rtype, flags=0x0400)],
            "not_authoritative": lambda: [answer(query, new, rtype=rtype, flags=0x8080)],
            "rcode": lambda: [answer(query, new, rtype=rtype, flags=0x8400 | action[1])],
            "empty": lambda: [struct.pack("!HHHHHH", qid, 0x8400, 1, 0, 0, 0) + query[12:]],
            "flood": lambda: [answer(query, new, rtype=rtype, qid=(qid + n) & 0xFFFF)
                              for n in range(1, action[1] + 1)],
            "mutate": lambda: [good[:action[1] % len(good)] + bytes([action[2]])
                               + good[action[1] % len(good) + 1:]],
            "cut": lambda: [good[:action[1]]],
        }
        for datagram in build[kind]():
            sock.sendto(datagram, client)

    @staticmethod
    def late(sock: socket.socket, datagram: bytes, client: Any) -> None:
        with contextlib.suppress(OSError):
            sock.sendto(datagram, client)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()
        for s in (*self.socks, self.spoofer):
            s.close()


@pytest.fixture(scope="module")
def hostile() -> Iterator[Hostile]:
    server = Hostile()
    yield server
    server.close()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(behaviours=st.lists(st.lists(actions, min_size=1, max_size=4), min_size=2, max_size=2),
       rtype=st.sampled_from(["A", "AAAA"]),
       wait=st.sampled_from([0.0, 0.1, 0.3]),
       budget=st.sampled_from([0.02, 0.2, 5.0]))
def test_property_hostile_nameservers_never_crash_hang_or_fool_the_check(
        hostile: Hostile, capsys: pytest.CaptureFixture[str], behaviours: list[list[Action]],
        rtype: str, wait: float, budget: float) -> None:
    hostile.reset(behaviours, rtype)
    target = propagate.Target(NAME, rtype, NEW[rtype], SERVERS)
    start = time.monotonic()
    deadline = start + budget
    outcome = propagate.prove([target], hostile.port, wait, deadline, interval=INTERVAL)
    took = time.monotonic() - start
    assert took <= min(budget, max(wait, INTERVAL)) + SLACK
    assert 0 <= outcome.seconds <= took
    if not all({a[0] for a in plan} & MAY_CONFIRM for plan in behaviours):
        assert not outcome.confirmed, behaviours
    if all(plan[0] == ("good", 0.0) for plan in behaviours) and budget > 1:
        assert outcome.confirmed
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1  # one line for the record, whatever happened
    word = "info: propagated" if outcome.confirmed else "warning: "
    assert word in lines[0]
    assert "\x1b" not in lines[0]


def test_a_port_with_no_server_is_given_up_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed below: nothing listens there any more
    start = time.monotonic()
    outcome = propagate.prove([propagate.Target(NAME, "A", NEW["A"], ("127.0.0.1",))], port,
                              30, start + 60)
    assert time.monotonic() - start < 1  # not 30 s: a refusal is final
    assert not outcome.confirmed
    assert capsys.readouterr().err == (
        f"pi-ddns: warning: {NAME} A {NEW['A']} not yet on 1/1 nameservers after "
        f"{outcome.seconds:.1f}s: 127.0.0.1 refuses (no DNS server on port {port})\n")


@pytest.mark.parametrize(("server", "said"), [
    ("bad name!", "is not a host name"),
    ("fe80::1%lo", "is not a host name"),
    ("-x.example", "is not a host name"),
])
def test_a_nameserver_that_is_no_host_is_not_asked(server: str, said: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    outcome = propagate.prove([propagate.Target(NAME, "A", NEW["A"], (server,))], 53, 30,
                              time.monotonic() + 60)
    assert not outcome.confirmed
    assert outcome.seconds < 1
    assert capsys.readouterr().err.endswith(f"{report.safe(server)} {said}\n")


@pytest.mark.parametrize(("action", "said"), [
    (("rcode", 5), "refuses the question (REFUSED: not a server of the zone)"),
    (("not_authoritative",), "is not authoritative for the zone (no AA flag)"),
])
def test_a_server_that_is_not_the_zones_is_given_up_at_once(
        hostile: Hostile, capsys: pytest.CaptureFixture[str], action: Action, said: str) -> None:
    """A resolver on the port (a REFUSED, or an answer without AA) will not turn into the
    zone's server within the wait: asked once, not for 30 s."""
    hostile.reset([[action], [("good", 0.0)]], "A")
    start = time.monotonic()
    outcome = propagate.prove([propagate.Target(NAME, "A", NEW["A"], SERVERS)], hostile.port,
                              30, start + 60)
    assert time.monotonic() - start < 1
    assert not outcome.confirmed
    assert capsys.readouterr().err.endswith(f"not yet on 1/2 nameservers after "
                                            f"{outcome.seconds:.1f}s: 127.0.0.1 {said}\n")


@pytest.mark.parametrize(("wait", "rounds"), [(0, 1), (1, 2), (2, 3), (3.5, 3)])
def test_rounds_start_1_and_2_s_apart_with_a_last_look_before_the_end(
        hostile: Hostile, capsys: pytest.CaptureFixture[str], wait: float, rounds: int) -> None:
    """A stale server is asked at 0, 1, 3, 7, ... s, the last time 0.5 s before the wait
    ends (1 s: at 0 and 0.5; 2 s: at 0, 1 and 1.5; 3.5 s: at 0, 1 and 3); `wait = 0` is one
    round (answers awaited 1 s)."""
    hostile.reset([[("stale",)], [("stale",)]], "A")
    start = time.monotonic()
    outcome = propagate.prove([propagate.Target(NAME, "A", NEW["A"], SERVERS)], hostile.port,
                              wait, start + 60)
    assert hostile.counts == [rounds, rounds]
    last = max(wait - 0.5, 0)  # when the last round starts
    assert last <= outcome.seconds <= last + SLACK
    assert not outcome.confirmed
    assert f"127.0.0.1 answers {OLD['A']}" in capsys.readouterr().err
