"""Find the home's public address: ask the configured sources, validate, apply the policy.

An answer is used only if it is exactly one address of the asked family that the rule in
addresses.py accepts (IANA's special-purpose registries; IPv6 inside 2000::/3; not Cloudflare's).
HTML error pages, empty bodies, two lines, redirects, non-200 answers and any framing anomaly
(httpclient.py) are failures, never addresses.
"""

from __future__ import annotations

import ipaddress
import os
import time
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from pi_ddns import addresses, httpclient, report
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
from pi_ddns.errors import DetectionError, HttpError, SourceError

MAX_BODY = httpclient.MAX_BODY

class Detected(NamedTuple):
    version: int
    address: Address
    source: str  # the label of the source that answered


check = addresses.check  # the one rule: see addresses.py


def _snippet(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text[:200].decode("utf-8", "backslashreplace")
    return f"'{report.safe(text, 60)}'"


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
    """One GET, no redirects followed, status 200 only, framing exact, body capped at MAX_BODY."""
    try:
        resp = httpclient.request("GET", url, timeout)
    except HttpError as e:
        raise SourceError(str(e)) from None
    if 300 <= resp.status < 400:
        raise SourceError(f"HTTP {resp.status} redirect (to {_location(resp)}) not followed")
    if resp.status != 200:
        raise SourceError(f"HTTP {resp.status}")
    return resp.body


def _location(resp: httpclient.Response) -> str:
    """The redirect target's host for the message, or why there is none to name."""
    found = resp.header("location")
    if len(found) != 1:
        return f"{len(found)} Location headers"
    try:
        parts = urlsplit(found[0])
        host = parts.hostname
        _ = parts.port
    except ValueError:
        return "an invalid Location"
    if not host or parts.scheme not in ("http", "https"):
        return "an invalid Location"
    return report.safe(host, 80)


def _ask(source: Source, family: Family) -> Address:
    v, lax, timeout = family.version, family.allow_nonglobal, family.timeout
    if isinstance(source, TraceSource):
        return parse_trace(http_get(source.url, timeout), v, lax)
    if isinstance(source, HttpSource):
        return parse_echo(http_get(source.url, timeout), v, lax)
    if isinstance(source, DnsSource):
        from pi_ddns import dnsquery

        answers = dnsquery.query(source, timeout)
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


# A command source's child sees only these: no $CREDENTIALS_DIRECTORY, no $CLOUDFLARE_*,
# nothing else the updater was started with.
_CHILD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _run(argv: list[str], timeout: float) -> bytes:
    """Run argv with a minimal environment; its stdout (at most MAX_BODY bytes), or SourceError
    naming the exit status and the start of its stderr, made safe."""
    import subprocess

    deadline = time.monotonic() + timeout
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env={"PATH": _CHILD_PATH, "LC_ALL": "C"})
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in an argument
        raise SourceError(f"cannot run {_snippet(argv[0])}: {httpclient.oserror(e)}") from None
    try:
        out, err = _collect(proc, deadline, timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    if proc.returncode != 0:
        said = err.strip()
        detail = f": {_snippet(said)}" if said else ""
        raise SourceError(f"exited with status {proc.returncode}{detail}")
    return out


def _collect(proc: Any, deadline: float, timeout: float) -> tuple[bytes, bytes]:
    """Read both pipes to their end, each capped, under the deadline."""
    import selectors
    import subprocess

    caps = {proc.stdout.fileno(): MAX_BODY, proc.stderr.fileno(): 4096}
    got: dict[int, bytes] = dict.fromkeys(caps, b"")
    with selectors.DefaultSelector() as sel:
        for fd in caps:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SourceError(f"no answer within {timeout:g} s")
            for key, _ in sel.select(remaining):
                fd = int(key.fd)
                data = os.read(fd, 65536)
                if not data:
                    sel.unregister(fd)
                    continue
                got[fd] = (got[fd] + data)[:caps[fd] + 1]
                if fd == proc.stdout.fileno() and len(got[fd]) > MAX_BODY:
                    raise SourceError(f"output longer than {MAX_BODY} bytes")
    remaining = deadline - time.monotonic()
    try:
        proc.wait(max(remaining, 0.01))
    except subprocess.TimeoutExpired:
        raise SourceError(f"no answer within {timeout:g} s") from None
    return got[proc.stdout.fileno()], got[proc.stderr.fileno()][:4096]


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
            failures.append(f"{source.label}: {report.safe(str(e), 200)}")
            continue
        votes.setdefault(address, []).append(source.label)
        if len(votes[address]) >= need:
            return Detected(family.version, address, source.label)
    if votes:
        seen = "; ".join(f"{a} from {', '.join(s)}" for a, s in votes.items())
        failures.insert(0, f"fewer than {need} sources agree ({seen})")
    raise DetectionError(f"no acceptable IPv{family.version} address: " + "; ".join(failures))
