"""A tiny UDP DNS responder (hand-rolled wire format, RFC 1035) for the DNS IP sources:
`myip.opendns.com` A/AAAA class IN and `whoami.cloudflare` TXT class CH answer the current address.

Modes: ok, nxdomain (every name), wrong-name (the answer's owner name differs from the question),
servfail, refused, timeout (no answer at all)."""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import struct
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakes.server import FakeCloudflare

MODES = ("ok", "nxdomain", "wrong-name", "servfail", "refused", "timeout")
TYPE_A, TYPE_TXT, TYPE_AAAA = 1, 16, 28
CLASS_IN, CLASS_CH = 1, 3
_RCODE = {"ok": 0, "servfail": 2, "nxdomain": 3, "refused": 5}


def parse_question(data: bytes) -> tuple[int, int, str, int, int, int]:
    """(id, flags, qname, qtype, qclass, end offset of the question)."""
    qid, flags, qdcount = struct.unpack("!HHH", data[:6])
    if qdcount != 1:
        raise ValueError("expected one question")
    labels, pos = [], 12
    while data[pos]:
        n = data[pos]
        if n & 0xC0:
            raise ValueError("compressed question names are not supported")
        labels.append(data[pos + 1: pos + 1 + n].decode("ascii"))
        pos += 1 + n
    qtype, qclass = struct.unpack("!HH", data[pos + 1: pos + 5])
    return qid, flags, ".".join(labels).lower(), qtype, qclass, pos + 5


def encode_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"


def build_answer(data: bytes, mode: str, addresses: dict[str, str | None], txt_family: str
                 ) -> bytes | None:
    qid, flags, qname, qtype, qclass, end = parse_question(data)
    rcode, rdata, rtype = _RCODE.get(mode, 0), b"", qtype
    if mode in ("ok", "wrong-name"):
        rcode = 3
        if qname == "myip.opendns.com" and qclass == CLASS_IN:
            rcode = 0
            family = {TYPE_A: "ipv4", TYPE_AAAA: "ipv6"}.get(qtype)
            ip = addresses.get(family) if family else None
            if ip:
                rdata = ipaddress.ip_address(ip).packed
        elif qname == "whoami.cloudflare" and qclass == CLASS_CH:
            rcode = 0
            ip = addresses.get(txt_family)
            if qtype == TYPE_TXT and ip:
                rdata = bytes([len(ip)]) + ip.encode()
    header = struct.pack("!HHHHHH", qid, 0x8000 | (flags & 0x0100) | 0x0080 | rcode, 1,
                         1 if rdata else 0, 0, 0)
    out = header + data[12:end]
    if rdata:
        owner = encode_name("wrong.example.net") if mode == "wrong-name" else b"\xc0\x0c"
        out += owner + struct.pack("!HHIH", rtype, qclass, 0, len(rdata)) + rdata
    return out


class _Udp(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Udp6(_Udp):
    address_family = socket.AF_INET6


class DnsResponder:
    def __init__(self, fake: FakeCloudflare, host: str, port: int) -> None:
        self.fake = fake
        self.mode = "ok"
        self.txt_family = "ipv4"
        self.hits = 0
        responder = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                with fake.lock:
                    responder.hits += 1
                    mode, addresses = responder.mode, dict(fake.addresses)
                if mode == "timeout":
                    return
                try:
                    answer = build_answer(data, mode, addresses, responder.txt_family)
                except (ValueError, IndexError, struct.error, UnicodeDecodeError):
                    return  # not a DNS query we understand: drop it
                if answer:
                    sock.sendto(answer, self.client_address)

        self.server = (_Udp6 if ":" in host else _Udp)((host, port), Handler)
        self.port: int = self.server.server_address[1]

    def start(self, poll: float = 0.5) -> DnsResponder:
        threading.Thread(target=self.server.serve_forever, args=(poll,), name="fake-dns", daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def configure(self, mode: str | None = None, txt_family: str | None = None) -> None:
        if mode is not None:
            if mode not in MODES:
                raise ValueError(f"unknown DNS mode {mode!r}; use one of {MODES}")
            self.mode = mode
        if txt_family is not None:
            if txt_family not in ("ipv4", "ipv6"):
                raise ValueError("txt_family must be ipv4 or ipv6")
            self.txt_family = txt_family

    def settings(self) -> dict[str, Any]:
        return {"mode": self.mode, "txt_family": self.txt_family, "port": self.port, "hits": self.hits}
