"""A minimal DNS client over UDP (stdlib socket only) for the DNS address sources (and the wire
format for propagate.py's questions to authoritative nameservers).

One question, one connected socket (so only the server's datagrams arrive). An answer counts only
if its id, question, and each record's name, type and class match what was asked.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import struct
import time

from pi_ddns.config import DnsSource
from pi_ddns.errors import SourceError

TYPES = {"A": 1, "AAAA": 28, "TXT": 16}
CLASSES = {"IN": 1, "CH": 3}
RCODES = {1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
# A host name (LDH labels, an optional final dot), as a zone lists its nameservers.
_HOST_NAME = re.compile(r"(?=.{1,253}\.?\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
                        r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?\Z", re.IGNORECASE)


def is_host_name(text: str) -> bool:
    """A name fit to ask the system resolver for (cfapi keeps only such nameservers)."""
    return bool(_HOST_NAME.fullmatch(text))


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise SourceError(f"bad name {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def build_query(qid: int, name: str, qtype: int, qclass: int, *, recurse: bool = True) -> bytes:
    # flags 0x0100: a standard query with recursion desired; without it (RD=0) a nameserver
    # answers from its own zones only (propagate.py asks authoritative servers so)
    flags = 0x0100 if recurse else 0
    return struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 0) + encode_name(name) + struct.pack(
        "!HH", qtype, qclass)


def read_name(msg: bytes, pos: int) -> tuple[str, int]:
    """Decode a (possibly compressed) name at pos; returns (name, position after it)."""
    labels: list[str] = []
    end = -1
    for _ in range(128):  # bounds pointer loops
        if pos >= len(msg):
            raise SourceError("malformed answer (name runs past the end)")
        length = msg[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(msg):
                raise SourceError("malformed answer (bad pointer)")
            if end < 0:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | msg[pos + 1]
            continue
        if length & 0xC0:
            raise SourceError("malformed answer (bad label)")
        pos += 1
        if length == 0:
            return ".".join(labels).lower(), (end if end >= 0 else pos)
        label = msg[pos:pos + length]
        if len(label) != length:
            raise SourceError("malformed answer (label runs past the end)")
        labels.append(label.decode("ascii", "replace"))
        pos += length
    raise SourceError("malformed answer (pointer loop)")


def parse_response(msg: bytes, qid: int, name: str, qtype: int, qclass: int) -> list[str]:
    """The answer texts (addresses or TXT strings) for exactly the asked question."""
    if len(msg) < 12:
        raise SourceError("malformed answer (short header)")
    rid, flags, qdcount, ancount, _, _ = struct.unpack("!HHHHHH", msg[:12])
    if rid != qid or not flags & 0x8000:
        raise SourceError("answer is not a response to our query")
    if flags & 0x0200:
        raise SourceError("answer truncated")
    rcode = flags & 0x000F
    if rcode:
        raise SourceError(RCODES.get(rcode, f"rcode {rcode}"))
    if qdcount != 1:
        raise SourceError(f"answer echoes {qdcount} questions, expected 1")
    qname, pos = read_name(msg, 12)
    if len(msg) < pos + 4:
        raise SourceError("malformed answer (short question)")
    if (qname, *struct.unpack("!HH", msg[pos:pos + 4])) != (name.lower(), qtype, qclass):
        raise SourceError(f"answer is for another question ({qname})")
    pos += 4
    found: list[str] = []
    others: list[str] = []
    for _ in range(ancount):
        rname, pos = read_name(msg, pos)
        if len(msg) < pos + 10:
            raise SourceError("malformed answer (short record)")
        rtype, rclass, _ttl, rdlen = struct.unpack("!HHIH", msg[pos:pos + 10])
        pos += 10
        rdata = msg[pos:pos + rdlen]
        if len(rdata) != rdlen:
            raise SourceError("malformed answer (short rdata)")
        pos += rdlen
        if (rname, rtype, rclass) != (name.lower(), qtype, qclass):
            others.append(rname)
            continue
        found.append(_rdata_text(rtype, rdata))
    if not found:
        detail = f" (records for {', '.join(sorted(set(others)))})" if others else ""
        raise SourceError(f"no {name} record in the answer{detail}")
    return found


def _rdata_text(rtype: int, rdata: bytes) -> str:
    if rtype == TYPES["A"] and len(rdata) == 4:
        return str(ipaddress.IPv4Address(rdata))
    if rtype == TYPES["AAAA"] and len(rdata) == 16:
        return str(ipaddress.IPv6Address(rdata))
    if rtype == TYPES["TXT"]:
        parts, pos = [], 0
        while pos < len(rdata):
            n = rdata[pos]
            part = rdata[pos + 1:pos + 1 + n]
            if len(part) != n:
                raise SourceError("malformed answer (short TXT string)")
            parts.append(part)
            pos += 1 + n
        try:
            return b"".join(parts).decode("ascii")
        except UnicodeDecodeError:
            raise SourceError("TXT answer is not ASCII") from None
    raise SourceError("malformed answer (bad rdata length)")


def query(source: DnsSource, timeout: float) -> list[str]:
    """Ask the server; wrong-id datagrams are ignored until the deadline."""
    qtype, qclass = TYPES[source.rrtype], CLASSES[source.rrclass]
    qid = int.from_bytes(os.urandom(2), "big")
    packet = build_query(qid, source.name, qtype, qclass)
    family = socket.AF_INET if source.server.version == 4 else socket.AF_INET6
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((str(source.server), source.port))
            sock.send(packet)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                msg = sock.recv(4096)
                if len(msg) >= 2 and int.from_bytes(msg[:2], "big") != qid:
                    continue  # a stray or spoofed datagram
                return parse_response(msg, qid, source.name, qtype, qclass)
        except TimeoutError:
            raise SourceError(f"no answer within {timeout:g} s") from None
        except ConnectionRefusedError:
            raise SourceError("connection refused") from None
        except OSError as e:
            raise SourceError(e.strerror or str(e)) from None
