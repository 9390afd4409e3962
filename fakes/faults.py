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
    """Cloudflare's global API limit: `limit` requests per `window` seconds (1200 per 300 s per
    user, across all tokens: developers.cloudflare.com/fundamentals/api/reference/limits).

    Fixed windows, the first starting at the first request. Over the limit, a request gets 429
    with `Retry-After` (whole seconds, rounded up, until capacity returns) and the error 971
    "Please wait and consider throttling your request speed". The docs also say "all API calls
    for the next five minutes will be blocked": `block=True` models that reading (every call is
    refused for `window` seconds from the first refusal, then a new window starts); by default
    the block ends with the window. Every answer carries the documented `Ratelimit` and
    `Ratelimit-Policy` headers.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float],
                 block: bool = False) -> None:
        self.limit, self.window, self.clock, self.block = limit, window, clock, block
        self.start: float | None = None
        self.count = 0  # requests let through in the current window
        self.blocked_until: float | None = None
        self.rejected = 0
        self.peak = 0  # the most requests let through in one window

    def check(self) -> float | None:
        """Count one request; return the seconds to wait when it is refused."""
        now = self.clock()
        if self.blocked_until is not None:
            if now < self.blocked_until:
                self.rejected += 1
                return max(1.0, math.ceil(self.blocked_until - now))
            self.blocked_until, self.start = None, None
        if self.start is None or now - self.start >= self.window:
            self.start, self.count = now, 0
        if self.count < self.limit:
            self.count += 1
            self.peak = max(self.peak, self.count)
            return None
        self.rejected += 1
        end = now + self.window if self.block else self.start + self.window
        if self.block:
            self.blocked_until = end
        return max(1.0, math.ceil(end - now))

    def headers(self) -> dict[str, str]:
        """`Ratelimit: "default";r=<left>;t=<seconds to the reset>` and the policy."""
        now = self.clock()
        if self.blocked_until is not None and now < self.blocked_until:
            end, left = self.blocked_until, 0
        else:
            end = (now if self.start is None else self.start) + self.window
            left = self.limit - self.count
        return {"Ratelimit": f'"default";r={max(0, left)};t={max(0, math.ceil(end - now))}',
                "Ratelimit-Policy": f'"default";q={self.limit};w={self.window:g}'}

    def response(self, wait: float) -> tuple[int, dict[str, str], bytes]:
        body = {"success": False, "errors": [{"code": 971, "message": "Please wait and consider "
                                              "throttling your request speed"}],
                "messages": [], "result": None}
        headers = {"Retry-After": str(int(wait)), "Content-Type": "application/json",
                   **self.headers()}
        return 429, headers, json.dumps(body).encode()
