"""Fault classes 5 and 9: one scrubber (report.safe) between outside text and any output.

- safe() itself: for any text and any token, the result is one printable line within the cap,
  holding no piece of the token (8 characters or more).
- The token: a failing `command` source prints a Hypothesis-drawn token to stderr or stdout,
  whole, split across lines, repeated, buried in noise. It never reaches stderr, stdout or the
  state file.
- Injection: arbitrary bytes from each kind of source (an HTTP status line, body and Location;
  a command's stdout and stderr; a DNS TXT answer) never reach a log line raw: every line is
  printable and within the stated cap.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Env
from hostile import HostileServer
from pi_ddns import dnsquery, report

TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
tokens = st.text(TOKEN_CHARS, min_size=20, max_size=60)
# one log line: "pi-ddns: error: " + at most LINE_LIMIT characters
LINE_CAP = len("pi-ddns: warning: ") + report.LINE_LIMIT
fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture],
                      max_examples=40)


def pieces(token: str, size: int = 8) -> list[str]:
    return [token[i:i + size] for i in range(len(token) - size + 1)]


def assert_clean(text: str, token: str) -> None:
    for piece in pieces(token):
        assert piece not in text, f"a piece of the token leaked: {piece!r} in {text!r}"


def assert_lines_safe(err: str) -> None:
    for line in err.splitlines():
        assert line.isprintable(), line
        assert len(line) <= LINE_CAP, len(line)


# ---- safe() itself ---------------------------------------------------------------------------

@given(st.text(), tokens, st.integers(32, 2000))
def test_property_safe_is_one_printable_capped_line_without_the_token(
        text: str, token: str, limit: int) -> None:
    report.setup()
    report.hide(token)
    for shown in (text, token + text, text + token + text, token[:9] + "\n" + token[9:]):
        out = report.safe(shown, limit)
        assert out.isprintable()
        assert len(out) <= limit
        assert_clean(out, token)


@given(st.text(max_size=300))
def test_property_safe_keeps_printable_text_as_it_is(text: str) -> None:
    report.setup()
    if text.isprintable():
        assert report.safe(text, 400) == text


def test_safe_escapes_and_marks_the_cut() -> None:
    report.setup()
    assert report.safe("a\x1b[31mb\nc\x00\u202e") == "a\\x1b[31mb\\x0ac\\x00\\u202e"
    out = report.safe("x" * 70_000, 100)
    assert len(out) == 100
    assert out.endswith("...[cut, 70000 chars]")


# ---- the token through a failing command source ---------------------------------------------

layouts = st.sampled_from(["stderr", "stderr-split", "stderr-repeated", "stdout",
                           "stdout-split", "noise"])


def command_printing(path: Path, to_stdout: bool, code: int) -> dict[str, Any]:
    fd = "" if to_stdout else " >&2"
    return {"type": "command", "argv": ["/bin/sh", "-c", f'cat "$0"{fd}; exit {code}',
                                        str(path)]}


@fixture_ok
@given(tokens, layouts, st.text(max_size=40), st.integers(1, 19))
def test_property_the_token_never_reaches_output_or_state(
        env: Env, token: str, layout: str, noise: str, cut: int) -> None:
    env.write_token(token + "\n")
    split = token[:cut] + "\n" + token[cut:]
    text = {"stderr": token, "stderr-split": split, "stderr-repeated": (token + " ") * 3,
            "stdout": token, "stdout-split": split, "noise": noise + token + noise}[layout]
    out_file = env.tmp / "said"
    out_file.write_text(text)
    to_stdout = layout.startswith("stdout")
    env.write_config(ipv4={"timeout": 2.0, "sources": [
        command_printing(out_file, to_stdout, 0 if to_stdout else 1)]})
    result = env.run(["update"])
    assert result.code == 69
    status = env.run(["status", "--json"])
    for text_out in (result.err, result.out, status.out, status.err,
                     env.state_path.read_text() if env.state_path.exists() else ""):
        assert token not in text_out
        assert_clean(text_out, token)
    assert_lines_safe(result.err)


def test_the_command_child_gets_no_secret_environment(env: Env,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Its environment is PATH and LC_ALL only: no credentials directory, no CLOUDFLARE_*."""
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(env.tmp))
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "env-token-0123456789")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.9:9")
    dump = env.tmp / "env"
    env.write_config(ipv4={"timeout": 5.0, "sources": [{"type": "command", "argv": [
        sys.executable, "-c",
        f"import os; open({str(dump)!r}, 'w').write(repr(sorted(os.environ))); print('x')"]}]})
    env.run(["update"])
    assert dump.read_text() == repr(["LC_ALL", "PATH"])


# ---- log injection: arbitrary bytes from every kind of source --------------------------------

@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    s = HostileServer().start()
    yield s
    s.stop()


def http_answer(kind: str, junk: bytes) -> bytes:
    if kind == "status":
        return b"HTTP/1.1 " + junk + b"\r\nContent-Length: 0\r\n\r\n"
    if kind == "location":
        return b"HTTP/1.1 302 Found\r\nLocation: " + junk + b"\r\nContent-Length: 0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(junk) + junk


junk_bytes = st.binary(max_size=300) | st.sampled_from([
    b"\x1b]0;owned\x07\x1b[2J", b"\r<3>forged journal line", b"x" * 60_000,
    "\u202eevil\u2066".encode(), b"\xff\xfe\x00"])


@fixture_ok
@given(st.sampled_from(["status", "location", "body"]), junk_bytes,
       st.sampled_from(["http", "trace"]))
def test_property_http_junk_never_reaches_a_log_line_raw(
        env: Env, hostile: HostileServer, kind: str, junk: bytes, source: str) -> None:
    hostile.answer, hostile.split = http_answer(kind, junk), None
    env.write_config(ipv4={"timeout": 2.0, "sources": [{"type": source,
                                                         "url": hostile.url + "/ip"}]})
    result = env.run(["update"])
    assert result.code in (0, 69)
    assert_lines_safe(result.err)


@fixture_ok
@given(st.binary(max_size=300) | st.just(b"\x1b[2J" * 20_000), st.booleans())
def test_property_command_junk_never_reaches_a_log_line_raw(
        env: Env, junk: bytes, to_stdout: bool) -> None:
    out_file = env.tmp / "said"
    out_file.write_bytes(junk)
    env.write_config(ipv4={"timeout": 2.0, "sources": [
        command_printing(out_file, to_stdout, 0 if to_stdout else 3)]})
    result = env.run(["update"])
    assert result.code in (0, 69)
    assert_lines_safe(result.err)


class TxtResponder(socketserver.ThreadingUDPServer):
    """A DNS server that answers every TXT question with `self.txt`."""

    txt = b""

    def __init__(self) -> None:
        responder = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                qid = struct.unpack("!H", data[:2])[0]
                end = data.index(b"\x00", 12) + 5
                rdata = b"".join(bytes([len(part)]) + part for part in
                                 [responder.txt[i:i + 255] for i in
                                  range(0, len(responder.txt), 255)] or [b""])
                answer = (struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + data[12:end]
                          + b"\xc0\x0c" + struct.pack("!HHIH", 16, 3, 60, len(rdata)) + rdata)
                sock.sendto(answer[:4096], self.client_address)

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]


@pytest.fixture(scope="module")
def txt_server() -> Iterator[TxtResponder]:
    server = TxtResponder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@fixture_ok
@given(st.binary(max_size=1000))
def test_property_dns_txt_junk_never_reaches_a_log_line_raw(
        env: Env, txt_server: TxtResponder, junk: bytes) -> None:
    txt_server.txt = junk
    env.write_config(ipv4={"timeout": 2.0, "sources": [{
        "type": "dns", "server": "127.0.0.1", "port": txt_server.port,
        "name": "whoami.cloudflare", "rrtype": "TXT", "rrclass": "CH"}]})
    result = env.run(["update"])
    assert result.code in (0, 69)
    assert_lines_safe(result.err)


def test_dns_helpers_agree(txt_server: TxtResponder) -> None:
    """The responder speaks real DNS: pi-ddns's own query gets the TXT back."""
    from pi_ddns.config import DnsSource
    from pi_ddns.detect import parse_address

    txt_server.txt = b"81.2.69.160"
    source = DnsSource(parse_address("127.0.0.1", 4, allow_nonglobal=True), "whoami.cloudflare",
                       "TXT", "CH", txt_server.port)
    assert dnsquery.query(source, 2.0) == ["81.2.69.160"]
    assert socket.AF_INET  # loopback only
