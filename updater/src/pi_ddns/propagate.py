"""Proof of propagation: after a run that wrote content, ask each authoritative nameserver of
the record's zone directly until it answers with the new content, or the wait ends.

- The nameservers are the zone's `name_servers` as Cloudflare reports them (cached in the
  state with the zone). A name is resolved with the system resolver (its IPv4 address first: a
  Pi often has no IPv6 route); an IP literal is used as it is.
- A question is plain DNS over UDP with RD=0 (the server's own zone, not a cache), in
  dnsquery's wire format, on its own connected socket (only that server's datagrams arrive);
  an answer counts only for the id, name, type and class asked.
- In rounds: each record not yet confirmed is asked of each server not yet confirmed, all at
  once. Rounds start 1 s apart, then 2 s, then every 4 s, and a last one half a second before
  the wait ends (`[propagation] wait`; never past the run's run_timeout deadline). A server
  that refuses (no DNS server on that port, or REFUSED), or answers without the AA flag (a
  resolver, not the zone's server), is not asked again: it will not answer otherwise soon.
- One line per record; a mismatch when the wait ends is a warning. Whatever the network
  answers, or does not, nothing here raises or changes the run's outcome.

Only the change path imports this module (update.py, after the writes).
"""

from __future__ import annotations

import ipaddress
import os
import selectors
import socket
import threading
import time
from typing import Any, NamedTuple

from pi_ddns import dnsquery, report
from pi_ddns.errors import SourceError

FIRST_INTERVAL = 1.0  # seconds from one round of questions to the next, doubling ...
MAX_INTERVAL = 4.0  # ... up to this
RESOLVE_TIMEOUT = 5.0  # the cap on the system resolver, per run (also within the wait)

Where = tuple[int, Any]  # (address family, socket address)


class Target(NamedTuple):
    name: str
    rtype: str  # "A" or "AAAA"
    content: str  # the content just written, canonical (str(ip_address(...)))
    nameservers: tuple[str, ...]  # names or IP literals, as the zone object lists them


class Outcome(NamedTuple):
    seconds: float  # until the last record showed on the last server, or the time waited
    confirmed: bool  # every record on every server


class _Ask:
    """One record asked of one server."""

    def __init__(self, target: Target, server: str, where: Where | str) -> None:
        self.target, self.server = target, server
        self.where = where if not isinstance(where, str) else None
        self.said = where if isinstance(where, str) else None  # its last word, for the log
        self.at: float | None = None  # seconds after the start it answered the new content
        self.final = isinstance(where, str)  # unresolvable or refused: not asked again


def prove(targets: list[Target], port: int, wait: float, deadline: float, *,
          interval: float = FIRST_INTERVAL) -> Outcome:
    """Ask until every target shows on every server or `wait` seconds pass (at least one round
    of `interval`), never past `deadline` (time.monotonic()). Logs one line per target."""
    start = time.monotonic()
    limit = min(deadline, start + max(wait, interval))
    if limit <= start:
        for t in targets:
            report.warning(f"{t.name} {t.rtype}: propagation not checked: the run's time "
                           "(run_timeout) is spent")
        return Outcome(0.0, False)
    cap = interval * MAX_INTERVAL / FIRST_INTERVAL
    servers = sorted({ns for t in targets for ns in t.nameservers})
    where = _resolve(servers, port, min(limit, start + RESOLVE_TIMEOUT))
    asks = [_Ask(t, ns, where[ns]) for t in targets for ns in dict.fromkeys(t.nameservers)]
    # The last round starts half a round before the asking ends (a last look then); a wait
    # shorter than that is one round.
    last = max(min(deadline, start + wait) - interval / 2, start)
    while True:
        begun = time.monotonic()
        pending = [a for a in asks if a.at is None and not a.final]
        if not pending or begun >= limit:
            break
        final = begun >= last
        until = limit if final else min(begun + interval, last)
        _round(pending, until, start)
        if final or all(a.at is not None or a.final for a in pending):
            break
        time.sleep(max(0.0, until - time.monotonic()))
        interval = min(interval * 2, cap)
    elapsed = time.monotonic() - start
    for t in targets:
        _log(t, [a for a in asks if a.target is t], elapsed)
    confirmed = all(t.nameservers for t in targets) and all(a.at is not None for a in asks)
    seconds = max((a.at or 0.0 for a in asks), default=0.0) if confirmed else elapsed
    return Outcome(seconds, confirmed)


def _log(t: Target, asks: list[_Ask], elapsed: float) -> None:
    what = f"{t.name} {t.rtype}"
    if not asks:
        report.info(f"{what}: propagation not checked: the zone's nameservers are not known "
                    "yet (the next zone lookup fills them in)")
        return
    late = [a for a in asks if a.at is None]
    if not late:
        seconds = max(a.at or 0.0 for a in asks)
        report.info(f"propagated {what} to {len(asks)}/{len(asks)} nameservers in {seconds:.1f}s")
        return
    words = "; ".join(f"{a.server} {a.said or 'gave no answer'}" for a in late)
    report.warning(f"{what} {t.content} not yet on {len(late)}/{len(asks)} nameservers after "
                   f"{elapsed:.1f}s: {words}")


def _resolve(names: list[str], port: int, until: float) -> dict[str, Where | str]:
    """Each server's address, or the reason it has none. The system resolver has no timeout
    of its own: each lookup runs in a daemon thread, given up at `until`."""
    out: dict[str, Where | str] = {}
    found: dict[str, Where | str] = {}

    def lookup(name: str) -> None:
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_DGRAM,
                                       proto=socket.IPPROTO_UDP)
        except (OSError, UnicodeError) as e:
            found[name] = f"does not resolve ({getattr(e, 'strerror', None) or e})"
            return
        infos = [i for i in infos if i[0] in (socket.AF_INET, socket.AF_INET6)]
        infos.sort(key=lambda i: i[0] != socket.AF_INET)
        found[name] = (infos[0][0], infos[0][4]) if infos else "has no address"

    threads = []
    for name in names:
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            if dnsquery.is_host_name(name):
                threads.append(threading.Thread(target=lookup, args=(name,), daemon=True))
                threads[-1].start()
            else:
                out[name] = "is not a host name"
            continue
        if "%" in str(ip):  # a scoped (link-local) literal is no zone's nameserver
            out[name] = "is not a host name"
        else:
            out[name] = (socket.AF_INET if ip.version == 4 else socket.AF_INET6, (str(ip), port))
    for thread in threads:
        thread.join(max(0.0, until - time.monotonic()))
    done = dict(found)
    for name in names:
        out.setdefault(name, done.get(name, "does not resolve (the system resolver did not "
                                            "answer in time)"))
    return out


def _round(asks: list[_Ask], until: float, start: float) -> None:
    """Send every question at once, then take the answers as they come, until `until`."""
    sockets: list[socket.socket] = []
    with selectors.DefaultSelector() as sel:
        try:
            for a in asks:
                _send(a, sel, sockets)
            while sel.get_map():
                left = until - time.monotonic()
                if left <= 0:
                    break
                for key, _ in sel.select(left):
                    ask, qid = key.data
                    _receive(ask, qid, key.fileobj, sel, start)  # type: ignore[arg-type]
        finally:
            for sock in sockets:
                sock.close()


def _send(a: _Ask, sel: selectors.BaseSelector, sockets: list[socket.socket]) -> None:
    if a.where is None:  # never: an ask without an address is final
        return
    family, address = a.where
    qid = int.from_bytes(os.urandom(2), "big")
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM)
    except OSError as e:
        _failed(a, e)
        return
    sockets.append(sock)
    try:
        sock.setblocking(False)
        sock.connect(address)
        sock.send(dnsquery.build_query(qid, a.target.name, dnsquery.TYPES[a.target.rtype],
                                       dnsquery.CLASSES["IN"], recurse=False))
    except OSError as e:
        _failed(a, e)
        return
    sel.register(sock, selectors.EVENT_READ, (a, qid))


def _receive(a: _Ask, qid: int, sock: socket.socket, sel: selectors.BaseSelector,
             start: float) -> None:
    """Read what has arrived: the first datagram with our id is the server's answer."""
    t = a.target
    while True:
        try:
            msg = sock.recv(4096)
        except BlockingIOError:
            return  # only strays so far: keep listening
        except OSError as e:
            sel.unregister(sock)
            _failed(a, e)
            return
        if len(msg) >= 2 and int.from_bytes(msg[:2], "big") != qid:
            continue  # a stray or spoofed datagram
        sel.unregister(sock)
        try:
            found = dnsquery.parse_response(msg, qid, t.name, dnsquery.TYPES[t.rtype],
                                            dnsquery.CLASSES["IN"])
        except SourceError as e:
            if str(e) == dnsquery.RCODES[5]:  # not its zone: that will not change in a minute
                a.said, a.final = "refuses the question (REFUSED: not a server of the zone)", True
            else:
                a.said = f"answers badly: {e}"
            return
        if not msg[2] & 0x04:  # no AA flag: a cache or a resolver, not the zone's server
            a.said, a.final = "is not authoritative for the zone (no AA flag)", True
        elif t.content in found:
            a.at = time.monotonic() - start
        else:
            a.said = "answers " + ", ".join(found)
        return


def _failed(a: _Ask, e: OSError) -> None:
    if isinstance(e, ConnectionRefusedError):
        port = a.where[1][1] if a.where else "?"
        a.said, a.final = f"refuses (no DNS server on port {port})", True
    else:
        a.said = f"cannot be asked ({e.strerror or e})"
