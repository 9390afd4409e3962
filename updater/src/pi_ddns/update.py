"""`pi-ddns update`: config -> state -> detect -> (decide -> apply) -> state -> report.

The hot path (address unchanged, cache fresh) ends before `apply` is imported: no SDK, no API
request, no state write. Otherwise a warm cache costs one PATCH per changed record; a cold,
stale or forced run costs zone + one list per name + one write per changed record.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING

from pi_ddns import credential, report, state
from pi_ddns.config import Config
from pi_ddns.detect import Detected, detect
from pi_ddns.errors import ConflictError, DdnsError, DetectionError, ZoneGone

if TYPE_CHECKING:
    from pi_ddns.apply import CloudflareApi
    from pi_ddns.decide import Record, Wanted, ZoneId


def canonical(content: str) -> str:
    try:
        return str(ipaddress.ip_address(content))
    except ValueError:
        return content


class _Run:
    """One update run: the state it mutates and the words it reports."""

    def __init__(self, cfg: Config, st: state.State, now: float, dry_run: bool) -> None:
        self.cfg, self.st, self.now, self.dry_run = cfg, st, now, dry_run
        self.done: list[str] = []
        self.save_failed = False
        self.snapshot = state.to_json(st)

    def save(self) -> None:
        if self.dry_run:
            return
        try:
            state.save(self.cfg.state_file, self.st)
        except OSError as e:
            if not self.save_failed:  # DNS is right; the next run reconciles
                report.warning(f"{self.cfg.state_file}: cannot write the state "
                               f"({e.strerror}); the next run will reconcile")
            self.save_failed = True

    def remember(self, key: str, record: Record) -> None:
        old = self.st.records.get(key)
        content = canonical(record.content)
        changed = state.iso(self.now) if old is None or old.content != content or \
            old.id != record.id else old.changed_at
        self.st.records[key] = state.Cached(record.id, content, changed)


def update(cfg: Config, *, dry_run: bool, force: bool,
           now: Callable[[], float]) -> int:
    token = credential.require(cfg)
    st = state.load(cfg.state_file, cfg.zone)
    run = _Run(cfg, st, now(), dry_run)
    try:
        summary = _sync(run, token, force)
    except DdnsError as e:
        _finish(run, e.exit_code, str(e))
        if run.done:
            report.notice("before the failure: " + "; ".join(run.done))
        raise
    _finish(run, 0, summary)
    if dry_run:  # the plan, one action a line, for a human to read
        print("\n".join(f"would have {words}" for words in run.done) or "no change")
    report.log(report.NOTICE if run.done else report.INFO, summary)
    return 0


def _finish(run: _Run, code: int, message: str) -> None:
    if run.dry_run:
        return
    st, last = run.st, run.st.last_run
    # Only changes and failure transitions touch the file: the SD card thanks us.
    if code != 0:
        renew = last is None or (last.exit_code, last.message) != (code, message)
    else:
        renew = last is None or last.exit_code != 0 or bool(run.done)
    if renew:
        st.last_run = state.LastRun(state.iso(run.now), code, message)
    if state.to_json(st) != run.snapshot:
        run.save()
    if run.cfg.healthcheck_url:
        from pi_ddns import healthcheck

        healthcheck.ping(run.cfg.healthcheck_url, code, message)


def _sync(run: _Run, token: str, force: bool) -> str:
    """Sync every family whose address was detected; then raise a family's DetectionError."""
    addresses: dict[str, Detected] = {}
    failures: list[str] = []
    for family in run.cfg.families:
        try:
            addresses[family.rtype] = detect(family)
        except DetectionError as e:  # an IPv6 outage must not hold back the A records
            failures.append(str(e))
    if not addresses:
        raise DetectionError("; ".join(failures))
    summary = _sync_detected(run, token, force, addresses, complete=not failures)
    if failures:
        raise DetectionError("; ".join(failures))
    return summary


def _sync_detected(run: _Run, token: str, force: bool, addresses: dict[str, Detected], *,
                   complete: bool) -> str:
    cfg, st = run.cfg, run.st
    for d in addresses.values():
        report.debug(f"detected {d.address} via {d.source}")
    wanted = [(f"{rtype} {name}", name, rtype, str(d.address))
              for name in cfg.records for rtype, d in addresses.items()]
    age = state.age(st.last_reconcile, run.now)
    fresh = (not force and st.zone_id is not None and age is not None
             and 0 <= age < cfg.max_cache_age)
    if fresh and all(key in st.records and st.records[key].content == content
                     for key, _, _, content in wanted):
        return "no change"

    from pi_ddns.apply import CloudflareApi
    from pi_ddns.decide import Wanted

    api = CloudflareApi(token, cfg.cloudflare.api_url, cfg.cloudflare.timeout,
                        cfg.cloudflare.retries)
    try:
        want = [Wanted(name, rtype, content, cfg.comment_marker, cfg.adopt, cfg.ttl, cfg.proxied)
                for _, name, rtype, content in wanted]
        if fresh and st.zone_id:
            try:
                rest = _patch_cached(run, api, st.zone_id, want)
                if rest:
                    _reconcile(run, api, st.zone_id, rest, full=False)
            except ZoneGone as e:  # deleted and re-added, or moved: find it by name
                report.warning(f"{e}; looking the zone up again")
                _reconcile(run, api, None, want, full=complete)
        else:
            _reconcile(run, api, None, want, full=complete)
    finally:
        api.close()
    verb = "dry run: would have " if run.dry_run else ""
    return verb + "; ".join(run.done) if run.done else "no change"


def _patch_cached(run: _Run, api: CloudflareApi, zone_id: str,
                  want: list[Wanted]) -> list[Wanted]:
    """Warm cache: one PATCH per changed record by its cached id. Returns what needs a list."""
    from pi_ddns.decide import RecordId, ZoneId
    from pi_ddns.errors import RecordGone

    rest = []
    for w in want:
        cached = run.st.records.get(w.key)
        if cached is None:
            rest.append(w)
            continue
        if cached.content == w.content:
            continue
        words = f"updated {w.key} {cached.content} -> {w.content}"
        if run.dry_run:
            run.done.append(words)
            continue
        try:
            record = api.update_record(ZoneId(zone_id), RecordId(cached.id), content=w.content)
        except RecordGone:
            report.warning(f"{w.key}: record {cached.id} is gone at Cloudflare (deleted by "
                           "hand?); creating it again")
            del run.st.records[w.key]
            rest.append(w)
            continue
        run.remember(w.key, record)
        run.done.append(words)
        run.save()
    return rest


def _reconcile(run: _Run, api: CloudflareApi, zone_id: str | None, want: list[Wanted],
               *, full: bool) -> None:
    """List each name once (all types, to see a CNAME), decide, apply."""
    from pi_ddns.decide import ZoneId

    st = run.st
    zid = ZoneId(zone_id) if zone_id else api.zone_id(run.cfg.zone)
    if zid != st.zone_id:
        st.records.clear()  # ids of another zone (or none): worthless
    st.zone_name, st.zone_id = run.cfg.zone, zid
    conflicts: list[ConflictError] = []
    for name in dict.fromkeys(w.name for w in want):
        at_name = api.list_records(zid, name, None)
        for w in (w for w in want if w.name == name):
            try:
                _apply(run, api, zid, w, at_name)
            except ConflictError as conflict:  # other records can still be kept right
                conflicts.append(conflict)
    if conflicts:
        for later in conflicts[1:]:
            report.error(str(later))
        raise conflicts[0]
    if full and not run.dry_run:
        keys = {f"{f.rtype} {name}" for f in run.cfg.families for name in run.cfg.records}
        for key in [k for k in st.records if k not in keys]:
            del st.records[key]  # no longer configured
        st.last_reconcile = state.iso(run.now)


def _apply(run: _Run, api: CloudflareApi, zid: ZoneId, w: Wanted, at_name: list[Record], *,
           retried: bool = False) -> None:
    from pi_ddns.decide import Create, Noop, decide, describe
    from pi_ddns.errors import RecordExists

    action = decide(w, at_name)
    if isinstance(action, Noop):
        run.remember(w.key, action.record)
        if retried:
            run.done.append(f"found {w.key} {action.record.content} (created by an earlier run)")
            run.save()
        return
    if run.dry_run:
        run.done.append(describe(action))
        return
    if isinstance(action, Create):
        try:
            record = api.create_record(zid, w.name, w.type, w.content, comment=action.comment,
                                       ttl=action.ttl, proxied=action.proxied)
        except RecordExists:
            if retried:
                raise
            # An earlier POST may have succeeded after its answer was lost: adopt, don't dup.
            report.warning(f"{w.key}: Cloudflare says it exists already; listing again")
            _apply(run, api, zid, w, api.list_records(zid, w.name, None), retried=True)
            return
    else:
        record = api.update_record(zid, action.record.id, content=action.content,
                                   comment=action.comment, ttl=action.ttl,
                                   proxied=action.proxied)
    run.remember(w.key, record)
    run.done.append(describe(action))
    run.save()
