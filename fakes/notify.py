"""A loopback receiver of pi-ddns notifications, in each service's own API shape (stdlib only).

One HTTP server, three services by path:
- `/api/push/<token>`: Uptime Kuma's push endpoint. GET with `status`, `msg`, `ping`; answers
  `{"ok":true}`, or 404 `{"ok":false,"msg":"Monitor not found or not active."}` for a token
  it does not know (when `kuma_tokens` is set).
- `/hook` (and anything under it): a generic webhook receiver; takes a JSON POST, answers 204.
- `/<topic>`: ntfy's publish endpoint (docs.ntfy.sh/publish): POST/PUT the message as the body,
  `Title`/`X-Title`, `Priority`/`X-Priority` (1-5 or min, low, default, high, urgent, max),
  `Tags`/`X-Tags`; with `ntfy_token` set, `Authorization: Bearer <token>` is required (401
  `{"code":40101,...}` otherwise). Answers 200 with the message as JSON, like ntfy.

`mode` makes every service misbehave: "ok", "hang" (read the request, never answer, until
stop()), "close" (close without an answer) or an HTTP status ("500"). Every request is
recorded in `got` (method, path, query, headers, body), whatever the mode.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_TOPIC = re.compile(r"/([-_A-Za-z0-9]{1,64})\Z")
_PRIORITIES = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "min": 1, "low": 2, "default": 3,
               "high": 4, "urgent": 5, "max": 5}


class NotifyReceiver:
    def __init__(self, *, ntfy_token: str | None = None,
                 kuma_tokens: tuple[str, ...] | None = None) -> None:
        self.got: list[dict[str, Any]] = []
        self.mode = "ok"
        self.ntfy_token = ntfy_token
        self.kuma_tokens = kuma_tokens
        self._stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                receiver.got.append({
                    "method": self.command, "path": parts.path,
                    "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body})
                mode = receiver.mode
                if mode == "hang":
                    receiver._stopping.wait(120)
                    self.close_connection = True
                    return
                if mode == "close":
                    self.close_connection = True
                    return
                if mode.isdigit():
                    self._send(int(mode), {"error": "fake failure"})
                    return
                self._route(parts.path, parts.query, body)

            def _route(self, path: str, query: str, body: bytes) -> None:
                if path.startswith("/api/push/"):
                    token = path.removeprefix("/api/push/")
                    if receiver.kuma_tokens is not None and token not in receiver.kuma_tokens:
                        self._send(404, {"ok": False, "msg": "Monitor not found or not active."})
                    else:
                        self._send(200, {"ok": True})
                elif path == "/hook" or path.startswith("/hook/"):
                    try:
                        json.loads(body)
                    except ValueError:
                        self._send(400, {"error": "not JSON"})
                        return
                    self._send(204, None)
                else:
                    self._ntfy(path, body)

            def _ntfy(self, path: str, body: bytes) -> None:
                m = _TOPIC.match(path)
                if self.command not in ("POST", "PUT") or not m:
                    self._send(404, {"code": 40401, "http": 404, "error": "page not found"})
                    return
                if receiver.ntfy_token is not None and \
                        self.headers.get("Authorization") != f"Bearer {receiver.ntfy_token}":
                    self._send(401, {"code": 40101, "http": 401, "error": "unauthorized"})
                    return
                priority = self.headers.get("X-Priority") or self.headers.get("Priority") or "3"
                if priority.lower() not in _PRIORITIES:
                    self._send(400, {"code": 40007, "http": 400, "error": "invalid priority"})
                    return
                tags = self.headers.get("X-Tags") or self.headers.get("Tags") or ""
                message = {"id": f"fake{len(receiver.got)}", "time": int(time.time()),
                           "expires": int(time.time()) + 43200, "event": "message",
                           "topic": m.group(1), "message": body.decode("utf-8", "replace"),
                           "title": self.headers.get("X-Title") or self.headers.get("Title"),
                           "priority": _PRIORITIES[priority.lower()],
                           "tags": [t for t in tags.split(",") if t]}
                self._send(200, message)

            def _send(self, status: int, payload: object) -> None:
                data = b"" if payload is None else json.dumps(payload).encode() + b"\n"
                self.send_response(status)
                if payload is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> NotifyReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def requests(self, prefix: str = "") -> list[dict[str, Any]]:
        return [r for r in self.got if r["path"].startswith(prefix)]
