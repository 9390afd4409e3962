"""One HTTP/1.1 exchange over a plain socket, parsed strictly: for the IP sources and the ping.

The rule (fault class 1): an answer is returned only when its framing is exactly right. A status
line that is not `HTTP/1.x NNN reason`, a header line that is not `name: value`, a bare LF, a
folded header, two Content-Length headers or one that is not digits, Content-Length together with
Transfer-Encoding, a Transfer-Encoding other than `chunked`, a chunk that is malformed, a body
shorter or longer than announced, data after the end of the answer, an answer with no length at
all, or more than the caps: each is an HttpError, never a body. http.client is lenient on most of
these (read1() returns a short body without a word), which is how a truncated answer got
published.

No proxy is ever used: an IP source asked through a proxy would see the proxy's address. The
module reads no environment variable (pi-ddns ignores HTTP(S)_PROXY throughout).
"""

from __future__ import annotations

import os
import re
import socket
import time
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from pi_ddns import __version__
from pi_ddns.errors import HttpError

if TYPE_CHECKING:
    import ssl

MAX_HEAD = 8192  # bytes of status line and headers
MAX_BODY = 4096  # bytes of body, after de-chunking
# After a complete answer, wait this long for the server to close: data then is an anomaly.
_CLOSE_GRACE = 0.5

_STATUS = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9]) ([\t\x20-\x7e]*)\Z")
_HEADER = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*\Z")
_CHUNK = re.compile(rb"([0-9A-Fa-f]{1,7})(;[\t\x20-\x7e]*)?\Z")
_DIGITS = re.compile(rb"[0-9]{1,9}\Z")


class Response(NamedTuple):
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # (lower-case name, value), in order
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


class _Want(NamedTuple):
    head_only: bool
    max_body: int
    no_body: bool  # a HEAD request: the answer has no body whatever it says


def request(method: str, url: str, timeout: float, *, body: bytes | None = None,
            content_type: str = "text/plain", head_only: bool = False,
            max_body: int = MAX_BODY, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """Send one request (Connection: close) and return the strictly parsed answer.

    `head_only`: return once the status line and headers are in (the body is not read and not
    checked): for answers whose body does not matter. The whole exchange, connect and TLS
    included, has one deadline of `timeout` seconds. `headers`: extra (name, value) pairs,
    printable ASCII only (a notification's Title, an Authorization); never in a message.
    """
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise HttpError("invalid port in the URL") from None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise HttpError("not an http:// or https:// URL")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc.rpartition('@')[2]}",
             f"User-Agent: pi-ddns/{__version__}", "Accept: text/plain, */*;q=0.5",
             "Accept-Encoding: identity", "Connection: close"]
    if body is not None:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    lines += _extra(headers)
    try:
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    except UnicodeEncodeError:
        raise HttpError("the URL is not ASCII") from None
    if any(c in target for c in " \t\r\n\0"):
        raise HttpError("the URL contains whitespace or control characters")
    try:
        sock = socket.create_connection((host, port), timeout=_left(deadline, timeout))
    except TimeoutError:
        raise HttpError(f"no answer within {timeout:g} s") from None
    except OSError as e:
        raise HttpError(oserror(e)) from None
    try:
        if parts.scheme == "https":
            sock = tls_context().wrap_socket(sock, server_hostname=host)
        sock.sendall(head + (body or b""))
        return _receive(sock, deadline, timeout, _Want(head_only, max_body, method == "HEAD"))
    except TimeoutError:
        raise HttpError(f"no answer within {timeout:g} s") from None
    except OSError as e:
        raise HttpError(oserror(e)) from None
    finally:
        sock.close()


def _extra(headers: tuple[tuple[str, str], ...]) -> list[str]:
    """Extra header lines, each checked (no CR/LF can split the request); the value is never
    named in the error: it may be a token."""
    lines = []
    for name, value in headers:
        line = f"{name}: {value}"
        if not line.isascii() or not _HEADER.match(line.encode("ascii")):
            raise HttpError(f"header {name[:40]!r} is not printable ASCII")
        lines.append(line)
    return lines


def _left(deadline: float, timeout: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise HttpError(f"no answer within {timeout:g} s")
    return remaining


def _recv(sock: socket.socket, wait: float) -> bytes:
    sock.settimeout(wait)
    try:
        return sock.recv(65536)
    except OSError as e:
        # A TLS peer that closes without close_notify: an end like any other. Truncation is
        # still caught, because every accepted answer carries its own length.
        if type(e).__name__ == "SSLEOFError":
            return b""
        raise


def _receive(sock: socket.socket, deadline: float, timeout: float, want: _Want) -> Response:
    buf = b""
    eof = False
    cap = MAX_HEAD + 8 * want.max_body + 1024  # chunk framing adds some; beyond this, too long
    while True:
        answer = _parse(buf, want)
        if answer is not None:
            break
        if eof:
            raise HttpError("answer cut short: the server closed before its end")
        if len(buf) > cap:
            raise HttpError(f"answer longer than {want.max_body} bytes")
        chunk = _recv(sock, _left(deadline, timeout))
        eof = not chunk
        buf += chunk
    if not want.head_only and not eof:
        # Connection: close was asked; anything more than the answer is a framing anomaly.
        wait = min(_CLOSE_GRACE, deadline - time.monotonic())
        try:
            extra = _recv(sock, wait) if wait > 0 else b""
        except TimeoutError:
            extra = b""
        if extra:
            raise HttpError("data after the end of the answer")
    return answer


def _parse(buf: bytes, want: _Want) -> Response | None:
    """The answer if `buf` holds exactly one complete, well-formed answer; None if it needs
    more bytes; HttpError for any anomaly."""
    head = _head(buf)
    if head is None:
        return None
    response, rest = head
    if 100 <= response.status < 200:
        raise HttpError(f"unexpected interim answer HTTP {response.status}")
    if want.head_only:
        return response
    lengths, codings = response.header("content-length"), response.header("transfer-encoding")
    if len(lengths) > 1:
        raise HttpError("more than one Content-Length")
    if lengths and codings:
        raise HttpError("both Content-Length and Transfer-Encoding")
    if any(c.strip().lower() not in ("", "identity") for c in response.header("content-encoding")):
        raise HttpError("a Content-Encoding that was not asked for")
    if want.no_body or response.status in (204, 304):
        if rest:
            raise HttpError("data after the end of the answer")
        return response
    if codings:
        if len(codings) != 1 or codings[0].lower() != "chunked":
            raise HttpError("a Transfer-Encoding other than chunked")
        return _dechunk(rest, response, want.max_body)
    if not lengths:
        raise HttpError("answer without a length (no Content-Length, not chunked)")
    return _sized(rest, response, lengths[0], want.max_body)


def _sized(data: bytes, response: Response, length_header: str, max_body: int
           ) -> Response | None:
    if not _DIGITS.match(length_header.encode("latin-1")):
        raise HttpError("malformed Content-Length")
    length = int(length_header)
    if length > max_body:
        raise HttpError(f"answer longer than {max_body} bytes")
    if len(data) > length:
        raise HttpError("more data than Content-Length announced")
    if len(data) < length:
        return None
    return response._replace(body=data)


def _head(buf: bytes) -> tuple[Response, bytes] | None:
    """The status line and headers (body empty) and the bytes after them, or None for more."""
    end = buf.find(b"\r\n\r\n")
    if end > MAX_HEAD or (end == -1 and len(buf) > MAX_HEAD):
        raise HttpError(f"status line and headers longer than {MAX_HEAD} bytes")
    if end == -1:
        return None  # a bare LF never ends the head: such an answer ends cut short
    status_line, *header_lines = buf[:end].split(b"\r\n")
    m = _STATUS.match(status_line)
    if not m:
        raise HttpError("malformed status line")
    headers = []
    for line in header_lines:
        h = _HEADER.match(line)
        if not h:
            raise HttpError("malformed header line")
        headers.append((h.group(1).decode("ascii").lower(), h.group(2).decode("latin-1")))
    response = Response(int(m.group(1)), m.group(2).decode("ascii"), tuple(headers), b"")
    return response, buf[end + 4:]


def _dechunk(data: bytes, response: Response, max_body: int) -> Response | None:
    body = b""
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol == -1:
            if len(data) - pos > 80:
                raise HttpError("malformed chunk size line")
            return None
        m = _CHUNK.match(data[pos:eol])
        if not m:
            raise HttpError("malformed chunk size line")
        size = int(m.group(1), 16)
        pos = eol + 2
        if size == 0:
            break
        if len(body) + size > max_body:
            raise HttpError(f"answer longer than {max_body} bytes")
        if len(data) < pos + size + 2:
            return None
        if data[pos + size:pos + size + 2] != b"\r\n":
            raise HttpError("chunk longer than its size line says")
        body += data[pos:pos + size]
        pos += size + 2
    end = _trailers(data, pos)
    if end is None:
        return None
    if end != len(data):
        raise HttpError("data after the end of the answer")
    return response._replace(body=body)


def _trailers(data: bytes, pos: int) -> int | None:
    """Where the trailer section that starts at `pos` ends, or None if it is not all in."""
    while True:
        eol = data.find(b"\r\n", pos)
        if eol == -1:
            if len(data) - pos > MAX_HEAD:
                raise HttpError("malformed trailer")
            return None
        line = data[pos:eol]
        pos = eol + 2
        if not line:
            return pos
        if not _HEADER.match(line):
            raise HttpError("malformed trailer")


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


def oserror(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
