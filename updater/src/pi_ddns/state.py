"""The cache of zone and record ids: a versioned JSON file, written atomically.

A missing, corrupt, unreadable or future-version file is never fatal: it is reported and costs one
reconcile against Cloudflare. Shape (version 1):
{"version": 1, "zone": {"name", "id"}, "records": {"A home.example.com": {"id", "content",
 "changed_at"}}, "last_reconcile": ISO, "last_run": {"at", "exit_code", "message"}}
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from pi_ddns import report

VERSION = 1


class Cached(NamedTuple):
    id: str
    content: str
    changed_at: str


class LastRun(NamedTuple):
    at: str
    exit_code: int
    message: str


class State:
    """The mutable cache of one run (plain slotted class: no dataclasses on the hot path)."""

    __slots__ = ("last_reconcile", "last_run", "records", "zone_id", "zone_name")

    def __init__(self) -> None:
        self.zone_name: str | None = None
        self.zone_id: str | None = None
        self.records: dict[str, Cached] = {}
        self.last_reconcile: str | None = None
        self.last_run: LastRun | None = None


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


def _from_json(data: Any, zone: str) -> State:
    if not isinstance(data, dict):
        raise _Corrupt("not a JSON object")
    version = data.get("version")
    if version != VERSION:
        if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
            raise _Corrupt(f"version {version} is newer than this pi-ddns understands")
        raise _Corrupt(f"unknown version {version!r}")
    state = State()
    run = data.get("last_run")
    if run is not None:
        code = run.get("exit_code") if isinstance(run, dict) else None
        if not isinstance(code, int) or isinstance(code, bool):
            raise _Corrupt("last_run.exit_code is not an integer")
        state.last_run = LastRun(_str(run, "at"), code, str(run.get("message", "")))
    zone_data = data.get("zone")
    if zone_data is None or _str(zone_data, "name") != zone:
        return state  # another zone (config changed): the ids mean nothing here
    state.zone_name, state.zone_id = zone, _str(zone_data, "id")
    records = data.get("records", {})
    if not isinstance(records, dict):
        raise _Corrupt("records is not an object")
    for key, r in records.items():
        state.records[key] = Cached(_str(r, "id"), _str(r, "content"), _str(r, "changed_at"))
    state.last_reconcile = _str(data, "last_reconcile", optional=True)
    return state


def load(path: Path, zone: str) -> State:
    """The cached state for `zone`; an empty State (and a warning) when it cannot be trusted."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        report.info(f"{path}: no state yet; reconciling with Cloudflare")
        return State()
    except OSError as e:
        report.warning(f"{path}: cannot read the state ({e.strerror}); reconciling with "
                       "Cloudflare")
        return State()
    try:
        return _from_json(json.loads(raw), zone)
    except (ValueError, _Corrupt) as e:
        report.warning(f"{path}: ignoring the state file ({e}); reconciling with Cloudflare")
        return State()


def to_json(state: State) -> dict[str, Any]:
    data: dict[str, Any] = {"version": VERSION}
    if state.zone_name and state.zone_id:
        data["zone"] = {"name": state.zone_name, "id": state.zone_id}
        data["records"] = {
            key: {"id": c.id, "content": c.content, "changed_at": c.changed_at}
            for key, c in sorted(state.records.items())
        }
    if state.last_reconcile:
        data["last_reconcile"] = state.last_reconcile
    if state.last_run:
        run = state.last_run
        data["last_run"] = {"at": run.at, "exit_code": run.exit_code, "message": run.message}
    return data


def save(path: Path, state: State) -> None:
    """Atomic replace: temp file in the same directory, flush, fsync, rename, fsync the dir."""
    text = json.dumps(to_json(state), indent=1) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
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
