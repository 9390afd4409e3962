"""Routing and validation of /client/v4 requests against a CloudflareState."""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any

from fakes.cloudflare import (
    _HEX32,
    ApiError,
    CloudflareState,
    Json,
    envelope,
    now_iso,
    paginate,
)

_WRITABLE = ("name", "type", "content", "ttl", "proxied", "comment", "tags", "settings")
_NAME_FILTERS = ("name", "name.exact", "name.contains", "name.startswith", "name.endswith")


def handle(state: CloudflareState, method: str, path: str, query: dict[str, str], body: Any,  # noqa: PLR0917
           auth: str | None, legacy_auth: bool = False) -> tuple[int, Json]:
    """Answer one API call; `path` is relative to /client/v4.  Mutates `state`.
    `legacy_auth`: X-Auth-Key/X-Auth-Email were sent; the fake knows no global API key, so they
    fail the way a stray CLOUDFLARE_API_KEY does against the real API."""
    parts = [p for p in path.split("/") if p]
    try:
        if legacy_auth:
            raise ApiError(400, 6003, "Invalid request headers",
                           (6102, "Invalid format for X-Auth-Email header"),
                           (6103, "Invalid format for X-Auth-Key header"))
        if parts == ["zones"]:
            _allow(method, "GET")
            return 200, list_zones(state, query, auth)
        if len(parts) >= 2 and parts[0] == "zones":
            zone = _zone(state, parts[1], path)
            if len(parts) == 2:
                _allow(method, "GET")
                state.authorize(auth, "zone:read", zone)
                return 200, envelope(state.public_zone(zone))
            if parts[2] == "dns_records" and len(parts) == 3:
                _allow(method, "GET", "POST")
                if method == "GET":
                    state.authorize(auth, "dns:read", zone)
                    return 200, list_records(state, zone, query)
                state.authorize(auth, "dns:edit", zone)
                return 200, envelope(create_record(state, zone, body))
            if parts[2] == "dns_records" and len(parts) == 4:
                _allow(method, "GET", "PUT", "PATCH", "DELETE")
                state.authorize(auth, "dns:read" if method == "GET" else "dns:edit", zone)
                return 200, envelope(record_op(state, zone, method, parts[3], body))
        raise ApiError(400, 7003, f"Could not route to /client/v4{path}, perhaps your object "
                       "identifier is invalid?")
    except ApiError as err:
        if err.errors[0]["code"] == 7003:  # the real API adds the generic route error
            err.errors.append({"code": 7000, "message": "No route for that URI"})
        return err.status, err.payload()


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise ApiError(405, 7001, f"Method {method} not available for that URI.")  # code guessed


def _zone(state: CloudflareState, zid: str, path: str) -> Json:
    zone = state.zones.get(zid) if _HEX32.match(zid) else None
    if zone is None:
        raise ApiError(400, 7003, f"Could not route to /client/v4{path}, perhaps your object "
                       "identifier is invalid?")
    return zone


def list_zones(state: CloudflareState, query: dict[str, str], auth: str | None) -> Json:
    state.authorize(auth, "zone:read")
    allowed = state.token_zones(str(auth))
    zones = [z for z in state.zones.values() if allowed is None or z["name"] in allowed]
    if "name" in query:
        zones = [z for z in zones if z["name"] == query["name"].lower().rstrip(".")]
    if "status" in query:
        zones = [z for z in zones if z["status"] == query["status"]]
    zones.sort(key=lambda z: str(z["name"]))
    return paginate([state.public_zone(z) for z in zones], query, 20, 5, 50)


def _match(value: str | None, op: str, want: str) -> bool:
    v, w = (value or "").lower(), want.lower()
    return {"exact": v == w, "contains": w in v, "startswith": v.startswith(w),
            "endswith": v.endswith(w)}[op]


def list_records(state: CloudflareState, zone: Json, query: dict[str, str]) -> Json:
    recs = [r for r in state.records.values() if r["zone_id"] == zone["id"]]
    for key, want in query.items():
        field, _, op = key.partition(".")
        if field == "name" and key in _NAME_FILTERS:
            full = state._fqdn(zone, want) if op in ("", "exact") else want
            recs = [r for r in recs if _match(r["name"], op or "exact", full)]
        elif key == "type":
            recs = [r for r in recs if r["type"] == want.upper()]
        elif field in ("content", "comment") and op in ("", "exact", "contains", "startswith", "endswith"):
            recs = [r for r in recs if _match(r.get(field), op or "exact", want)]
        elif key == "comment.present":
            recs = [r for r in recs if r.get("comment")]
        elif key == "comment.absent":
            recs = [r for r in recs if not r.get("comment")]
        elif key == "proxied":
            recs = [r for r in recs if r["proxied"] == (want.lower() == "true")]
    order = query.get("order", state.default_order)
    if order in ("type", "name", "content", "ttl", "proxied", "created_on"):
        recs.sort(key=lambda r: (str(r[order]), str(r["name"]), str(r["created_on"])),
                  reverse=query.get("direction") == "desc")
    return paginate(recs, query, 100, 1, 5_000_000)


def _validate(state: CloudflareState, zone: Json, rec: Json, ignore_id: str | None) -> None:
    """Check one record as it would be stored; raise the real API's error."""
    rtype = str(rec.get("type") or "").upper()
    if not rtype:
        raise ApiError(400, 1004, "DNS Validation Error", (9000, "DNS record type is invalid."))  # guessed
    if not isinstance(rec.get("name"), str) or not rec["name"]:
        raise ApiError(400, 1004, "DNS Validation Error", (9007, "DNS name is invalid."))  # guessed
    content = rec.get("content")
    if not isinstance(content, str) or not content:
        raise ApiError(400, 1004, "DNS Validation Error", (9008, "DNS content is required."))  # guessed
    if rtype in ("A", "AAAA"):
        family = 4 if rtype == "A" else 6
        try:
            ok = ipaddress.ip_address(content).version == family
        except ValueError:
            ok = False
        if not ok:
            raise ApiError(400, 9005, f"Content for {rtype} record must be a valid "
                           f"IPv{family} address.")
    ttl = rec.get("ttl", 1)
    min_ttl = int(zone.get("min_ttl", 60))
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not (ttl == 1 or min_ttl <= ttl <= 86400):
        raise ApiError(400, 1004, "DNS Validation Error", (9021, (f"Invalid TTL. Must be between "
                       f" {min_ttl} and 86400 seconds, or 1 for automatic.")))
    if "proxied" in rec and not isinstance(rec["proxied"], bool):
        raise ApiError(400, 9003, "Invalid 'proxied' value, must be a boolean")  # code guessed
    if rec.get("comment") is not None and not isinstance(rec["comment"], str):
        raise ApiError(400, 9102, "Invalid 'comment' value, must be a string or null")  # guessed
    tags = rec.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and ":" in t for t in tags):
        raise ApiError(400, 9203, "Invalid 'tags', each tag must be of the form name:value")  # guessed
    name = state._fqdn(zone, rec["name"])
    for other in state.records.values():
        if other["zone_id"] != zone["id"] or other["id"] == ignore_id or other["name"] != name:
            continue
        if other["type"] == rtype and str(other["content"]).lower() == content.lower():
            msg = ("Record already exists." if state.duplicate_code == 81057
                   else "An identical record already exists.")
            raise ApiError(400, state.duplicate_code, msg)
        if rtype == "CNAME" and other["type"] in ("A", "AAAA", "CNAME"):
            raise ApiError(400, 81053, "An A, AAAA, or CNAME record with that host already exists.")
        if rtype in ("A", "AAAA") and other["type"] == "CNAME":
            raise ApiError(400, 81054, "A CNAME record with that host already exists.")


def _body(body: Any) -> Json:
    if not isinstance(body, dict):
        raise ApiError(400, 9207, "Request body is invalid.")  # code guessed
    return body


def _normalized(state: CloudflareState, rec: Json, sent: Json) -> Json:
    """`sent`: the fields of the request; the TTL rule applies when it sets ttl or proxied."""
    if rec.get("proxied") is True and state.proxied_ttl_auto and ("ttl" in sent or "proxied" in sent):
        rec["ttl"] = 1  # Cloudflare stores TTL "auto" for proxied records, whatever was sent
    if str(rec.get("type", "")).upper() == "AAAA":
        with contextlib.suppress(ValueError):
            rec["content"] = str(ipaddress.IPv6Address(rec["content"]))
    return rec


def create_record(state: CloudflareState, zone: Json, body: Any) -> Json:
    fields = {k: v for k, v in _body(body).items() if k in _WRITABLE}
    _validate(state, zone, fields, None)
    rec = state._new_record(zone, _normalized(state, fields, fields))
    state.records[rec["id"]] = rec
    return rec


def record_op(state: CloudflareState, zone: Json, method: str, rid: str, body: Any) -> Json:
    rec = state.records.get(rid)
    if rec is None or rec["zone_id"] != zone["id"]:
        raise ApiError(404, 81044, "Record does not exist.")
    if method == "GET":
        return rec
    if method == "DELETE":
        del state.records[rid]
        return {"id": rid}
    fields = {k: v for k, v in _body(body).items() if k in _WRITABLE}
    if method == "PUT":
        merged = {"ttl": 1, "proxied": False, "comment": None, "tags": [], "settings": {}, **fields}
    else:
        merged = {**{k: rec[k] for k in _WRITABLE}, **fields}
    _validate(state, zone, merged, rid)
    merged = _normalized(state, merged, fields)
    ts = now_iso()
    if merged.get("comment") != rec.get("comment"):
        rec["comment_modified_on"] = ts
    rec.update({k: merged[k] for k in _WRITABLE if k in merged})
    rec["name"] = state._fqdn(zone, str(rec["name"]))
    rec["type"] = str(rec["type"]).upper()
    rec["proxiable"] = rec["type"] in ("A", "AAAA", "CNAME")
    rec["modified_on"] = ts
    return rec
