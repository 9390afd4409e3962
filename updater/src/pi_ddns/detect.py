"""Find the home's public address: ask the configured sources, validate, apply the policy.

An answer is used only if it is exactly one global unicast address of the asked family and not one
of Cloudflare's. HTML error pages, empty bodies, two lines, redirects and non-200 answers are
failures, never addresses.
"""

from __future__ import annotations

import io
import ipaddress
import os
import time
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from pi_ddns import __version__, cfranges
from pi_ddns.config import (
    Address,
    CommandSource,
    DnsSource,
    Family,
    HttpSource,
    InterfaceSource,
    Source,
    StaticSource,
    TraceSource,
)
from pi_ddns.errors import DetectionError

if TYPE_CHECKING:
    import http.client
    import socket
    import ssl

MAX_BODY = 4096

# (network, what it is, may allow_nonglobal accept it?) - named so the log says *why*.
_SPECIAL = {
    4: (
        ("0.0.0.0/8", "unspecified", False),
        ("10.0.0.0/8", "private", True),
        ("100.64.0.0/10", "CGNAT", True),
        ("127.0.0.0/8", "loopback", True),
        ("169.254.0.0/16", "link-local", True),
        ("172.16.0.0/12", "private", True),
        ("192.0.0.0/24", "IETF protocol assignment", True),
        ("192.0.2.0/24", "documentation", True),
        ("192.168.0.0/16", "private", True),
        ("198.18.0.0/15", "benchmarking", True),
        ("198.51.100.0/24", "documentation", True),
        ("203.0.113.0/24", "documentation", True),
        ("224.0.0.0/4", "multicast", False),
        ("240.0.0.0/4", "reserved", False),
    ),
    6: (
        ("::/128", "unspecified", False),
        ("::1/128", "loopback", True),
        ("::ffff:0:0/96", "IPv4-mapped", False),
        ("100::/64", "discard-only", True),
        ("2001:db8::/32", "documentation", True),
        ("3fff::/20", "documentation", True),
        ("fc00::/7", "unique-local (private)", True),
        ("fe80::/10", "link-local", True),
        ("ff00::/8", "multicast", False),
    ),
}


class SourceError(Exception):
    """One source gave no usable answer; the message says why (never the raw answer at length)."""


class Detected(NamedTuple):
    version: int
    address: Address
    source: str  # the label of the source that answered


def check(address: Address, version: int, allow_nonglobal: bool = False) -> str | None:
    """Why `address` must not be published, or None if it is fine."""
    if address.version != version:
        return f"{address} is IPv{address.version}, expected IPv{version}"
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return f"{address} has a zone index"
    for net, what, allowable in _SPECIAL[version]:
        if address in ipaddress.ip_network(net):
            if allowable and allow_nonglobal:
                break
            return f"{address} is a {what} address"
    else:
        if not address.is_global and not allow_nonglobal:
            return f"{address} is not a global address"
    if cfranges.contains(address):
        return f"{address} is one of Cloudflare's own addresses"
    return None


def _snippet(text: str | bytes) -> str:
    return ascii(text[:40]) + ("..." if len(text) > 40 else "")


def parse_address(text: str, version: int, allow_nonglobal: bool = False) -> Address:
    """One address token -> a valid address, or SourceError."""
    if not text or any(c.isspace() for c in text) or "%" in text:
        raise SourceError(f"not exactly one address: {_snippet(text)}")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise SourceError(f"not an IP address: {_snippet(text)}") from None
    reason = check(address, version, allow_nonglobal)
    if reason:
        raise SourceError(reason)
    return address


def _ascii(body: bytes) -> str:
    try:
        return body.decode("ascii")
    except UnicodeDecodeError:
        raise SourceError(f"answer is not ASCII text: {_snippet(body)}") from None


def parse_echo(body: bytes, version: int, allow_nonglobal: bool = False) -> Address:
    """A plain-text echo answer: exactly one address, optional surrounding whitespace."""
    return parse_address(_ascii(body).strip(), version, allow_nonglobal)


def parse_trace(body: bytes, version: int, allow_nonglobal: bool = False) -> Address:
    """A /cdn-cgi/trace answer: `key=value` lines, exactly one `ip=` line."""
    text = _ascii(body)
    found: list[str] = []
    for line in text.splitlines():
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key or not key.replace("_", "").replace("-", "").isalnum():
            raise SourceError(f"not a trace answer: {_snippet(line)}")
        if key == "ip":
            found.append(value)
    if len(found) != 1:
        raise SourceError(f"trace answer has {len(found)} ip= lines, expected 1")
    return parse_address(found[0], version, allow_nonglobal)


def http_get(url: str, timeout: float) -> bytes:
    """One GET, no redirects followed, status 200 only, body capped at MAX_BODY."""
    import http.client  # here: a DNS source never pays for it (~0.25 s on an emulated Pi 1)

    deadline = time.monotonic() + timeout
    conn, path = connection(url, timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": f"pi-ddns/{__version__}",
                                           "Accept": "text/plain", "Connection": "close"})
        conn.response_class = _deadline_response(deadline)
        resp = conn.getresponse()
        if 300 <= resp.status < 400:
            target = urlsplit(resp.getheader("Location") or "").hostname or "?"
            raise SourceError(f"HTTP {resp.status} redirect (to {target}) not followed")
        if resp.status != 200:
            raise SourceError(f"HTTP {resp.status}")
        body = b""
        while len(body) <= MAX_BODY:
            chunk = resp.read1(MAX_BODY + 1 - len(body))
            if not chunk:
                break
            body += chunk
        if len(body) > MAX_BODY:
            raise SourceError(f"answer longer than {MAX_BODY} bytes")
        return body
    except TimeoutError:
        raise SourceError(f"no answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as e:
        raise SourceError(_oserror(e)) from None
    finally:
        conn.close()


def connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    """An unopened HTTP(S) connection for `url` (verifying TLS), and the request path."""
    import http.client

    parts = urlsplit(url)
    host = parts.hostname or ""
    # An explicit port: given "2606:4700:4700::1111" alone, http.client would read ":1111" as one.
    port = parts.port or (443 if parts.scheme == "https" else 80)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=tls_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    return conn, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def tls_context() -> ssl.SSLContext:
    """Verifying TLS context that looks CA certificates up lazily in a hashed directory.

    create_default_context() parses the whole CA bundle (~140 certificates) on every run: ~17 ms
    on a PC, far more on a Pi 1. The hashed directory that ca-certificates maintains (or
    $SSL_CERT_DIR) gives the same trust with one file read per handshake. $SSL_CERT_FILE, or no
    hashed directory, falls back to the defaults.
    """
    import ssl

    capath = os.environ.get("SSL_CERT_DIR") or ssl.get_default_verify_paths().capath
    try:
        hashed = bool(capath) and not os.environ.get("SSL_CERT_FILE") and any(
            name.endswith(".0") for name in os.listdir(capath))
    except OSError:
        hashed = False
    if hashed:
        return ssl.create_default_context(capath=capath)
    return ssl.create_default_context()


class _DeadlineReader(io.RawIOBase):
    """The socket under one deadline. http.client reads the status line and each header with
    its own recv, each allowed the full socket timeout: a server dripping header lines would
    hold the run for ever."""

    def __init__(self, raw: Any, sock: socket.socket, deadline: float) -> None:
        self._raw, self._sock, self._deadline = raw, sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self._sock.settimeout(remaining)
        n: int = self._raw.readinto(buffer)
        return n

    def close(self) -> None:
        self._raw.close()  # the socket's own reader: releases its hold on the socket
        super().close()


def _deadline_response(deadline: float) -> type[http.client.HTTPResponse]:
    import http.client

    class Response(http.client.HTTPResponse):
        def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
            super().__init__(sock, *args, **kwargs)
            raw = self.fp.detach()  # read through it, under the deadline
            self.fp = io.BufferedReader(_DeadlineReader(raw, sock, deadline))

    return Response


def _oserror(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _ask(source: Source, family: Family) -> Address:
    v, lax, timeout = family.version, family.allow_nonglobal, family.timeout
    if isinstance(source, TraceSource):
        return parse_trace(http_get(source.url, timeout), v, lax)
    if isinstance(source, HttpSource):
        return parse_echo(http_get(source.url, timeout), v, lax)
    if isinstance(source, DnsSource):
        from pi_ddns import dns

        answers = dns.query(source, timeout)
        if len(answers) != 1:
            raise SourceError(f"{len(answers)} answers, expected 1")
        return parse_address(answers[0], v, lax)
    if isinstance(source, StaticSource):
        return parse_address(str(source.address), v, lax)
    if isinstance(source, CommandSource):
        return parse_echo(_run(list(source.argv), timeout), v, lax)
    if isinstance(source, InterfaceSource):
        return _interface(source.name, family)
    raise SourceError(f"unknown source {source!r}")


def _run(argv: list[str], timeout: float) -> bytes:
    import subprocess

    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SourceError(f"no answer within {timeout:g} s") from None
    except OSError as e:
        raise SourceError(f"cannot run {argv[0]}: {_oserror(e)}") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = f": {_snippet(said[0])}" if said else ""
        raise SourceError(f"exited with status {done.returncode}{detail}")
    if len(done.stdout) > MAX_BODY:
        raise SourceError(f"output longer than {MAX_BODY} bytes")
    return bytes(done.stdout)


def _interface(name: str, family: Family) -> Address:
    import json

    kind = "inet" if family.version == 4 else "inet6"
    out = _run(["ip", "-j", f"-{family.version}", "addr", "show", "dev", name], family.timeout)
    reasons = []
    try:
        links = json.loads(out)
        infos = [i for link in links for i in link.get("addr_info", [])]
    except (ValueError, AttributeError, TypeError):
        raise SourceError("cannot parse the output of ip -j addr") from None
    for info in infos:
        flags = {"temporary", "deprecated", "tentative", "dadfailed"} & set(info)
        if info.get("family") != kind or info.get("scope") != "global" or flags:
            continue
        try:
            return parse_address(str(info.get("local", "")), family.version,
                                 family.allow_nonglobal)
        except SourceError as e:
            reasons.append(str(e))
    raise SourceError("; ".join(reasons) or f"no global IPv{family.version} address on {name}")


def detect(family: Family) -> Detected:
    """Ask the sources in order until the policy is met; DetectionError names each failure."""
    failures: list[str] = []
    votes: dict[Address, list[str]] = {}
    need = family.agree if family.policy == "agree" else 1
    for source in family.sources:
        try:
            address = _ask(source, family)
        except SourceError as e:
            failures.append(f"{source.label}: {e}")
            continue
        votes.setdefault(address, []).append(source.label)
        if len(votes[address]) >= need:
            return Detected(family.version, address, source.label)
    if votes:
        seen = "; ".join(f"{a} from {', '.join(s)}" for a, s in votes.items())
        failures.insert(0, f"fewer than {need} sources agree ({seen})")
    raise DetectionError(f"no acceptable IPv{family.version} address: " + "; ".join(failures))
