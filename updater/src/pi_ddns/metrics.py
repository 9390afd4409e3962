"""Metrics for Prometheus, as a file for node_exporter's textfile collector.

Written at the end of every update run (not a dry run) to `<metrics_dir>/pi_ddns.prom`, in the
text exposition format (version 0.0.4): HELP and TYPE lines, `pi_ddns_` names, `_total` for
counters and `_seconds` for times, no sample timestamps (the textfile collector refuses them).

Atomic: a temp file in the same directory (a name node_exporter skips: it reads `*.prom` only),
then rename. No fsync: the directory is on tmpfs (/run), never on the SD card.

The counters (changes, failures, API requests) live in this file itself: each run reads the
previous file back and adds to it. The state file would survive a reboot, but a no-change run
never writes the state (the SD card), and a counter that restarts from 0 at boot is what
Prometheus expects of any counter (rate() and increase() handle the reset). A file that is
missing or unreadable starts the counters at 0, like a reboot. The last success time and the
last propagation check's time and verdict are kept from the previous file the same way, until
a run has new ones.

This module is on the no-change path when metrics_dir is set: it imports nothing new (os, and
pi_ddns modules the run has loaded already).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from pi_ddns import files, report

FILE = "pi_ddns.prom"
_LIMIT = 256 * 1024  # bytes of a previous file read back; ours is ~2 KB
COUNTERS = ("changes", "failures", "api_requests")


class Run(NamedTuple):
    now: float  # wall clock, seconds since the epoch
    duration: float
    exit_code: int
    changes: int  # records whose content changed (created or updated)
    api_requests: int  # HTTP requests to the Cloudflare API, retries included
    detections: list[tuple[int, str, float]]  # (IP version, source, seconds)
    ages: list[tuple[str, str, float]]  # (record type, name, seconds since its content changed)
    # (seconds, confirmed) of this run's propagation check (propagate.py); None: no check ran,
    # the last check's values are kept
    propagation: tuple[float, bool] | None = None


def source_name(label: str) -> str:
    """A source's label for a metric: an URL's host only (its path or query may hold a key)."""
    kind, _, rest = label.partition(" ")
    if kind in ("http", "trace"):
        return f"{kind} {urlsplit(rest).hostname or '?'}"
    return label


def escape_label(value: str) -> str:
    """A label value as the exposition format writes it: \\ " and newline escaped, after
    report.safe (one printable line, no secret)."""
    return report.safe(value, 200).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def previous(path: Path) -> dict[str, float]:
    """The unlabelled samples of our previous file (`name value` lines), {} if none."""
    try:
        text = files.read_regular(path, _LIMIT).decode("utf-8", "replace")
    except OSError:
        return {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name.startswith("pi_ddns_") and name.isidentifier():
            with contextlib.suppress(ValueError):
                number = float(value)
                if 0 <= number < float("inf"):  # not NaN, not negative, not infinite
                    samples[name] = number
    return samples


def _fmt(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else f"{value:.3f}"


def render(run: Run, before: dict[str, float]) -> str:
    out: list[str] = []

    def metric(name: str, kind: str, text: str, samples: list[tuple[str, float]]) -> None:
        full = f"pi_ddns_{name}"
        out.append(f"# HELP {full} {text}")
        out.append(f"# TYPE {full} {kind}")
        out.extend(f"{full}{labels} {_fmt(value)}" for labels, value in samples)

    metric("last_run_timestamp_seconds", "gauge", "When the last update run started (Unix time).",
           [("", round(run.now, 3))])
    success = run.now if run.exit_code == 0 else before.get(
        "pi_ddns_last_success_timestamp_seconds")
    if success is not None:
        metric("last_success_timestamp_seconds", "gauge",
               "When the last successful update run started (since boot).",
               [("", round(success, 3))])
    metric("last_exit_code", "gauge", "Exit code of the last update run (0 success, sysexits).",
           [("", run.exit_code)])
    metric("last_run_duration_seconds", "gauge", "How long the last update run took.",
           [("", round(run.duration, 3))])
    added = {"changes": run.changes, "failures": int(run.exit_code != 0),
             "api_requests": run.api_requests}
    helps = {"changes": "Records whose address pi-ddns changed (created or updated).",
             "failures": "Update runs that failed.",
             "api_requests": "HTTP requests sent to the Cloudflare API, retries included."}
    for name in COUNTERS:
        total = before.get(f"pi_ddns_{name}_total", 0.0) + added[name]
        metric(f"{name}_total", "counter", helps[name] + " Reset at boot.", [("", total)])
    if run.detections:
        metric("detection_seconds", "gauge",
               "Time the last detection of each IP version took, by the source that answered.",
               [(f'{{family="ipv{v}",source="{escape_label(source_name(s))}"}}', round(t, 3))
                for v, s, t in run.detections])
    if run.ages:
        metric("address_age_seconds", "gauge",
               "Seconds since each record's published address last changed.",
               [(f'{{type="{escape_label(rtype)}",name="{escape_label(name)}"}}',
                 round(max(age, 0.0), 3)) for rtype, name, age in run.ages])
    took: float | None
    shown: float | None
    if run.propagation is not None:
        took, shown = run.propagation[0], float(run.propagation[1])
    else:
        took = before.get("pi_ddns_propagation_seconds")
        shown = before.get("pi_ddns_propagation_confirmed")
    if took is not None:
        metric("propagation_seconds", "gauge",
               "Seconds the last change took to show on every authoritative nameserver (the "
               "time waited when it did not).", [("", round(took, 3))])
    if shown is not None:
        metric("propagation_confirmed", "gauge",
               "1 if the last change showed on every authoritative nameserver within the wait.",
               [("", min(shown, 1.0))])
    return "\n".join(out) + "\n"


def write(directory: Path, run: Run) -> None:
    """Replace `<directory>/pi_ddns.prom`; a failure is one warning, never the run's outcome."""
    path = directory / FILE
    try:
        text = render(run, previous(path))
        tmp = directory / f".{FILE}.{os.urandom(8).hex()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o644)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                os.fchmod(f.fileno(), 0o644)  # the unit has UMask=0077; node_exporter is
                f.write(text)                 # another user
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    except OSError as e:
        report.warning(f"{path}: cannot write the metrics ({e.strerror or e}); the update is "
                       "not affected")
