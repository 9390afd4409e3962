"""The fake's authoritative nameserver: UDP DNS for its zones, answered from its own records.

It answers as Cloudflare's nameservers answer for a zone they hold: the AA flag set, no
recursion; A and AAAA from the records (a proxied record answers Cloudflare's own addresses,
never its content); NXDOMAIN for a name with no records; NOERROR with no answer (NODATA) for a
name that has only other types, or the apex; REFUSED for a name outside every zone.

It listens on one or more addresses, the same port on each. The zones' `name_servers` are IP
literals of those addresses (fakes.server sets them), so that a client never looks a real
nameserver up: no test sends DNS anywhere but loopback or a test instance.

Faults, for one listening address or for all ("*"), replaced whole by `configure`:
- `lag`: a change made after the fault was set shows only `lag` seconds after it was made;
- `stale`: it keeps answering the records as they were when the fault was set (no change
  made since shows);
- `silent`: it never answers.

Every query is counted (`hits`) and kept (`queries`): tests prove that a run asked nothing.
"""

from __future__ import annotations

import contextlib
import ipaddress
import selectors
import socket
import struct
import threading
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from fakes.dns import TYPE_A, TYPE_AAAA, parse_question

if TYPE_CHECKING:
    from fakes.server import FakeCloudflare

CLASS_IN = 1
TYPES = {TYPE_A: "A", TYPE_AAAA: "AAAA"}
# What a proxied record resolves to: Cloudflare's addresses (from its published ranges).
PROXIED = {"A": ("104.16.0.1", "172.64.0.1"), "AAAA": ("2606:4700::1", "2a06:98c1::1")}
TTL = 300  # seconds, as Cloudflare answers for an "automatic" TTL
_HISTORY = 1000  # snapshots kept (a lag looks back into them)

Snapshot = frozenset[tuple[str, str, str]]  # (name, type, answer) for every record


class NsFault(NamedTuple):
    lag: float = 0.0
    stale: bool = False
    silent: bool = False
    since: float = float("-inf")  # time.monotonic() when it was set: older changes show

    def public(self) -> dict[str, Any]:
        return {"lag": self.lag, "stale": self.stale, "silent": self.silent}

    def view(self, now: float) -> float:
        """The moment whose records it answers."""
        return self.since if self.stale else max(now - self.lag, self.since)


class NameServer:
    def __init__(self, fake: FakeCloudflare, addresses: tuple[str, ...], port: int) -> None:
        self.fake = fake
        self.addresses = addresses
        self.faults: dict[str, NsFault] = {}
        self.hits = 0
        self.queries: list[dict[str, Any]] = []
        self.history: list[tuple[float, Snapshot]] = [(float("-inf"), self._snapshot())]
        self.sockets = _bind(addresses, port)
        self.port: int = self.sockets[0].getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread: threading.Thread | None = None

    # ---- life cycle ---------------------------------------------------------------------
    def start(self) -> NameServer:
        self._thread = threading.Thread(target=self._serve, name="fake-ns", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(5)
        for sock in (*self.sockets, self._wake_r, self._wake_w):
            sock.close()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._wake_r, selectors.EVENT_READ)
            for listening in self.sockets:
                sel.register(listening, selectors.EVENT_READ, listening)
            while True:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r:
                        return
                    sock: socket.socket = key.data
                    try:
                        data, client = sock.recvfrom(4096)
                    except OSError:
                        continue
                    answer = self.answer(data, sock.getsockname()[0], client)
                    if answer is not None:
                        with contextlib.suppress(OSError):
                            sock.sendto(answer, client)

    # ---- faults -------------------------------------------------------------------------
    def configure(self, address: str = "*", lag: float = 0.0, stale: bool = False,
                  silent: bool = False) -> None:
        """Set the fault of one listening address (or "*", all); all defaults: none."""
        if address != "*" and address not in self.addresses:
            raise ValueError(f"the nameserver does not listen on {address!r}; it listens on "
                             f"{list(self.addresses)}")
        if not 0 <= float(lag) < 86400:
            raise ValueError("lag must be 0..86400 seconds")
        with self.fake.lock:
            self.observe()
            if not (lag or stale or silent):
                self.faults.pop(address, None)
            else:
                self.faults[address] = NsFault(float(lag), bool(stale), bool(silent),
                                               time.monotonic())

    def clear(self) -> None:
        with self.fake.lock:
            self.faults.clear()

    def settings(self) -> dict[str, Any]:
        return {"addresses": list(self.addresses), "port": self.port, "hits": self.hits,
                "faults": {a: f.public() for a, f in self.faults.items()}}

    # ---- records ------------------------------------------------------------------------
    def _snapshot(self) -> Snapshot:
        items: set[tuple[str, str, str]] = set()
        for r in self.fake.state.records.values():
            name, rtype = str(r["name"]), str(r["type"])
            if rtype in PROXIED and r.get("proxied"):
                items.update((name, rtype, ip) for ip in PROXIED[rtype])
            else:
                items.add((name, rtype, str(r["content"])))
        return frozenset(items)

    def observe(self) -> None:
        """Note the records as they are now, if they changed (the fake calls it after every
        change; an answer calls it too, for a test that edits the state directly)."""
        with self.fake.lock:
            now = self._snapshot()
            if now != self.history[-1][1]:
                self.history.append((time.monotonic(), now))
                del self.history[1:-_HISTORY]

    def _view(self, at: float) -> Snapshot:
        return next(snap for when, snap in reversed(self.history) if when <= at)

    # ---- answers ------------------------------------------------------------------------
    def answer(self, data: bytes, local: str, client: Any) -> bytes | None:
        """The answer to one datagram (None: no answer)."""
        with self.fake.lock:
            self.hits += 1
            self.observe()
            fault = self.faults.get(local) or self.faults.get("*") or NsFault()
            now = time.monotonic()
            view = self._view(fault.view(now))
            zones = [str(z["name"]) for z in self.fake.state.zones.values()
                     if z.get("status", "active") == "active"]
            try:
                qid, flags, qname, qtype, qclass, end = parse_question(data)
            except (ValueError, IndexError, struct.error, UnicodeDecodeError):
                return None  # not a query we understand: drop it, as servers do
            self.queries.append({"server": local, "client": list(client[:2]), "name": qname,
                                 "type": TYPES.get(qtype, qtype), "rd": bool(flags & 0x0100),
                                 "time": now})
        if fault.silent or flags & 0x8000:  # never answer an answer
            return None
        rcode, answers = 0, []
        zone = max((z for z in zones if qname == z or qname.endswith("." + z)), key=len,
                   default=None)
        if (flags >> 11) & 0xF:
            rcode = 4  # NOTIMP: only standard queries
        elif zone is None or qclass != CLASS_IN:
            rcode = 5  # REFUSED: not our zone
        elif qtype in TYPES:
            answers = sorted(c for n, t, c in view if n == qname and t == TYPES[qtype])
        if rcode == 0 and not answers and qname != zone and all(n != qname for n, _, _ in view):
            rcode = 3  # NXDOMAIN
        aa = 0x0400 if rcode in (0, 3) else 0  # authoritative for its zones only
        header = struct.pack("!HHHHHH", qid, 0x8000 | (flags & 0x7900) | aa | rcode, 1,
                             len(answers), 0, 0)
        out = header + data[12:end]
        for content in answers:
            rdata = ipaddress.ip_address(content).packed
            out += b"\xc0\x0c" + struct.pack("!HHIH", qtype, CLASS_IN, TTL, len(rdata)) + rdata
        return out


def _bind(addresses: tuple[str, ...], port: int) -> list[socket.socket]:
    """One UDP socket per address, all on one port (a free one when port is 0)."""
    if not addresses:
        raise ValueError("the nameserver needs at least one address to listen on")
    for _ in range(20):
        sockets: list[socket.socket] = []
        try:
            for address in addresses:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_DGRAM)
                sockets.append(sock)
                sock.bind((address, port if not sockets[:-1] else
                           sockets[0].getsockname()[1]))
            return sockets
        except OSError:
            for sock in sockets:
                sock.close()
            if port:  # a port asked for: its failure is the caller's to see
                raise
    raise OSError("no free UDP port for the nameserver on every address")
