"""The HTTP request handler: routes /client/v4 (API), the echo endpoints and /_fake (control)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import traceback
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from fakes import api, control, echo
from fakes.cloudflare import API_PREFIX

if TYPE_CHECKING:
    from fakes.server import FakeCloudflare

_VERBOSE = bool(os.environ.get("FAKES_VERBOSE"))
INVALID_JSON = object()  # a body that is not JSON
_AUTH_HEADERS = ("Authorization", "X-Auth-Key", "X-Auth-Email", "X-Auth-User-Service-Key")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx and the SDK expect
    # headers and body go out in two writes; without TCP_NODELAY, Nagle plus the client's
    # delayed ACK cost 40 ms per keep-alive request
    disable_nagle_algorithm = True
    server_version = "fake-cloudflare/1"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        if _VERBOSE:
            sys.stderr.write("fake: " + format % args + "\n")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    @property
    def fake(self) -> FakeCloudflare:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def _dispatch(self, method: str) -> None:
        self._extra: dict[str, str] = {}  # headers for every answer to this request
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            if url.path == API_PREFIX or url.path.startswith(API_PREFIX + "/"):
                self._api(method, url.path, query, raw)
            elif url.path in echo.ENDPOINTS and method == "GET":
                self._echo(url.path)
            elif url.path.startswith("/_fake/"):
                body = _parse(raw)
                if body is INVALID_JSON:
                    self._send(400, {"error": "body is not JSON"})
                    return
                status, obj = control.handle(self.fake, method, url.path, query, body)
                self._send(status, obj)
            else:
                self._send_raw(404, {"Content-Type": "text/plain"}, b"not found\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests): nothing to answer
        except Exception as err:  # noqa: BLE001 - a bug in the fake must show, not drop the connection
            traceback.print_exc()
            self._send_raw(500, {"Content-Type": "text/plain"}, f"fake error: {err!r}\n".encode())

    # ---- API ----------------------------------------------------------------------------
    def _api(self, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
        fake = self.fake
        rel = path[len(API_PREFIX):] or "/"
        body = _parse(raw)
        auth = self.headers.get("Authorization")
        token = auth.partition(" ")[2].strip() if auth else None
        entry: dict[str, Any] = {
            "method": method, "path": path, "query": query,
            "body": None if body is INVALID_JSON else body, "raw_body": raw.decode("utf-8", "replace")
            if body is INVALID_JSON else None, "status": None, "fault": None,
            "token": "<redacted>" if auth else None, "token_known": token in fake.state.tokens,
            # tells the callers of one fake apart (a fleet of Pis) without logging a token
            "token_hash": hashlib.sha256(token.encode()).hexdigest()[:12] if token else None,
            "time": fake.now(), "user_agent": self.headers.get("User-Agent"),
            "auth_headers": [h for h in _AUTH_HEADERS if h in self.headers],
        }
        legacy = "X-Auth-Key" in self.headers or "X-Auth-Email" in self.headers
        with fake.lock:
            fake.request_log.append(entry)
            if fake.spec is not None:
                self._violations("request", fake.spec.check_request(method, rel, query, body, raw))
            wait = self._limit()
            fault = next((f for f in fake.faults if f.matches(method, path)), None)
            if wait is None and fault is not None:
                fault.hits += 1
        if wait is not None:
            entry["status"] = 429
            entry["fault"] = "rate-limit"
            self._send_raw(*fake.limiter.response(wait) if fake.limiter else (429, {}, b""))
            return
        if fault is not None and not fault.after_apply:
            fake.sleep(fault.delay)
            canned = fault.response()
            if canned is not None:
                entry["status"], entry["fault"] = canned[0], fault.id
                self._send_raw(*canned)
                return
        with fake.lock:
            status, payload = api.handle(fake.state, method, rel, query, body, auth, legacy)
            if method != "GET" and status == 200:
                fake.save()
            if fake.spec is not None:
                self._violations("response", fake.spec.check_response(method, rel, status, payload))
        entry["status"] = status
        if fault is not None and fault.mutate is not None:
            entry["fault"] = fault.id
            # a copy: the answer's records are the fake's own objects
            changed = fault.mutate(status, json.loads(json.dumps(payload)))
            if isinstance(changed, tuple):  # (status, answer): another status too
                status, changed = changed
                entry["status"] = status
            if isinstance(changed, bytes):
                self._send_raw(status, {"Content-Type": "application/json"}, changed)
                return
            payload = changed
        if fault is not None and fault.after_apply:
            entry["fault"] = fault.id
            fake.sleep(fault.delay)
            canned = fault.response()
            if canned is not None:
                entry["status"] = canned[0]
                self._send_raw(*canned)
                return
        self._send(status, payload)

    def _limit(self) -> float | None:
        """The rate limiter's verdict (seconds to wait, or None); its headers go on the answer."""
        limiter = self.fake.limiter
        if limiter is None:
            return None
        wait = limiter.check()
        self._extra = limiter.headers()
        return wait

    def _violations(self, kind: str, problems: list[str]) -> None:
        for p in problems:
            self.fake.spec_violations.append({"kind": kind, "method": self.command,
                                              "path": self.path, "problem": p})

    # ---- echo ---------------------------------------------------------------------------
    def _echo(self, path: str) -> None:
        fake = self.fake
        with fake.lock:
            fake.echo_hits[path] += 1
            ov = fake.echo_overrides.get(path)
            if ov is not None and ov.times is not None and ov.hits >= ov.times:
                ov = None
            if ov is not None:
                ov.hits += 1
            addresses = dict(fake.addresses)
        host = self.headers.get("Host", "")
        status, text = echo.normal_answer(path, addresses, host, self.headers.get("User-Agent", ""))
        headers = {"Content-Type": "text/plain", "Cache-Control": "no-cache"}
        if ov is not None:
            fake.sleep(ov.delay)
            if ov.redirect:
                code = ov.status if 300 <= ov.status < 400 else 302
                self._send_raw(code, {"Location": ov.redirect, "Content-Type": "text/plain"}, b"")
                return
            status = ov.status
            text = ov.body if ov.body is not None else text
            headers = {"Content-Type": ov.content_type, **ov.headers}
        self._send_raw(status, headers, text.encode())

    # ---- output -------------------------------------------------------------------------
    def _send(self, status: int, obj: Any) -> None:
        self._send_raw(status, {"Content-Type": "application/json"}, json.dumps(obj).encode())

    def _send_raw(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in {**getattr(self, "_extra", {}), **headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


def _parse(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return INVALID_JSON
