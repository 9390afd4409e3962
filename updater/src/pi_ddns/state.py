"""The cache of zone and record ids: a versioned JSON file, written atomically.

A missing, corrupt, unreadable or future-version file is never fatal: it is reported and costs one
reconcile against Cloudflare. Shape (version 2):
{"version": 2, "zones": {"example.com": {"id", "name_servers": [...]}},
 "records": {"A home.example.com": {"id", "zone", "content", "changed_at", "ttl", "proxied",
 "comment"}}, "last_reconcile": ISO, "last_run": {"at", "exit_code", "message"}}

A version-1 file (one zone: `"zone": {"name", "id"}`, records without a zone) is read as the
version 2 it stands for: its zone with no name servers known, each record in that zone. It is
written back as version 2 by the next run that writes.

A record's ttl, proxied and comment are what Cloudflare held after the last write or list: a
changed setting in the config no longer matches them, so the next run reconciles (an entry
written before they were kept lacks them, and costs one reconcile too).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import Any, NamedTuple

from pi_ddns import report
from pi_ddns.errors import ConfigError, TransientError
from pi_ddns.files import read_regular

VERSION = 2
_LIMIT = 1 << 20  # a few records take a few KB


class Cached(NamedTuple):
    id: str
    content: str
    changed_at: str
    ttl: int | None = None
    proxied: bool | None = None
    comment: str | None = None
    zone: str = ""  # the zone it was found in; its id means nothing in another


class ZoneCache(NamedTuple):
    """A zone as Cloudflare reported it: its id, and its authoritative nameservers' names."""

    id: str
    name_servers: tuple[str, ...] = ()


class Change(NamedTuple):
    """A record whose content a run changed (old is None: created)."""

    name: str
    type: str
    zone: str
    old: str | None
    new: str


class LastRun(NamedTuple):
    at: str
    exit_code: int
    message: str


class State:
    """The mutable cache of one run (plain slotted class: no dataclasses on the hot path)."""

    __slots__ = ("last_reconcile", "last_run", "records", "zones")

    def __init__(self) -> None:
        self.zones: dict[str, ZoneCache] = {}
        self.records: dict[str, Cached] = {}
        self.last_reconcile: str | None = None
        self.last_run: LastRun | None = None


def canonical_name(name: str) -> str:
    """One spelling of a DNS name for every comparison: lower case, no trailing dot, IDNA."""
    name = name.strip().rstrip(".").lower()
    if not name.isascii():
        # not a name Cloudflare could hold otherwise: then it matches nothing we ask for
        with contextlib.suppress(UnicodeError):
            name = name.encode("idna").decode("ascii")
    return name


_SEPARATORS = " \t;,|"


def has_marker(comment: str | None, marker: str) -> bool:
    """The marker as a whole token of the comment: preceded and followed by its start or end,
    a space, `;`, `,` or `|`. `not-managed-by: pi-ddns` and `...pi-ddns-old` are not ours."""
    text = comment or ""
    start = text.find(marker)
    while start >= 0:
        end = start + len(marker)
        if ((start == 0 or text[start - 1] in _SEPARATORS)
                and (end == len(text) or text[end] in _SEPARATORS)):
            return True
        start = text.find(marker, start + 1)
    return False


def differences(c: Cached, content: str, ttl: int | None, proxied: bool | None,  # noqa: PLR0917
                marker: str, comment: str | None = None) -> list[str]:
    """How the cached record differs from what the config sets (content, proxied, TTL, the
    marker in the comment, the whole comment when the record's table sets one); empty when it
    is in sync. The TTL of a proxied record is Cloudflare's (automatic), never a
    difference."""
    out = []
    if c.content != content:
        out.append(f"is {c.content}, detected {content}")
    if proxied is not None and c.proxied is not proxied:
        out.append(f"proxied is {_word(c.proxied)}, config says {_word(proxied)}")
    if ttl is not None and not c.proxied and c.ttl != ttl:
        out.append(f"ttl is {_word(c.ttl)}, config says {ttl}")
    if not has_marker(c.comment, marker):
        out.append(f"comment lacks the marker {marker!r}")
    elif comment is not None and c.comment != comment:
        out.append(f"comment is {c.comment!r}, config says {comment!r}")
    return out


def _word(value: object) -> str:
    return "unknown" if value is None else str(value).lower()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def age(stamp: str | None, now: float) -> float | None:
    """Seconds since an ISO stamp, or None if it is missing or unparseable."""
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return now - when.timestamp()


class _Corrupt(Exception):
    pass


def _str(data: Any, key: str, optional: bool = False) -> Any:
    value = data.get(key) if isinstance(data, dict) else None
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise _Corrupt(f"{key} is not a string")
    return value


def _zones(data: dict[str, Any], state: State) -> str | None:
    """Read the zones into `state`; a version-1 file's one zone's name (None if it has none)."""
    if data.get("version") == 1:
        zone_data = data.get("zone")
        if zone_data is None:
            return None
        name: str = _str(zone_data, "name")
        state.zones[name] = ZoneCache(_str(zone_data, "id"))
        return name
    zones = data.get("zones", {})
    if not isinstance(zones, dict):
        raise _Corrupt("zones is not an object")
    for name, z in zones.items():
        servers = z.get("name_servers", []) if isinstance(z, dict) else None
        if not isinstance(servers, list) or not all(isinstance(n, str) for n in servers):
            raise _Corrupt(f"zones.{name}.name_servers is not a list of names")
        state.zones[name] = ZoneCache(_str(z, "id"), tuple(servers))
    return None


def _from_json(data: Any) -> State:
    if not isinstance(data, dict):
        raise _Corrupt("not a JSON object")
    version = data.get("version")
    if version not in (1, VERSION):
        if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
            raise _Corrupt(f"version {version} is newer than this pi-ddns understands")
        raise _Corrupt(f"unknown version {version!r}")
    state = State()
    run = data.get("last_run")
    if run is not None:
        code = run.get("exit_code") if isinstance(run, dict) else None
        if not isinstance(code, int) or isinstance(code, bool):
            raise _Corrupt("last_run.exit_code is not an integer")
        state.last_run = LastRun(_str(run, "at"), code, report.safe(str(run.get("message", ""))))
    v1_zone = _zones(data, state)
    if version == 1 and v1_zone is None:
        return state  # no zone cached, nor records
    records = data.get("records", {})
    if not isinstance(records, dict):
        raise _Corrupt("records is not an object")
    for key, r in records.items():
        if not isinstance(r, dict):
            raise _Corrupt(f"records.{key} is not an object")
        ttl, proxied, comment = r.get("ttl"), r.get("proxied"), r.get("comment")
        if not (ttl is None or (isinstance(ttl, int) and not isinstance(ttl, bool))) \
                or not isinstance(proxied, bool | None) or not isinstance(comment, str | None):
            raise _Corrupt(f"records.{key}: ttl, proxied or comment of the wrong type")
        zone = v1_zone or _str(r, "zone")
        if zone not in state.zones:
            raise _Corrupt(f"records.{key}: zone {zone!r} is not among the zones")
        state.records[key] = Cached(_str(r, "id"), _str(r, "content"), _str(r, "changed_at"),
                                    ttl, proxied, comment, zone)
    state.last_reconcile = _str(data, "last_reconcile", optional=True)
    return state


def load(path: Path) -> State:
    """The cached state; an empty State (and a warning) when it cannot be trusted. (A cached
    record counts only in the zone the config puts it in: update and status compare.)"""
    try:
        raw = read_regular(path, _LIMIT)  # a FIFO or /dev/zero planted here: refused at once
    except FileNotFoundError:
        report.info(f"{path}: no state yet; reconciling with Cloudflare")
        return State()
    except OSError as e:
        report.warning(f"{path}: cannot read the state ({e.strerror or e}); reconciling with "
                       "Cloudflare")
        return State()
    try:
        return _from_json(json.loads(raw))
    except (ValueError, _Corrupt) as e:
        report.warning(f"{path}: ignoring the state file ({e}); reconciling with Cloudflare")
        return State()


def to_json(state: State) -> dict[str, Any]:
    data: dict[str, Any] = {"version": VERSION}
    if state.zones:
        data["zones"] = {name: {"id": z.id, "name_servers": list(z.name_servers)}
                         for name, z in sorted(state.zones.items())}
        data["records"] = {
            key: {"id": c.id, "zone": c.zone, "content": c.content, "changed_at": c.changed_at,
                  "ttl": c.ttl, "proxied": c.proxied, "comment": c.comment}
            for key, c in sorted(state.records.items()) if c.zone in state.zones
        }
    if state.last_reconcile:
        data["last_reconcile"] = state.last_reconcile
    if state.last_run:
        run = state.last_run
        data["last_run"] = {"at": run.at, "exit_code": run.exit_code,
                            "message": report.safe(run.message)}
    return data


def save(path: Path, state: State) -> None:
    """Atomic replace: temp file in the same directory, flush, fsync, rename, fsync the dir."""
    text = json.dumps(to_json(state), indent=1) + "\n"
    # A fresh random name, created exclusively and never through a symlink: a link or FIFO
    # planted in the directory is refused (EEXIST/ELOOP), never followed or written through.
    tmp = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)  # ours: created exclusively above
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return  # the rename is done; the directory fsync is only for power loss
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# A second run waits this long for the first to end (a run without trouble takes a second or
# two), then stops with 75 naming the other run's pid.
LOCK_WAIT = 10.0


def run_lock(path: Path, run_timeout: float) -> int | None:
    """lock() as update and remove take it: waiting LOCK_WAIT, at most half the run's budget."""
    return lock(path, min(LOCK_WAIT, run_timeout / 2), time.sleep)


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def lock(path: Path, wait: float, sleep: Callable[[float], None]) -> int | None:
    """Hold the run lock for the state file `path`: `state.json.lock` beside it, in the state
    directory (the unit's StateDirectory=, which a run by hand uses too). A POSIX lock
    (os.lockf: no extra import on the timer's path), released by the kernel when the process
    ends, however it ends. Waits up to `wait` seconds, then raises TransientError naming the
    pid that holds it. Returns the fd to keep open for the run, or None (with a warning) when
    the directory cannot hold the lock: then it cannot hold the cache either, and a run
    without a cache cannot leave it disagreeing with Cloudflare."""
    target = lock_path(path)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(target, flags, 0o644)
    except OSError as e:
        report.warning(f"{target}: cannot take the run lock ({e.strerror}); running without it")
        return None
    try:
        if not S_ISREG(os.fstat(fd).st_mode):  # a FIFO or device planted here: never used
            raise ConfigError(f"{target}: the run lock is not a regular file; remove it")
        deadline = time.monotonic() + wait
        while True:
            try:
                os.lockf(fd, os.F_TLOCK, 0)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    holder = _lock_holder(fd)
                    who = f"pid {holder}" if holder else "another process"
                    raise TransientError(
                        f"another pi-ddns update is running ({who}, lock {target}); waited "
                        f"{wait:g} s, this run stops here") from None
                sleep(0.05)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _lock_holder(fd: int) -> str | None:
    """The pid holding a POSIX lock on fd's file, from /proc/locks (Linux). Read only when
    waiting failed: the lock file itself is never written, so a timer run writes nothing."""
    st = os.fstat(fd)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            for line in f:
                fields = line.split()
                if "->" not in fields and len(fields) > 5 and fields[5] == inode:
                    return fields[4] if fields[4].isdigit() else None
    except OSError:
        pass
    return None
