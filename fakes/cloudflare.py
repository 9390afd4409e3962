"""State and request logic of the fake Cloudflare v4 API (zones and dns_records).

Error codes follow what the real API answers, as reported in public issue threads:
9106 missing auth header (400), 9109 invalid token (403), 10000 permission (403),
7003/7000 bad object id (400), 81044 record missing (404), 81053/81054 CNAME clash,
81057/81058 duplicate, 9005 bad address, 1004/9021 bad TTL.  Codes marked "guessed"
below have no public source; they only need to be plausible.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime
from typing import Any

API_PREFIX = "/client/v4"
DEFAULT_TOKEN = "test-token-0123456789abcdef"  # noqa: S105 (a test token, by contract)
ALL_PERMISSIONS = ("zone:read", "dns:read", "dns:edit")
_PERM_ALIASES = {
    "zone:read": "zone:read", "#zone:read": "zone:read", "zone read": "zone:read",
    "dns:read": "dns:read", "#dns_records:read": "dns:read", "dns read": "dns:read",
    "dns:edit": "dns:edit", "#dns_records:edit": "dns:edit", "dns edit": "dns:edit",
    "dns:write": "dns:edit", "dns write": "dns:edit",
}
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_TOKEN_SYNTAX = re.compile(r"^[A-Za-z0-9_\-]+$")
Json = dict[str, Any]


class ApiError(Exception):
    """An error the fake answers with the real envelope."""

    def __init__(self, status: int, code: int, message: str, *chain: tuple[int, str]) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        error: Json = {"code": code, "message": message}
        if chain:
            error["error_chain"] = [{"code": c, "message": m} for c, m in chain]
        self.errors: list[Json] = [error]

    def payload(self) -> Json:
        return {"success": False, "errors": self.errors, "messages": [], "result": None}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    return uuid.uuid4().hex


def normalize_permissions(perms: Any) -> list[str]:
    out = []
    for p in perms:
        key = _PERM_ALIASES.get(str(p).strip().lower())
        if key is None:
            raise ValueError(f"unknown permission {p!r}; use one of {ALL_PERMISSIONS}")
        out.append(key)
    if "dns:edit" in out and "dns:read" not in out:
        out.append("dns:read")  # edit implies read, as in the dashboard
    return sorted(set(out))


def envelope(result: Any, result_info: Json | None = None) -> Json:
    body: Json = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return body


def _page_args(query: dict[str, str], default: int, lo: int, hi: int) -> tuple[int, int]:
    try:
        page = int(query.get("page", "1"))
        per_page = int(query.get("per_page", str(default)))
    except ValueError:
        # code guessed
        raise ApiError(400, 1001, "Invalid request: page and per_page must be numbers") from None
    if page < 1 or not lo <= per_page <= hi:
        raise ApiError(400, 1001, f"Invalid request: per_page must be between {lo} and {hi}, page >= 1")
    return page, per_page


def paginate(items: list[Json], query: dict[str, str], default: int, lo: int, hi: int) -> Json:
    page, per_page = _page_args(query, default, lo, hi)
    chunk = items[(page - 1) * per_page: page * per_page]
    info = {"page": page, "per_page": per_page, "count": len(chunk), "total_count": len(items),
            "total_pages": max(1, math.ceil(len(items) / per_page))}
    return envelope(chunk, info)


class CloudflareState:
    """Zones, records and tokens; every method runs under the caller's lock."""

    def __init__(self) -> None:
        self.zones: dict[str, Json] = {}
        self.records: dict[str, Json] = {}
        self.tokens: dict[str, Json] = {}
        self.duplicate_code = 81057  # set 81058 to get the newer "An identical record already exists."
        self.proxied_ttl_auto = True  # False: keep the TTL sent with proxied=true (not what Cloudflare does)
        # The order of a record list when the request names none. Cloudflare documents no
        # default; "created_on" puts the oldest records first, so a name's A record can be on
        # page 2 behind a hundred older TXT records.
        self.default_order = "type"
        # The zones' `name_servers`: IP literals of the fake's own nameserver (fakes.server sets
        # them), never real names that a client would look up through the real network.
        self.name_servers: list[str] = ["127.0.0.1"]

    # ---- persistence -------------------------------------------------------------------
    def to_json(self) -> Json:
        return {"zones": list(self.zones.values()), "records": list(self.records.values()),
                "tokens": self.tokens}

    def load_json(self, data: Json) -> None:
        self.zones = {z["id"]: z for z in data.get("zones", [])}
        self.records = {r["id"]: r for r in data.get("records", [])}
        self.tokens.update(data.get("tokens", {}))

    # ---- direct helpers (control API) --------------------------------------------------
    def zone_by_name(self, name: str, status: str | None = None) -> Json | None:
        """The zone of that name (the active one first; of `status` if given)."""
        name = name.lower().rstrip(".")
        found = [z for z in self.zones.values() if z["name"] == name
                 and (status is None or z.get("status", "active") == status)]
        found.sort(key=lambda z: z.get("status", "active") != "active")
        return found[0] if found else None

    def add_zone(self, name: str, zone_id: str | None = None, min_ttl: int = 60,
                 status: str = "active") -> Json:
        existing = self.zone_by_name(name, status)
        if existing is not None:
            return existing
        ts = now_iso()
        zid = zone_id or new_id()
        zone = {
            "id": zid, "name": name.lower().rstrip("."), "status": status, "paused": False,
            "type": "full", "development_mode": 0,
            "name_servers": list(self.name_servers),
            "original_name_servers": None, "original_registrar": None, "original_dnshost": None,
            "created_on": ts, "modified_on": ts, "activated_on": ts,
            "meta": {"step": 2, "custom_certificate_quota": 0, "page_rule_quota": 3,
                     "phishing_detected": False},
            "owner": {"id": None, "type": "user", "email": None},
            "account": {"id": "0123456789abcdef0123456789abcdef", "name": "Fake Account"},
            "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
            "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website"},
            "min_ttl": min_ttl,  # not a real field name; kept so a restart keeps it
        }
        self.zones[zid] = zone
        return zone

    def add_token(self, token: str, permissions: Any = ALL_PERMISSIONS,
                  zones: list[str] | None = None) -> None:
        self.tokens[token] = {"permissions": normalize_permissions(permissions),
                              "zones": [z.lower() for z in zones] if zones else None}

    def seed_record(self, zone: str, name: str, type: str, content: str, *, comment: str | None = None,
                    ttl: int = 1, proxied: bool = False, tags: list[str] | None = None,
                    record_id: str | None = None) -> Json:
        """Insert a record without any validation (a hand-made or conflicting record)."""
        z = self.zone_by_name(zone) or self.zones.get(zone)
        if z is None:
            raise KeyError(f"no zone {zone!r}")
        rec = self._new_record(z, {"name": name, "type": type, "content": content, "comment": comment,
                                   "ttl": ttl, "proxied": proxied, "tags": tags or []})
        if record_id:
            rec["id"] = record_id
        self.records[rec["id"]] = rec
        return rec

    def public_zone(self, zone: Json) -> Json:
        return {k: v for k, v in zone.items() if k != "min_ttl"}

    # ---- auth --------------------------------------------------------------------------
    def authorize(self, header: str | None, need: str, zone: Json | None = None) -> None:
        if not header:
            raise ApiError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not _TOKEN_SYNTAX.match(token):
            raise ApiError(400, 6003, "Invalid request headers",
                           (6111, "Invalid format for Authorization header"))
        grant = self.tokens.get(token)
        if grant is None:
            raise ApiError(403, 9109, "Invalid access token")
        if need not in grant["permissions"]:
            raise ApiError(403, 10000, "Authentication error")
        if zone is not None and grant["zones"] is not None and zone["name"] not in grant["zones"]:
            raise ApiError(403, 10000, "Authentication error")

    def token_zones(self, header: str) -> list[str] | None:
        zones: list[str] | None = self.tokens[header.partition(" ")[2].strip()]["zones"]
        return zones

    # ---- records -----------------------------------------------------------------------
    def _fqdn(self, zone: Json, name: str) -> str:
        name = name.strip().lower().rstrip(".")
        if name in ("@", ""):
            return str(zone["name"])
        if name == zone["name"] or name.endswith("." + zone["name"]):
            return name
        return f"{name}.{zone['name']}"  # the real API treats other names as relative

    def _new_record(self, zone: Json, body: Json) -> Json:
        ts = now_iso()
        rtype = str(body["type"]).upper()
        rec: Json = {
            "id": new_id(), "zone_id": zone["id"], "zone_name": zone["name"],
            "name": self._fqdn(zone, str(body["name"])), "type": rtype, "content": body["content"],
            "proxiable": rtype in ("A", "AAAA", "CNAME"), "proxied": bool(body.get("proxied", False)),
            "ttl": body.get("ttl", 1), "settings": dict(body.get("settings") or {}),
            "meta": {"auto_added": False, "managed_by_apps": False, "managed_by_argo_tunnel": False},
            "comment": body.get("comment"), "tags": list(body.get("tags") or []),
            "created_on": ts, "modified_on": ts,
        }
        if rec["comment"] is not None:
            rec["comment_modified_on"] = ts
        return rec
