"""Fake IP echo services: Cloudflare's /cdn-cgi/trace and a plain /ip, for IPv4 and IPv6."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

# endpoint name -> (address family, kind)
ENDPOINTS = {
    "/cdn-cgi/trace": ("ipv4", "trace"),
    "/cdn-cgi/trace6": ("ipv6", "trace"),
    "/ip": ("ipv4", "ip"),
    "/ip6": ("ipv6", "ip"),
}
_GROUPS = {"*": list(ENDPOINTS), "ipv4": ["/cdn-cgi/trace", "/ip"], "ipv6": ["/cdn-cgi/trace6", "/ip6"],
           "trace": ["/cdn-cgi/trace"], "trace6": ["/cdn-cgi/trace6"], "ip": ["/ip"], "ip6": ["/ip6"]}


@dataclass
class EchoAnswer:
    """An override for one endpoint: a hostile or failing answer.  `body` None = the normal body
    (with the current address); `redirect` sends a 302 to that URL; `delay` hangs first."""

    status: int = 200
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/plain"
    delay: float = 0.0
    redirect: str | None = None
    times: int | None = None
    hits: int = 0


def endpoints_for(selector: str) -> list[str]:
    if selector in ENDPOINTS:
        return [selector]
    if selector in _GROUPS:
        return _GROUPS[selector]
    raise ValueError(f"unknown echo endpoint {selector!r}; use one of {sorted(ENDPOINTS) + sorted(_GROUPS)}")


def answer_from_json(data: dict[str, Any]) -> EchoAnswer:
    known = set(EchoAnswer.__dataclass_fields__) - {"hits"}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown echo keys: {sorted(unknown)}; known: {sorted(known)}")
    return EchoAnswer(**data)


def public(answer: EchoAnswer) -> dict[str, Any]:
    return asdict(answer)


def trace_body(ip: str, host: str, user_agent: str) -> str:
    """The shape of a real https://1.1.1.1/cdn-cgi/trace answer."""
    lines = [
        "fl=466f52", f"h={host}", f"ip={ip}", f"ts={time.time():.3f}", "visit_scheme=http",
        f"uag={user_agent}", "colo=FRA", "sliver=none", "http=http/1.1", "loc=DE", "tls=off",
        "sni=off", "warp=off", "gateway=off", "rbi=off", "kex=none",
    ]
    return "\n".join(lines) + "\n"


def normal_answer(path: str, addresses: dict[str, str | None], host: str, user_agent: str
                  ) -> tuple[int, str]:
    family, kind = ENDPOINTS[path]
    ip = addresses.get(family)
    if ip is None:
        return 404, f"no {family} address configured in the fake\n"
    if kind == "trace":
        return 200, trace_body(ip, host, user_agent)
    return 200, ip  # like api.ipify.org: the bare address, no newline
