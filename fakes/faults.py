"""Fault rules and the optional rate limiter of the fake API."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

_DEFAULT_ERRORS = {
    401: (10000, "Authentication error"),
    403: (10000, "Authentication error"),
    404: (7003, "Could not route to that URI, perhaps your object identifier is invalid?"),
    429: (971, "Please wait and consider throttling your request speed"),
}


@dataclass
class Fault:
    """One rule.  Matches `method` (regex, "*" or "" = any) and `path` (regex searched in the full
    request path, e.g. "/dns_records$").  Then, for `times` matching requests (None = forever):

    - waits `delay` seconds (a hang when it exceeds the client's timeout);
    - answers `status` with a Cloudflare error envelope (`code`, `message`), or the raw `body`
      as-is (with `content_type`), plus `Retry-After` when `retry_after` is set.
      With neither status nor body the real answer is sent after the delay (a slow answer).
    - `after_apply`: the real request is performed first (a POST creates the record), and the
      delay and fault come after, so the client sees a timeout or an error for a done write.
    """

    method: str = "*"
    path: str = ".*"
    status: int | None = None
    code: int | None = None
    message: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    body: str | None = None
    content_type: str | None = None
    times: int | None = None
    after_apply: bool = False
    hits: int = 0
    id: int = 0
    _rx: Any = field(default=None, repr=False, compare=False)
    # in-process only (FakeCloudflare.add_fault): rewrites the real answer; see there
    mutate: Any = field(default=None, repr=False, compare=False)

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method not in ("*", "") and not re.fullmatch(self.method, method, re.IGNORECASE):
            return False
        if self._rx is None:
            self._rx = re.compile(self.path)
        return bool(self._rx.search(path))

    def response(self) -> tuple[int, dict[str, str], bytes] | None:
        """The answer this fault sends, or None for "send the real answer (after the delay)"."""
        status = self.status or (200 if self.body is not None else (500 if self.code else None))
        if status is None:
            return None
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            ra = self.retry_after
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
        if self.body is not None:
            headers["Content-Type"] = self.content_type or "text/html; charset=utf-8"
            return status, headers, self.body.encode()
        code, msg = _DEFAULT_ERRORS.get(status, (10001 if status >= 500 else 1000, "Internal error"))
        payload = {"success": False, "errors": [{"code": self.code or code, "message": self.message or msg}],
                   "messages": [], "result": None}
        headers["Content-Type"] = self.content_type or "application/json"
        return status, headers, json.dumps(payload).encode()

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_") and k != "mutate"}


def fault_from_json(data: dict[str, Any]) -> Fault:
    known = {k for k in Fault.__dataclass_fields__
             if not k.startswith("_") and k not in ("hits", "id", "mutate")}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown fault keys: {sorted(unknown)}; known: {sorted(known)}")
    fault = Fault(**data)
    try:
        re.compile(fault.path)
        re.compile(fault.method if fault.method not in ("*", "") else "")
    except re.error as err:
        raise ValueError(f"bad regex in fault rule: {err}") from None
    return fault


class RateLimiter:
    """Fixed windows: `limit` requests per `window` seconds, then 429 until the window ends.
    Cloudflare's default is 1200 per 300 s per token."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self.start: float | None = None
        self.count = 0
        self.rejected = 0

    def check(self) -> float | None:
        """Count one request; return the seconds to wait when it is over the limit."""
        now = self.clock()
        if self.start is None or now - self.start >= self.window:
            self.start, self.count = now, 0
        self.count += 1
        if self.count <= self.limit:
            return None
        self.rejected += 1
        return max(1.0, math.ceil(self.start + self.window - now))

    @staticmethod
    def response(wait: float) -> tuple[int, dict[str, str], bytes]:
        body = {"success": False, "errors": [{"code": 971, "message": "Please wait and consider "
                                              "throttling your request speed"}],
                "messages": [], "result": None}
        return 429, {"Retry-After": str(int(wait)), "Content-Type": "application/json"}, \
            json.dumps(body).encode()
