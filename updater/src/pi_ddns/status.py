"""`pi-ddns status`: detected address, cached records, last run. No API call, no write, no lock.

A record is in sync only when every field the config sets for it (its own table's settings,
else the top-level ones) matches what the cache says Cloudflare holds, in the record's own
zone: content (a host record's: the detected prefix with its interface ID), proxied, TTL, the
marker in the comment and the whole comment when the table sets one. Every text that came
from outside (the last run's message, a record's comment) is printed through report.safe."""

from __future__ import annotations

import json
from typing import Any

from pi_ddns import report, state
from pi_ddns.config import Address, Config
from pi_ddns.detect import detect
from pi_ddns.errors import EX_DATAERR, EX_TEMPFAIL, DetectionError
from pi_ddns.update import wanted


def status(cfg: Config, *, as_json: bool) -> int:
    st = state.load(cfg.state_file)
    detected: dict[str, Address] = {}
    via: dict[str, str] = {}
    failure: DetectionError | None = None
    for family in cfg.families:
        try:
            d = detect(family)
        except DetectionError as e:
            failure = failure or e
            continue
        detected[family.rtype], via[family.rtype] = d.address, d.source
    records, stale, bad = _records(cfg, st, detected)
    last = st.last_run
    if last is not None and last.exit_code != 0:
        code, message = last.exit_code, last.message
    elif failure is not None:
        code, message = failure.exit_code, str(failure)
    elif bad:
        code, message = EX_DATAERR, "; ".join(bad)
    elif last is None:
        code, message = EX_TEMPFAIL, "no update has run yet"
    elif stale:
        code, message = EX_TEMPFAIL, "out of sync: " + "; ".join(stale)
    else:
        code, message = 0, "in sync"
    message = report.safe(message)
    out = {
        "ok": code == 0, "exit_code": code, "message": message,
        "detected": {rtype: str(a) for rtype, a in detected.items()}, "zones": list(cfg.zones),
        "records": records, "last_reconcile": st.last_reconcile,
        "last_run": ({"at": report.safe(last.at, 40), "exit_code": last.exit_code,
                      "message": report.safe(last.message)} if last else None),
    }
    if as_json:
        print(json.dumps(out))
    else:
        print(_table(cfg, out, via))
    return code


def _records(cfg: Config, st: state.State, detected: dict[str, Address]
             ) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Each configured record as cached (in its zone), how each differs from what the config
    sets, and the host records whose combined address the rule refuses."""
    records: list[dict[str, Any]] = []
    stale: list[str] = []
    contents, bad = wanted(cfg, detected)
    want = {r.key: content for r, content in contents}
    for r in cfg.records:
        c = st.records.get(r.key)
        if c is not None and c.zone != r.zone:
            c = None  # cached in another zone: says nothing about this one
        records.append({"name": r.name, "type": r.type, "zone": r.zone,
                        "id": c.id if c else None,
                        "content": c.content if c else None,
                        "changed_at": c.changed_at if c else None,
                        "ttl": c.ttl if c else None,
                        "proxied": c.proxied if c else None,
                        "comment": report.safe(c.comment, 200)
                        if c and c.comment is not None else None})
        content = want.get(r.key)
        if content is None:
            continue  # its family was not detected, or its address is refused (in `bad`)
        if c is None:
            stale.append(f"{r.key} is not known, detected {content}")
        elif diff := state.differences(c, content, r.ttl, r.proxied, cfg.comment_marker,
                                       r.comment):
            stale.append(f"{r.key} " + ", ".join(diff))
    return records, stale, bad


def _table(cfg: Config, out: dict[str, Any], via: dict[str, str]) -> str:
    rows = [("zone" if len(cfg.zones) == 1 else "zones", ", ".join(cfg.zones))]
    for rtype, address in out["detected"].items():
        rows.append(("detected", f"{rtype} {address} ({via[rtype]})"))
    for r in out["records"]:
        seen = r["content"] or "-"
        changed = f"changed {r['changed_at']}" if r["changed_at"] else "not seen yet"
        extra = "".join(f" {k} {str(r[k]).lower()}" for k in ("ttl", "proxied")
                        if r[k] is not None)
        zone = f" (zone {r['zone']})" if len(cfg.zones) > 1 else ""
        rows.append(("record", f"{r['type']} {r['name']}{zone} {seen}{extra}  {changed}"))
    rows.append(("reconciled", out["last_reconcile"] or "never"))
    last = out["last_run"]
    rows.append(("last run", f"{last['at']} exit {last['exit_code']}: {last['message']}"
                 if last else "never"))
    rows.append(("status", f"{'ok' if out['ok'] else 'NOT OK'}: {out['message']}"))
    return "\n".join(f"{k:<11} {v}" for k, v in rows)
