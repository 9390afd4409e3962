"""`pi-ddns status`: detected address, cached records, last run. No API call, no write."""

from __future__ import annotations

import json
from typing import Any

from pi_ddns import state
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
    records: list[dict[str, Any]] = []
    stale: list[str] = []
    for name in cfg.records:
        for family in cfg.families:
            key = f"{family.rtype} {name}"
            cached = st.records.get(key)
            records.append({"name": name, "type": family.rtype,
                            "id": cached.id if cached else None,
                            "content": cached.content if cached else None,
                            "changed_at": cached.changed_at if cached else None})
            if family.rtype in detected and (cached is None
                                             or cached.content != detected[family.rtype]):
                seen = cached.content if cached else "not known"
                stale.append(f"{key} is {seen}, detected {detected[family.rtype]}")
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
    out = {
        "ok": code == 0, "exit_code": code, "message": message, "detected": detected,
        "records": records, "last_reconcile": st.last_reconcile,
        "last_run": ({"at": last.at, "exit_code": last.exit_code, "message": last.message}
                     if last else None),
    }
    if as_json:
        print(json.dumps(out))
    else:
        print(_table(cfg, out, via))
    return code


def _table(cfg: Config, out: dict[str, Any], via: dict[str, str]) -> str:
    rows = [("zone", cfg.zone)]
    for rtype, address in out["detected"].items():
        rows.append(("detected", f"{rtype} {address} ({via[rtype]})"))
    for r in out["records"]:
        seen = r["content"] or "-"
        changed = f"changed {r['changed_at']}" if r["changed_at"] else "not seen yet"
        rows.append(("record", f"{r['type']} {r['name']} {seen}  {changed}"))
    rows.append(("reconciled", out["last_reconcile"] or "never"))
    last = out["last_run"]
    rows.append(("last run", f"{last['at']} exit {last['exit_code']}: {last['message']}"
                 if last else "never"))
    rows.append(("status", f"{'ok' if out['ok'] else 'NOT OK'}: {out['message']}"))
    return "\n".join(f"{k:<11} {v}" for k, v in rows)
