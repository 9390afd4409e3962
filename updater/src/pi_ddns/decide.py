"""Pure decisions: from the wanted address and what Cloudflare holds, what to do. No I/O.

Rules: never delete; never touch a record without the ownership marker unless `adopt`; two
records of the same name and type, or a CNAME at the name, stop the run for a human; keep
proxied, TTL, tags and comment unless the config sets them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import NewType

from pi_ddns.errors import ConflictError
from pi_ddns.state import canonical_name, has_marker

RecordId = NewType("RecordId", str)
ZoneId = NewType("ZoneId", str)


@dataclass(frozen=True, slots=True)
class Zone:
    """An active zone as Cloudflare reports it: its id and its authoritative nameservers."""

    id: ZoneId
    name_servers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Record:
    """A DNS record as Cloudflare reports it."""

    id: RecordId
    name: str
    type: str
    content: str
    ttl: int
    proxied: bool
    comment: str | None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Wanted:
    """What the config asks for one name and type."""

    name: str
    type: str  # A or AAAA
    content: str
    marker: str
    adopt: bool
    ttl: int | None = None
    proxied: bool | None = None
    comment: str | None = None  # the whole comment the config sets (with the marker)
    zone: str = ""

    @property
    def key(self) -> str:
        return f"{self.type} {self.name}"


@dataclass(frozen=True, slots=True)
class Noop:
    record: Record


@dataclass(frozen=True, slots=True)
class Create:
    name: str
    type: str
    content: str
    comment: str
    ttl: int | None
    proxied: bool | None


@dataclass(frozen=True, slots=True)
class Update:
    """PATCH only the fields that are not None."""

    record: Record
    content: str
    comment: str | None = None
    ttl: int | None = None
    proxied: bool | None = None
    adopts: bool = False  # the record lacked the marker: this write takes it over


Action = Noop | Create | Update


def same_address(a: str, b: str) -> bool:
    """Compare as addresses, so 2a01:4f8::1 equals its expanded spelling."""
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def owned(record: Record, marker: str) -> bool:
    """The marker as a whole token: `not-managed-by: pi-ddns` is not ours."""
    return has_marker(record.comment, marker)


def adopted_comment(comment: str | None, marker: str) -> str:
    return f"{comment} {marker}" if comment else marker


def decide(wanted: Wanted, at_name: list[Record]) -> Action:
    """One action for one name+type, given every record Cloudflare has at that exact name."""
    name = canonical_name(wanted.name)
    at_name = [r for r in at_name if canonical_name(r.name) == name]
    for r in at_name:
        if r.type.upper() == "CNAME":
            raise ConflictError(f"{wanted.name} has a CNAME record ({r.id}); an {wanted.type} "
                                "record cannot exist next to it: remove the CNAME or pick "
                                "another name")
    same = [r for r in at_name if r.type.upper() == wanted.type]
    if len(same) > 1:
        ids = ", ".join(r.id for r in same)
        raise ConflictError(f"{wanted.key} has {len(same)} records ({ids}); delete all but one "
                            "in the Cloudflare dashboard")
    if not same:
        return Create(wanted.name, wanted.type, wanted.content, wanted.comment or wanted.marker,
                      wanted.ttl, wanted.proxied)
    record = same[0]
    comment = None
    adopts = not owned(record, wanted.marker)
    if adopts:
        if not wanted.adopt:
            raise ConflictError(f"{wanted.key} ({record.id}) exists without the comment marker "
                                f"{wanted.marker!r}; set adopt = true to take it over, or add "
                                "the marker to its comment")
        comment = wanted.comment or adopted_comment(record.comment, wanted.marker)
    elif wanted.comment is not None and record.comment != wanted.comment:
        comment = wanted.comment
    proxied = (wanted.proxied if wanted.proxied is not None and wanted.proxied != record.proxied
               else None)
    ttl = wanted.ttl if wanted.ttl is not None and wanted.ttl != record.ttl else None
    if record.proxied if proxied is None else proxied:
        ttl = None  # Cloudflare keeps proxied records on TTL 1 (auto): never chase it
    unchanged = (comment, ttl, proxied) == (None, None, None)
    if unchanged and same_address(record.content, wanted.content):
        return Noop(record)
    return Update(record, wanted.content, comment, ttl, proxied, adopts)


def describe(action: Action) -> str:
    """The words used in the summary line."""
    if isinstance(action, Create):
        return f"created {action.type} {action.name} {action.content}"
    r = action.record
    if isinstance(action, Noop):
        return f"unchanged {r.type} {r.name} {r.content}"
    verb = "adopted" if action.adopts else "updated"
    text = f"{verb} {r.type} {r.name} {r.content} -> {action.content}"
    if same_address(r.content, action.content):
        text = f"{verb} {r.type} {r.name} {action.content}"
    extra = [f"{k}={v}" for k, v in (("ttl", action.ttl), ("proxied", action.proxied))
             if v is not None]
    return text + (f" ({', '.join(extra)})" if extra else "")
