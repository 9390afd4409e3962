"""The /_fake/... control endpoints (JSON in, JSON out), for tests in other processes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakes import echo

if TYPE_CHECKING:
    from fakes.server import FakeCloudflare

Result = tuple[int, Any]


def handle(fake: FakeCloudflare, method: str, path: str, query: dict[str, str], body: Any) -> Result:
    parts = [p for p in path.split("/") if p][1:]  # drop "_fake"
    key = (method, parts[0] if parts else "")
    try:
        if key == ("GET", "state"):
            return 200, fake.snapshot()
        if key == ("PUT", "ip"):
            return _put_ip(fake, body or {})
        if key == ("PUT", "echo"):
            data = dict(body or {})
            fake.set_echo(data.pop("endpoint", "*"), **data)
            return 200, {"echo": {p: echo.public(a) for p, a in fake.echo_overrides.items()}}
        if key == ("DELETE", "echo"):
            fake.clear_echo()
            return 200, {"echo": {}}
        if key == ("GET", "requests"):
            return 200, _requests(fake, query)
        if key == ("DELETE", "requests"):
            fake.clear_requests()
            return 200, {"cleared": True}
        if key == ("POST", "faults"):
            rules = body if isinstance(body, list) else [body]
            added = [fake.add_fault(**r).public() for r in rules]
            return 200, {"added": added}
        if key == ("GET", "faults"):
            return 200, {"faults": [f.public() for f in fake.faults]}
        if key == ("DELETE", "faults"):
            fake.clear_faults()
            return 200, {"faults": []}
        if key == ("POST", "tokens"):
            b = body or {}
            fake.add_token(b["token"], b.get("permissions", ["zone:read", "dns:edit"]), b.get("zones"))
            return 200, {"added": True}
        if key == ("DELETE", "tokens") and len(parts) == 2:
            fake.remove_token(parts[1])
            return 200, {"removed": True}
        if key == ("GET", "records"):
            return 200, {"records": fake.records(query.get("zone"), query.get("name"), query.get("type"))}
        if key == ("POST", "records"):
            b = dict(body or {})
            return 200, {"record": fake.seed_record(b.pop("name"), b.pop("type"), b.pop("content"),
                                                    b.pop("zone", None), **_seed_kw(b))}
        if key == ("DELETE", "records") and len(parts) == 2:
            fake.delete_record(parts[1])
            return 200, {"deleted": parts[1]}
        if key == ("POST", "zones"):
            b = body or {}
            return 200, {"zone": fake.add_zone(b["name"], b.get("id"), int(b.get("min_ttl", 60)),
                                               str(b.get("status", "active")))}
        if key == ("PUT", "dns"):
            return _put_dns(fake, body or {})
        if key in (("PUT", "ns"), ("DELETE", "ns")):
            return _ns(fake, method, body or {})
        if key == ("PUT", "rate_limit"):
            b = body or {}
            fake.rate_limit(b.get("requests"), float(b.get("window", 300)),
                            block=bool(b.get("block", False)))
            return 200, {"rate_limit": b}
        if key == ("DELETE", "rate_limit"):
            fake.rate_limit(None)
            return 200, {"rate_limit": None}
        if key == ("POST", "clock"):
            fake.advance_clock(float((body or {}).get("advance", 0)))
            return 200, {"now": fake.now()}
        if key == ("POST", "reset"):
            fake.reset_faults()
            return 200, {"reset": True}
        if key == ("GET", "spec_violations"):
            return 200, {"spec": fake.spec is not None, "violations": list(fake.spec_violations)}
        if key == ("DELETE", "spec_violations"):
            fake.spec_violations.clear()
            return 200, {"violations": []}
    except (KeyError, TypeError, ValueError) as err:
        return 400, {"error": f"{type(err).__name__}: {err}"}
    return 404, {"error": f"no control endpoint {method} {path}"}


def _put_ip(fake: FakeCloudflare, body: dict[str, Any]) -> Result:
    for family in ("ipv4", "ipv6"):
        if family in body:
            fake.set_ip(**{family: body[family]})
        if f"{family}_body" in body:  # a raw hostile body for /ip and the trace of that family
            fake.set_echo(family, body=body[f"{family}_body"],
                          content_type=body.get("content_type", "text/html; charset=utf-8"))
    return 200, {"addresses": dict(fake.addresses)}


def _put_dns(fake: FakeCloudflare, body: dict[str, Any]) -> Result:
    if fake.dns is None:
        return 409, {"error": "the DNS responder is not running"}
    fake.dns.configure(**body)
    return 200, {"dns": fake.dns.settings()}


def _ns(fake: FakeCloudflare, method: str, body: dict[str, Any]) -> Result:
    """PUT {"address": "*", "lag": 0, "stale": false, "silent": false}: one address's fault
    (replaced whole); DELETE: no faults."""
    if fake.ns is None:
        return 409, {"error": "the nameserver is not running"}
    if method == "DELETE":
        fake.ns.clear()
    else:
        fake.ns.configure(**body)
    return 200, {"ns": fake.ns.settings()}


def _requests(fake: FakeCloudflare, query: dict[str, str]) -> dict[str, Any]:
    reqs = fake.requests(query.get("method"), query.get("path"))
    return {"requests": reqs, "count": len(reqs), "echo_hits": dict(fake.echo_hits),
            "echo_count": sum(fake.echo_hits.values()), "dns_hits": fake.dns_hits,
            "ns_hits": fake.ns_hits, "ns_queries": list(fake.ns.queries) if fake.ns else []}


def _seed_kw(b: dict[str, Any]) -> dict[str, Any]:
    allowed = {"comment", "ttl", "proxied", "tags", "record_id"}
    if "id" in b:
        b["record_id"] = b.pop("id")
    unknown = set(b) - allowed
    if unknown:
        raise ValueError(f"unknown record keys {sorted(unknown)}")
    return b
