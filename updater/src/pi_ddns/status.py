"""`pi-ddns status`: detected address, cached records, last run. No API call, no write, no lock.

A record is in sync only when every field the config sets matches what the cache says
Cloudflare holds: content, proxied, TTL and the marker in the comment. Every text that came
from outside (the last run's message, a record's comment) is printed through report.safe."""

from __future__ import annotations

import json
from typing import Any

from pi_ddns import report, state
from pi_ddns.config import Config
from pi_ddns.detect import detect
from pi_ddns.errors import EX_TEMPFAIL, DetectionError


def status(cfg: Config, *, as_json: bool) -> int:
    st = state.load(cfg.state_file, cfg.zone)
    detected: dict[str, str] = {}
    via: dict[str, str] = {}
    failure: DetectionError | None = None
    for family in cfg.families:
        try:
            d = detect(family)
        except DetectionError as e:
            failure = failure or e
            continue
        detected[family.rtype], via[family.rtype] = str(d.address), d.source
    records, stale = _records(cfg, st, detected)
    last = st.last_run
    if last is not None and last.exit_code != 0:
        code, message = last.exit_code, last.message
    elif failure is not None:
        code, message = failure.exit_code, str(failure)
    elif last is None:
        code, message = EX_TEMPFAIL, "no update has run yet"
    elif stale:
        code, message = EX_TEMPFAIL, "out of sync: " + "; ".join(stale)
    else:
        code, message = 0, "in sync"
    message = report.safe(message)
    out = {
        "ok": code == 0, "exit_code": code, "message": message, "detected": detected,
        "records": records, "last_reconcile": st.last_reconcile,
        "last_run": ({"at": report.safe(last.at, 40), "exit_code": last.exit_code,
                      "message": report.safe(last.message)} if last else None),
    }
    if as_json:
        print(json.dumps(out))
    else:
        print(_table(cfg, out, via))
    return code


def _records(cfg: Config, st: state.State,
             detected: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Each configured record as cached, and how each differs from what the config sets."""
    records: list[dict[str, Any]] = []
    stale: list[str] = []
    for name in cfg.records:
        for family in cfg.families:
            key = f"{family.rtype} {name}"
            c = st.records.get(key)
            records.append({"name": name, "type": family.rtype,
                            "id": c.id if c else None,
                            "content": c.content if c else None,
                            "changed_at": c.changed_at if c else None,
                            "ttl": c.ttl if c else None,
                            "proxied": c.proxied if c else None,
                            "comment": report.safe(c.comment, 200)
                            if c and c.comment is not None else None})
            if family.rtype not in detected:
                continue
            if c is None:
                stale.append(f"{key} is not known, detected {detected[family.rtype]}")
                continue
            diff = state.differences(c, detected[family.rtype], cfg.ttl, cfg.proxied,
                                     cfg.comment_marker)
            if diff:
                stale.append(f"{key} " + ", ".join(diff))
    return records, stale


def _table(cfg: Config, out: dict[str, Any], via: dict[str, str]) -> str:
    rows = [("zone", cfg.zone)]
    for rtype, address in out["detected"].items():
        rows.append(("detected", f"{rtype} {address} ({via[rtype]})"))
    for r in out["records"]:
        seen = r["content"] or "-"
        changed = f"changed {r['changed_at']}" if r["changed_at"] else "not seen yet"
        extra = "".join(f" {k} {str(r[k]).lower()}" for k in ("ttl", "proxied")
                        if r[k] is not None)
        rows.append(("record", f"{r['type']} {r['name']} {seen}{extra}  {changed}"))
    rows.append(("reconciled", out["last_reconcile"] or "never"))
    last = out["last_run"]
    rows.append(("last run", f"{last['at']} exit {last['exit_code']}: {last['message']}"
                 if last else "never"))
    rows.append(("status", f"{'ok' if out['ok'] else 'NOT OK'}: {out['message']}"))
    return "\n".join(f"{k:<11} {v}" for k, v in rows)
