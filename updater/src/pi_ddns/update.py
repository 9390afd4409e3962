"""`pi-ddns update`: config -> state -> detect -> (decide -> cfapi) -> state -> report.

The hot path (address and settings unchanged, cache fresh) ends before `cfapi` is imported: no
SDK, no API request, no state write. Otherwise a warm cache costs one list per changed name and
one PATCH per changed record (plus the lookup of a zone the cache does not hold yet); a cold,
stale or forced run adds one zone lookup per zone and lists every name. A write only ever goes
to a record id that a list has just shown at the name, in the zone of that list.

A host record's content is the detected IPv6 prefix with its interface ID (hostid.py); when
that address fails the publishing rule (addresses.py), the record is left as it is, the other
records are kept right, and the run ends with 65 naming it.

A dry run touches nothing but Cloudflare's read API: it neither reads nor writes the state,
takes no lock, pings no healthcheck, sends no notification and writes no metrics; it always
looks the zone up and lists every name (so the role can try a config before installing it,
with the same bytes, anywhere).
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pi_ddns import credential, report, state
from pi_ddns.addresses import check
from pi_ddns.config import Address, Config, RecordConfig
from pi_ddns.detect import Detected, detect
from pi_ddns.errors import (
    ConflictError,
    DdnsError,
    DetectionError,
    RunDeadline,
    ZoneGone,
    ZoneNotActive,
    ZoneNotFound,
)

if TYPE_CHECKING:
    from pathlib import Path

    from pi_ddns.cfapi import CloudflareApi
    from pi_ddns.decide import Record, Wanted, ZoneId


def canonical(content: str) -> str:
    try:
        return str(ipaddress.ip_address(content))
    except ValueError:
        return content


class _Run:
    """One update run: the state it mutates and the words it reports."""

    def __init__(self, cfg: Config, st: state.State, now: float, dry_run: bool,  # noqa: PLR0917
                 deadline: float, ntfy_token: str | None) -> None:
        self.cfg, self.st, self.now, self.dry_run = cfg, st, now, dry_run
        self.ntfy_token = ntfy_token  # for the notification, if there is one
        self.deadline = deadline  # time.monotonic() by which the run ends (run_timeout)
        self.done: list[str] = []
        self.wrong: list[str] = []  # writes that landed on another record (restored)
        self.save_failed = False
        self.snapshot = state.to_json(st)
        self.started = time.monotonic()
        # For the notifications and metrics (issue 12):
        self.changes: list[state.Change] = []  # records whose content this run changed
        self.bad: list[str] = []  # host records whose combined address the rule refuses
        self.timings: list[tuple[int, str, float]] = []  # (IP version, source, seconds)
        self.api_requests = 0
        self.outcome: tuple[int, str, state.LastRun | None] | None = None  # set by _finish
        self.proof: tuple[float, bool] | None = None  # propagation (seconds, confirmed)

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

    def remember(self, key: str, record: Record, zone: str) -> None:
        old = self.st.records.get(key)
        content = canonical(record.content)
        changed = state.iso(self.now) if old is None or old.content != content or \
            old.id != record.id else old.changed_at
        # What Cloudflare holds now, every field the config may set: a changed setting no
        # longer matches, so the next run reconciles without --force.
        self.st.records[key] = state.Cached(record.id, content, changed, record.ttl,
                                            record.proxied, record.comment, zone)


def update(cfg: Config, *, dry_run: bool, force: bool, now: Callable[[], float],
           token_stdin: bool = False) -> int:
    deadline = time.monotonic() + cfg.run_timeout
    ntfy = None if dry_run else credential.ntfy_token(cfg)
    try:
        token = credential.cloudflare_token(cfg, stdin=token_stdin)
    except DdnsError as e:  # fails before detection: the monitor hears of it all the same
        if not dry_run:
            _ping(cfg, e.exit_code, str(e))
        raise
    # One run at a time, for the whole run: two runs racing through an address change would
    # leave Cloudflare and the cache holding different addresses. A dry run writes nothing.
    lock = None if dry_run else state.run_lock(cfg.state_file, cfg.run_timeout)
    run: _Run | None = None
    try:
        # A dry run starts from nothing: the plan comes from Cloudflare alone.
        st = state.State() if dry_run else state.load(cfg.state_file)
        run = _Run(cfg, st, now(), dry_run, deadline, ntfy)
        try:
            summary = _sync(run, token, force)
        except DdnsError as e:
            _finish(run, e.exit_code, str(e))
            if run.done:
                report.notice("before the failure: " + "; ".join(run.done))
            raise
        _finish(run, 0, summary)  # under the lock: the next run reads what this one wrote
    finally:
        if lock is not None:
            os.close(lock)  # the kernel drops the lock with the fd (or with the process)
        if run is not None:
            _announce(run)  # after the lock: a slow endpoint never holds up the next run
    if dry_run:  # the plan, one action a line, for a human to read
        print("\n".join(f"would have {words}" for words in run.done) or "no change")
    report.log(report.NOTICE if run.done else report.INFO, summary)
    return 0


def _ping(cfg: Config, code: int, message: str) -> None:
    """The healthcheck ping of a finished run (success or failure)."""
    if cfg.healthcheck_url:
        from pi_ddns import healthcheck

        healthcheck.ping(cfg.healthcheck_url, code, message)


def _finish(run: _Run, code: int, message: str) -> None:
    if run.dry_run:
        return
    st, last = run.st, run.st.last_run
    message = report.safe(message)
    run.outcome = (code, message, last)
    # Only changes and failure transitions touch the file: the SD card thanks us.
    if code != 0:
        renew = last is None or (last.exit_code, last.message) != (code, message)
    else:
        renew = last is None or last.exit_code != 0 or bool(run.done)
    if renew:
        st.last_run = state.LastRun(state.iso(run.now), code, message)
    if state.to_json(st) != run.snapshot:
        run.save()
    _ping(run.cfg, code, message)
    if run.changes and run.cfg.propagation.enabled:  # after the writes; never without one
        run.proof = _propagate(run)
    if run.cfg.metrics_dir is not None:  # under the lock: each run adds to the last's counters
        _metrics(run, code, run.cfg.metrics_dir)


def _metrics(run: _Run, code: int, directory: Path) -> None:
    from pi_ddns import metrics

    cfg, ages = run.cfg, []
    for r in cfg.records:
        cached = run.st.records.get(r.key)
        age = state.age(cached.changed_at, run.now) if cached and cached.zone == r.zone else None
        if age is not None:
            ages.append((r.type, r.name, age))
    metrics.write(directory, metrics.Run(
        run.now, time.monotonic() - run.started, code, len(run.changes), run.api_requests,
        run.timings, ages, run.proof))


def _propagate(run: _Run) -> tuple[float, bool] | None:
    """Ask the zones' authoritative nameservers for what this run wrote (propagate.py): one
    line per record; whatever happens, the run's outcome stays its own."""
    from pi_ddns import propagate

    targets = []
    for c in {(c.name, c.type): c for c in run.changes}.values():
        cached = run.st.records.get(f"{c.type} {c.name}")
        if cached is not None and cached.proxied:
            report.info(f"{c.name} {c.type}: propagation not checked: a proxied record is "
                        "answered with Cloudflare's addresses")
            continue
        zone = run.st.zones.get(c.zone)
        targets.append(propagate.Target(c.name, c.type, c.new, zone.name_servers if zone else ()))
    if not targets:
        return None
    p = run.cfg.propagation
    try:
        outcome = propagate.prove(targets, p.port, p.wait, run.deadline)
    except Exception as e:  # noqa: BLE001 - the check never changes the run's outcome
        report.warning(f"propagation check: {type(e).__name__}; the update is not affected")
        return None
    return outcome.seconds, outcome.confirmed


def _event(previous: state.LastRun | None, code: int, changed: bool,
           wanted: tuple[str, ...]) -> str | None:
    """What a finished run tells: a failure when the last run did not fail with the same code
    (no repeat every timer run of an outage), a recovery on the first success after a
    failure, a change when a record's address changed. None: a quiet run."""
    if code != 0:
        event = None if previous is not None and previous.exit_code == code else "failure"
    elif previous is not None and previous.exit_code != 0:
        event = "recovery" if "recovery" in wanted or not changed else "change"
    else:
        event = "change" if changed else None
    return event if event in wanted else None


def _announce(run: _Run) -> None:
    """The notification of a finished run, if it has one (never on the no-change path)."""
    cfg = run.cfg
    if run.outcome is None or not cfg.notify.channels:
        return
    code, message, previous = run.outcome
    event = _event(previous, code, bool(run.changes), cfg.notify.events)
    if event is None:
        return
    try:
        from pi_ddns import notify

        notify.send(cfg, notify.Message(event, code, message, run.changes, state.iso(run.now)),
                    run.deadline, run.ntfy_token)
    except Exception as e:  # noqa: BLE001 - a notification never changes the run's outcome
        report.warning(f"notification: {type(e).__name__}; the update is not affected")


def _sync(run: _Run, token: str, force: bool) -> str:
    """Sync every family whose address was detected; then raise a family's DetectionError."""
    addresses: dict[str, Detected] = {}
    failures: list[str] = []
    for family in run.cfg.families:
        try:
            began = time.monotonic()
            addresses[family.rtype] = found = detect(family)
            run.timings.append((family.version, found.source, time.monotonic() - began))
        except DetectionError as e:  # an IPv6 outage must not hold back the A records
            failures.append(str(e))
    if not addresses:
        raise DetectionError("; ".join(failures))
    if time.monotonic() >= run.deadline:
        raise RunDeadline(f"the run's time budget ({run.cfg.run_timeout:g} s, run_timeout) ran "
                          "out while detecting the address: the IP sources were slow; nothing "
                          "was written")
    summary = _sync_detected(run, token, force, addresses, complete=not failures)
    if failures:
        raise DetectionError("; ".join(failures))
    return summary


def wanted(cfg: Config, detected: dict[str, Address]) -> tuple[
        list[tuple[RecordConfig, str]], list[str]]:
    """Each configured record of a detected family with the content it should hold; and the
    words for each host record left out because its combined address fails the publishing
    rule (status uses this too)."""
    out: list[tuple[RecordConfig, str]] = []
    bad: list[str] = []
    for r in cfg.records:
        address = detected.get(r.type)
        if address is None:
            continue
        if r.host_id is not None and isinstance(address, ipaddress.IPv6Address):
            from pi_ddns import hostid

            host = hostid.combine(address, r.prefix_length, r.host_id)
            why = check(host, 6, cfg.ipv6.allow_nonglobal)
            if why is not None:
                bad.append(f"{r.key}: the detected prefix {address}/{r.prefix_length} with the "
                           f"record's interface ID gives {why}; the record is not written")
                continue
            address = host
        out.append((r, str(address)))
    return out, bad


def in_sync(st: state.State, r: RecordConfig, content: str, marker: str) -> bool:
    """The cache says Cloudflare holds `content` and every setting the config gives `r`."""
    c = st.records.get(r.key)
    return c is not None and c.zone == r.zone and not state.differences(
        c, content, r.ttl, r.proxied, marker, r.comment)


def _sync_detected(run: _Run, token: str, force: bool, addresses: dict[str, Detected], *,
                   complete: bool) -> str:
    cfg, st = run.cfg, run.st
    for d in addresses.values():
        report.debug(f"detected {d.address} via {d.source}")
    want_content, run.bad = wanted(cfg, {t: d.address for t, d in addresses.items()})
    age = state.age(st.last_reconcile, run.now)
    fresh = (not force and not run.dry_run and bool(st.zones) and age is not None
             and 0 <= age < cfg.max_cache_age)
    # In sync only when every field the config sets matches what the cache says Cloudflare
    # holds: a new proxied, ttl, comment or comment_marker is applied by the next run.
    if fresh and all(in_sync(st, r, content, cfg.comment_marker) for r, content in want_content):
        if run.bad:
            raise ConflictError("; ".join(run.bad))
        return "no change"

    from pi_ddns.cfapi import CloudflareApi
    from pi_ddns.decide import Wanted

    api = CloudflareApi(token, cfg.cloudflare.api_url, cfg.cloudflare.timeout,
                        cfg.cloudflare.retries, deadline=run.deadline, budget=cfg.run_timeout)
    try:
        want = [Wanted(r.name, r.type, content, cfg.comment_marker, cfg.adopt, r.ttl, r.proxied,
                       r.comment, r.zone) for r, content in want_content]
        if fresh:
            # Warm cache: only the names out of step, each listed afresh (one request) with its
            # zone's cached id: a write goes to the id found at the name now, never to a
            # cached id that may since name another record (renamed in the dashboard, the
            # state file edited).
            todo = [w for w, (r, content) in zip(want, want_content, strict=True)
                    if not in_sync(st, r, content, cfg.comment_marker)]
            try:
                _reconcile(run, api, todo, cached=True, full=False)
            except ZoneGone as e:  # deleted and re-added, or moved: find it by name
                report.warning(f"{e}; looking the zones up again")
                _reconcile(run, api, want, cached=False, full=complete)
        else:
            _reconcile(run, api, want, cached=False, full=complete)
    except DdnsError:
        for words in run.bad:
            report.error(words)
        raise
    finally:
        run.api_requests += api.requests
        api.close()
    if run.wrong:
        raise ConflictError("; ".join(run.wrong + run.bad))
    if run.bad:
        raise ConflictError("; ".join(run.bad))
    verb = "dry run: would have " if run.dry_run else ""
    return verb + "; ".join(run.done) if run.done else "no change"


def _zone_id(run: _Run, api: CloudflareApi, zone: str, *, cached: bool) -> ZoneId:
    """The zone's id: from the cache (`cached`) when it holds the zone, else looked up by
    name (one request), which refreshes the cache."""
    from pi_ddns.decide import ZoneId

    st = run.st
    known = st.zones.get(zone)
    if cached and known is not None:
        return ZoneId(known.id)
    found = api.zone(zone)
    if known is None or known.id != found.id:
        # ids cached in an older zone of that name (or in none): worthless
        for key in [k for k, c in st.records.items() if c.zone == zone]:
            del st.records[key]
    st.zones[zone] = state.ZoneCache(found.id, found.name_servers)
    return found.id


def _reconcile(run: _Run, api: CloudflareApi, want: list[Wanted], *, cached: bool,
               full: bool) -> None:
    """Per zone: its id, then each name listed once (all types, every page, to see a CNAME),
    decide, apply. A write goes only to a record this list just showed at the name, so a write
    that lands elsewhere can be put back as the list showed it. A zone that is missing or not
    active, or a conflict at one name, stops only what it concerns: the other zones and names
    are kept right, then the first such error ends the run."""
    from pi_ddns.errors import WrongRecord

    st = run.st
    problems: list[DdnsError] = []
    for zone in dict.fromkeys(w.zone for w in want):
        in_zone = [w for w in want if w.zone == zone]
        try:
            zid = _zone_id(run, api, zone, cached=cached)
        except (ZoneNotFound, ZoneNotActive) as e:
            problems.append(e)
            continue
        for name in dict.fromkeys(w.name for w in in_zone):
            at_name = api.list_records(zid, name, None)
            for w in (w for w in in_zone if w.name == name):
                known = st.records.get(w.key)
                if known is not None and known.zone == zone \
                        and all(r.id != known.id for r in at_name):
                    report.warning(f"{w.key}: record {known.id} is gone at Cloudflare (deleted "
                                   "or renamed by hand?)")
                try:
                    _apply(run, api, zid, w, at_name)
                except WrongRecord:
                    pass  # restored and noted in run.wrong; the next run reconciles
                except ConflictError as conflict:  # other records can still be kept right
                    problems.append(conflict)
    if problems:
        for later in problems[1:]:
            report.error(str(later))
        raise problems[0]
    if full and not run.dry_run and not run.wrong:
        keys = {r.key for r in run.cfg.records}
        for key in [k for k in st.records if k not in keys]:
            del st.records[key]  # no longer configured
        for zone in [z for z in st.zones if z not in run.cfg.zones]:
            del st.zones[zone]
        st.last_reconcile = state.iso(run.now)


def _apply(run: _Run, api: CloudflareApi, zid: ZoneId, w: Wanted, at_name: list[Record], *,
           retried: bool = False) -> None:
    from pi_ddns.cfapi import check_written
    from pi_ddns.decide import Create, Noop, decide, describe
    from pi_ddns.errors import RecordExists, TransientError, WrongRecord

    action = decide(w, at_name)
    if isinstance(action, Noop):
        run.remember(w.key, action.record, w.zone)
        if retried:
            run.done.append(f"found {w.key} {action.record.content} (created by an earlier run)")
            run.changes.append(state.Change(w.name, w.type, w.zone, None,
                                            canonical(action.record.content)))
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
        what, rid = f"creating {w.key}", None
    else:
        before = action.record
        what, rid = f"updating {w.key} ({before.id})", before.id
        record = api.update_record(zid, before.id, content=action.content,
                                   comment=action.comment, ttl=action.ttl,
                                   proxied=action.proxied)
    try:
        check_written(record, what, record_id=rid, name=w.name, rtype=w.type, marker=w.marker,
                      content=w.content, proxied=action.proxied, ttl=action.ttl)
    except WrongRecord as e:
        # Not trusted, not cached; a PATCH that hit another record is undone at once.
        run.st.records.pop(w.key, None)
        run.st.last_reconcile = None
        words = str(e)
        if not isinstance(action, Create):
            sent = tuple(k for k, v in (("content", action.content), ("comment", action.comment),
                                        ("ttl", action.ttl), ("proxied", action.proxied))
                         if v is not None)
            words += _restore(run, api, zid, w, e.landed, action.record, at_name, sent)
        if words not in run.wrong:
            run.wrong.append(words)
        raise
    except TransientError:
        run.st.records.pop(w.key, None)  # the write did not take as sent: the next run lists
        raise
    run.remember(w.key, record, w.zone)
    run.done.append(describe(action))
    old = None if isinstance(action, Create) else canonical(action.record.content)
    if old != canonical(record.content):  # a new address, not only a new ttl or comment
        run.changes.append(state.Change(w.name, w.type, w.zone, old, canonical(record.content)))
    run.save()


def _restore(run: _Run, api: CloudflareApi, zid: ZoneId, w: Wanted,  # noqa: PLR0917
             landed: str, sent_to: Record, listed: list[Record], fields: tuple[str, ...]) -> str:
    """After a write whose answer shows another record: put the fields it sent back as they
    were, from the list read just before it, on the record written to (a no-op if the write
    did not land there) and on the record the answer names if that one was ours too. Nothing
    else is touched, and only with an address the rule allows. Returns the words to report."""
    from pi_ddns.decide import owned

    words = [_put_back(run, api, zid, w, sent_to, fields)]
    other = next((r for r in listed if r.id == landed), None)
    if other is not None and other.id != sent_to.id and owned(other, w.marker):
        words.append(_put_back(run, api, zid, w, other, fields))
    elif landed != sent_to.id:
        words.append(f"record {report.safe(landed, 64)} named in the answer is not one pi-ddns "
                     "listed as its own, so it is left alone: check it in the Cloudflare "
                     "dashboard")
    return "; " + "; ".join(words)


def _put_back(run: _Run, api: CloudflareApi, zid: ZoneId, w: Wanted,  # noqa: PLR0917
              before: Record, fields: tuple[str, ...]) -> str:
    from pi_ddns.detect import check

    if "content" in fields:
        family = run.cfg.ipv4 if w.type == "A" else run.cfg.ipv6
        try:
            why = check(ipaddress.ip_address(before.content), family.version,
                        family.allow_nonglobal)
        except ValueError:
            why = "not an address"
        if why is not None:
            return (f"record {before.id} not put back to {report.safe(before.content, 64)!r} "
                    f"({why}): check it in the Cloudflare dashboard")
    try:
        api.restore_record(zid, before, fields)
    except DdnsError as e:
        was = ", ".join(f"{k} {getattr(before, k)!r}" for k in fields)
        return f"could not put record {before.id} back ({e}): it had {was}"
    return f"record {before.id} was put back as it was"
