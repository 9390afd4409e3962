"""Issue 15: the healthcheck ping in each service's own form, against loopback fakes of each.

Healthchecks (healthchecks.io/docs): success is the ping URL, failure `<url>/<exit-status>`
(0 success, 1..255 failure; `/fail` also works), `<url>/start` starts the timer; the query
(`?rid=`, `?create=1`) stays after the path. Uptime Kuma push: `/api/push/<token>?status=up|down
&msg=...&ping=`: status and msg are set, every other parameter kept.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import IP1, Env
from pi_ddns import healthcheck, report


class Monitor:
    """A fake of both services: records every request; answers like the real one."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        monitor = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                monitor.got.append({"method": self.command, "target": self.path, "body": body})
                path = urlsplit(self.path).path
                if path.startswith("/api/push/"):  # Uptime Kuma answers JSON
                    payload = b'{"ok":true}'
                    kind = "application/json"
                else:  # Healthchecks answers a short "OK"
                    payload, kind = b"OK", "text/plain"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last(self) -> dict[str, Any]:
        return self.got[-1]


@pytest.fixture(scope="module")
def monitor() -> Iterator[Monitor]:
    m = Monitor()
    yield m
    m.server.shutdown()
    m.server.server_close()


UUID = "5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278"


@pytest.mark.parametrize(("path", "code", "sent"), [
    (f"/{UUID}", 0, f"/{UUID}"),
    (f"/{UUID}", 69, f"/{UUID}/69"),
    (f"/{UUID}/", 75, f"/{UUID}/75"),
    (f"/{UUID}?rid=abc", 78, f"/{UUID}/78?rid=abc"),
    (f"/{UUID}?rid=abc", 0, f"/{UUID}?rid=abc"),
    ("/ping/key123/pi-ddns?create=1", 70, "/ping/key123/pi-ddns/70?create=1"),
    (f"/{UUID}", 256, f"/{UUID}/1"),  # beyond 255: still a failure
])
def test_healthchecks_forms(monitor: Monitor, path: str, code: int, sent: str) -> None:
    healthcheck.ping(monitor.url + path, code, "no change")
    got = monitor.last()
    assert (got["method"], got["target"], got["body"]) == ("POST", sent, "no change")


def test_healthchecks_start(monitor: Monitor) -> None:
    healthcheck.start(monitor.url + f"/{UUID}?rid=r1")
    assert monitor.last()["target"] == f"/{UUID}/start?rid=r1"


@pytest.mark.parametrize(("query", "code", "want"), [
    ("?status=up&msg=OK&ping=", 0, [("status", "up"), ("msg", "all fine"), ("ping", "")]),
    ("?status=up&msg=OK&ping=", 69, [("status", "down"), ("msg", "all fine"), ("ping", "")]),
    ("", 75, [("status", "down"), ("msg", "all fine")]),
    ("?ping=12&extra=a%20b", 0, [("status", "up"), ("msg", "all fine"), ("ping", "12"),
                                 ("extra", "a b")]),
])
def test_uptime_kuma_forms(monitor: Monitor, query: str, code: int,
                           want: list[tuple[str, str]]) -> None:
    healthcheck.ping(monitor.url + "/api/push/abcDEF123" + query, code, "all fine")
    got = monitor.last()
    parts = urlsplit(got["target"])
    assert got["method"] == "GET"
    assert parts.path == "/api/push/abcDEF123"
    assert parse_qsl(parts.query, keep_blank_values=True) == want
    assert "/fail" not in got["target"]  # the old bug: ...?status=up/fail


@given(st.lists(st.tuples(st.text("abcxyz_", min_size=1, max_size=6),
                          st.text(max_size=10)), max_size=4),
       st.text(max_size=80), st.integers(0, 255))
def test_property_kuma_keeps_every_other_parameter(params: list[tuple[str, str]], msg: str,
                                                   code: int) -> None:
    from urllib.parse import urlencode

    url = "https://kuma.example/api/push/T0k?" + urlencode(params)
    built = urlsplit(healthcheck.kuma_url(url, code == 0, msg))
    got = parse_qsl(built.query, keep_blank_values=True)
    assert got[:2] == [("status", "up" if code == 0 else "down"), ("msg", msg)]
    assert got[2:] == [(k, v) for k, v in params if k not in ("status", "msg")]
    assert built.path == "/api/push/T0k"


@given(st.text("abc/-_", max_size=20), st.text("a=&b1", max_size=12), st.integers(1, 255))
def test_property_healthchecks_suffix_goes_on_the_path(path: str, query: str,
                                                       code: int) -> None:
    url = f"https://hc-ping.example/{path}" + (f"?{query}" if query else "")
    built = urlsplit(healthcheck.healthchecks_url(url, str(code)))
    assert built.path.endswith(f"/{code}")
    assert "//" not in built.path.removeprefix("/") or "//" in path
    assert built.query == urlsplit(url).query


def test_a_failed_run_pings_the_failure_form_end_to_end(env: Env, monitor: Monitor) -> None:
    env.fake.set_echo("/ip", body="10.0.0.1")
    env.write_config(healthcheck_url=monitor.url + "/api/push/abc?status=up&msg=OK&ping=")
    assert env.run(["update"]).code == 69
    query = dict(parse_qsl(urlsplit(monitor.last()["target"]).query))
    assert query["status"] == "down"
    assert "no acceptable IPv4 address" in query["msg"]
    env.fake.set_ip(ipv4=IP1)
    env.write_config(healthcheck_url=monitor.url + f"/{UUID}")
    assert env.run(["update"]).code == 0
    assert monitor.last()["target"] == f"/{UUID}"


def test_the_ping_never_carries_the_token(monitor: Monitor) -> None:
    report.setup()
    secret = "tok-0123456789abcdefghijklmnopqrstuvwxyz"
    report.hide(secret)
    healthcheck.ping(monitor.url + f"/{UUID}", 69, f"said {secret}\x1b[2J")
    assert secret not in monitor.last()["body"]
    healthcheck.ping(monitor.url + "/api/push/abc", 69, f"said {secret}")
    assert secret not in monitor.last()["target"]


def test_an_unreachable_monitor_is_one_warning(capsys: pytest.CaptureFixture[str]) -> None:
    report.setup()
    healthcheck.ping("http://127.0.0.1:9/x", 0, "ok", timeout=1.0)
    err = capsys.readouterr().err
    assert err.startswith("pi-ddns: warning: healthcheck ping 127.0.0.1: ")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("suffix", ["fail", "start", "0", "75"])
def test_healthchecks_suffixes_reach_the_fake(monitor: Monitor, suffix: str) -> None:
    """Every documented suffix lands on the path, before the query (`/fail` is built the same
    way; pi-ddns sends the exit-code form because Healthchecks then shows the code)."""
    url = healthcheck.healthchecks_url(monitor.url + f"/{UUID}/?rid=9", suffix)
    healthcheck._send("POST", url, b"x", 2.0)
    assert monitor.last()["target"] == f"/{UUID}/{suffix}?rid=9"
