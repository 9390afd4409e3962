"""`pi-ddns remove`: delete, at Cloudflare, the records pi-ddns owns at the configured names.

Owned means: at exactly a configured name, in that record's zone, of type A or AAAA, and its
comment carries the configured marker as a whole token (state.has_marker). Nothing else is
ever deleted. The state's cached ids are not used to pick a record (a cached id may name
another record by now); every record deleted is one the list has just shown at the name.

Cost: one zone lookup per zone, one list per name, one DELETE per owned record. stdout carries exactly
one `deleted NAME TYPE ID` line per record deleted (`would delete ...` with --dry-run), and
nothing when there was nothing to delete; everything else goes to stderr. A record gone
already is not an error: the end state is what was asked for.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

from pi_ddns import credential, report, state
from pi_ddns.config import Config
from pi_ddns.errors import RecordGone, TransientError

if TYPE_CHECKING:
    from pi_ddns.cfapi import CloudflareApi
    from pi_ddns.decide import ZoneId

TYPES = ("A", "AAAA")


def remove(cfg: Config, *, dry_run: bool, token_stdin: bool = False) -> int:
    deadline = time.monotonic() + cfg.run_timeout
    token = credential.cloudflare_token(cfg, stdin=token_stdin)
    # Under the run lock, so that no timer run recreates a record between list and delete.
    lock = None if dry_run else state.run_lock(cfg.state_file, cfg.run_timeout)
    try:
        deleted = _delete_owned(cfg, token, dry_run, deadline)
        if not dry_run:
            _forget(cfg)
    finally:
        if lock is not None:
            os.close(lock)
    names = ", ".join(cfg.names)
    if not deleted:
        report.info(f"nothing to remove: no A or AAAA record at {names} carries the marker "
                    f"{cfg.comment_marker!r}")
    else:
        verb = "would delete" if dry_run else "deleted"
        report.notice(f"{verb} {len(deleted)} record(s) at {names}")
    return 0


def _delete_owned(cfg: Config, token: str, dry_run: bool, deadline: float) -> list[str]:
    from pi_ddns.cfapi import CloudflareApi

    api = CloudflareApi(token, cfg.cloudflare.api_url, cfg.cloudflare.timeout,
                        cfg.cloudflare.retries, deadline=deadline, budget=cfg.run_timeout)
    done: list[str] = []
    try:
        for zone in cfg.zones:
            zid = api.zone(zone).id
            for name in dict.fromkeys(r.name for r in cfg.records if r.zone == zone):
                done += _delete_at(api, zid, name, cfg.comment_marker, dry_run)
    finally:
        api.close()
    return done


def _delete_at(api: CloudflareApi, zid: ZoneId, name: str, marker: str,
               dry_run: bool) -> list[str]:
    from pi_ddns.cfapi import valid_id
    from pi_ddns.decide import owned

    done: list[str] = []
    for record in api.list_records(zid, name, None):
        # list_records keeps only records at exactly `name`; the type is compared as
        # Cloudflare spells it (upper case): anything else is not ours to touch.
        if record.type not in TYPES or not owned(record, marker):
            continue
        if not valid_id(record.id):  # never put in a URL, never printed
            raise TransientError(f"Cloudflare API: listing records at {name}: a record id "
                                 "that is not an id; nothing more deleted")
        line = f"{name} {record.type} {record.id}"
        if dry_run:
            _say(f"would delete {line}")
            done.append(line)
            continue
        try:
            api.delete_record(zid, record.id)
        except RecordGone:
            report.info(f"{record.type} {name} ({record.id}) is gone already")
            continue
        _say(f"deleted {line}")
        done.append(line)
    return done


def _say(line: str) -> None:
    """One line on stdout, at once: a failure later still leaves the lines of what was done."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _forget(cfg: Config) -> None:
    """Drop the cached records of the configured names (they are gone) and the reconcile
    stamp, so that a later update lists and creates afresh. A state that cannot be read or
    written costs nothing here: the next update reconciles anyway."""
    if not cfg.state_file.exists():
        return
    st = state.load(cfg.state_file)
    before = state.to_json(st)
    for rtype in TYPES:
        for name in cfg.names:
            st.records.pop(f"{rtype} {name}", None)
    st.last_reconcile = None
    if state.to_json(st) != before:
        try:
            state.save(cfg.state_file, st)
        except OSError as e:
            report.warning(f"{cfg.state_file}: cannot write the state ({e.strerror}); the next "
                           "update will reconcile")
