"""Issue 15: a changed setting takes effect on the next run, runs never overlap, a run has a
deadline, a failure before detection is pinged, and only an active zone is written to.

Real parts only: the fake Cloudflare on loopback, `cli.main` in-process, and real `python -m
pi_ddns` processes where two runs must race.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from conftest import IP1, IP2, IP3, MARKER, NAME, REPO, ZONE, Env
from pi_ddns.errors import EX_CONFIG, EX_OK, EX_TEMPFAIL

# ---- 1. settings are part of the cache's truth -----------------------------------------------


def warm(env: Env, **config: Any) -> None:
    env.write_config(**config)
    assert env.run(["update"]).code == 0
    env.fake.clear_requests()


def status(env: Env) -> dict[str, Any]:
    result = env.run(["status", "--json"])
    out: dict[str, Any] = json.loads(result.out)
    assert (result.code == 0) == out["ok"]
    return out


@pytest.mark.parametrize(("before", "after", "field", "want"), [
    ({}, {"proxied": True}, "proxied", True),
    ({"proxied": True}, {"proxied": False}, "proxied", False),
    ({}, {"ttl": 300}, "ttl", 300),
    ({"ttl": 300}, {"ttl": 3600}, "ttl", 3600),
    ({}, {"comment_marker": "ddns: home-pi", "adopt": True}, "comment", None),
], ids=["proxied on", "proxied off", "ttl set", "ttl changed", "marker changed"])
def test_a_changed_setting_is_applied_by_the_next_plain_run(
        env: Env, before: dict[str, Any], after: dict[str, Any], field: str, want: Any) -> None:
    warm(env, **before)
    env.write_config(**{**before, **after})
    # before the run, status already says the record is not as the config wants it
    out = status(env)
    assert not out["ok"]
    assert "out of sync" in out["message"]
    result = env.run(["update"])  # no --force
    assert result.code == 0, result.err
    assert "no change" not in result.err
    [record] = env.records("A")
    if field == "comment":
        assert record["comment"].split(" ")[-2:] == ["ddns:", "home-pi"]
    else:
        assert record[field] == want
    assert status(env)["ok"]
    env.fake.clear_requests()
    assert env.run(["update"]).code == 0  # and now the hot path again: no API call
    assert env.fake.requests() == []


def test_status_is_not_ok_when_cloudflare_was_left_with_another_setting(env: Env) -> None:
    """The role's final check reads `status --json`.ok: a set field that does not match must
    make it false (here: the cache says what a run found; the config asks for more)."""
    warm(env, proxied=False)
    env.write_config(proxied=True, ttl=120)
    out = status(env)
    assert not out["ok"]
    assert "proxied is false, config says true" in out["message"]
    env.write_config(proxied=False, ttl=120)
    out = status(env)
    assert "ttl is 1, config says 120" in out["message"]
    [record] = out["records"]
    assert (record["ttl"], record["proxied"], record["comment"]) == (1, False, MARKER)


def test_a_state_file_from_before_settings_were_cached_reconciles_once(env: Env) -> None:
    warm(env)
    data = env.state()
    for r in data["records"].values():
        for key in ("ttl", "proxied", "comment"):
            del r[key]
    env.state_path.write_text(json.dumps(data))
    assert env.run(["update"]).code == 0
    assert env.calls() == ["GET list"]  # one list, nothing to write
    env.fake.clear_requests()
    assert env.run(["update"]).code == 0
    assert env.calls() == []


# ---- 2. one run at a time ---------------------------------------------------------------------

def spawn(env: Env) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "pi_ddns", "--config", str(env.config_path), "update"]
    child_env = {k: v for k, v in os.environ.items()
                 if k not in ("JOURNAL_STREAM", "CLOUDFLARE_API_TOKEN")}
    child_env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env)


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.02)


def test_two_runs_racing_through_an_address_change_end_in_agreement(env: Env) -> None:
    """Run A detects IP2 and its PATCH is slow; meanwhile the address moves to IP3 and run B
    starts. Without a lock B writes IP3 first and A's late PATCH puts the older IP2 back. With
    it, B waits for A, then detects IP3 itself: Cloudflare, the cache and status agree."""
    warm(env)
    env.fake.set_ip(ipv4=IP2)
    env.fake.add_fault(method="PATCH", path="/dns_records/", delay=1.5, times=1)
    a = spawn(env)
    wait_for(lambda: env.fake.requests(method="PATCH"))  # A is inside its slow PATCH
    env.fake.set_ip(ipv4=IP3)
    b = spawn(env)
    out_a, out_b = a.communicate(timeout=60), b.communicate(timeout=60)
    assert (a.returncode, b.returncode) == (0, 0), (out_a, out_b)
    [record] = env.records("A")
    assert record["content"] == IP3
    assert env.state()["records"][f"A {NAME}"]["content"] == IP3
    out = status(env)
    assert out["ok"], out
    assert [r["body"]["content"] for r in env.fake.requests(method="PATCH")] == [IP2, IP3]


HOLDER = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.lockf(fd, os.F_LOCK, 0)
os.ftruncate(fd, 0)
print("held", flush=True)
sys.stdin.read()
"""


def test_a_run_that_cannot_get_the_lock_stops_with_75_and_touches_nothing(
        env: Env, tmp_path: Path) -> None:
    warm(env, run_timeout=4.0)  # waits min(10 s, run_timeout / 2) = 2 s
    env.fake.set_ip(ipv4=IP2)
    state_before = env.state_path.read_bytes()
    lock = env.state_path.with_name(env.state_path.name + ".lock")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        started = time.monotonic()
        result = env.run(["update"])
        waited = time.monotonic() - started
        assert result.code == EX_TEMPFAIL
        [line] = result.lines
        assert f"another pi-ddns update is running (pid {holder.pid}" in line
        assert 1.5 <= waited < 6
        assert env.fake.requests() == []
        assert env.state_path.read_bytes() == state_before
        assert env.records("A")[0]["content"] == IP1
        # status and check-config do not take the lock: they answer at once
        started = time.monotonic()
        assert env.run(["status", "--json"]).code == EX_TEMPFAIL  # out of sync: IP2 detected
        assert env.run(["check-config"]).code == EX_OK
        assert time.monotonic() - started < 1.5
    finally:
        holder.communicate("", timeout=10)
    assert env.run(["update"]).code == 0  # the lock is free again
    assert env.records("A")[0]["content"] == IP2
    assert lock.read_bytes() == b""  # the holder is found in /proc/locks: a run writes nothing


def test_a_fifo_planted_at_the_lock_is_refused_at_once(env: Env) -> None:
    warm(env)
    lock = env.state_path.with_name(env.state_path.name + ".lock")
    lock.unlink()
    os.mkfifo(lock)
    env.fake.set_ip(ipv4=IP2)
    result = env.run(["update"])
    assert result.code == EX_CONFIG
    assert "the run lock is not a regular file" in result.err


# ---- 3. the whole run has a deadline ----------------------------------------------------------

def test_the_api_calls_share_the_runs_budget(env: Env) -> None:
    """Per call the deadline would be 2 x 5 s + 1 s; the run's budget of 3 s stops it first."""
    warm(env, run_timeout=3.0)
    env.fake.set_ip(ipv4=IP2)
    state_before = env.state()
    env.fake.add_fault(method="GET", path="/dns_records$", delay=4.0, times=1)
    started = time.monotonic()
    result = env.run(["update"])
    took = time.monotonic() - started
    assert result.code == EX_TEMPFAIL
    [line] = [x for x in result.lines if "error" in x]
    assert "time budget (3 s, run_timeout) ran out while listing all records at " \
           f"{NAME}" in line
    assert took < 4.0
    after = env.state()
    assert after["records"] == state_before["records"]  # the cache is intact
    assert after["last_run"]["exit_code"] == EX_TEMPFAIL
    assert env.records("A")[0]["content"] == IP1


def test_a_slow_detection_spends_the_budget_and_nothing_is_written(env: Env) -> None:
    warm(env, run_timeout=1.0)
    env.fake.set_ip(ipv4=IP2)
    env.fake.set_echo("/ip", delay=1.2, times=1)
    result = env.run(["update"])
    assert result.code == EX_TEMPFAIL
    assert "ran out while detecting the address" in result.err
    assert env.fake.requests() == []


def test_the_default_budget_is_below_the_units_timeout() -> None:
    from pi_ddns.settings import SETTINGS

    unit = (REPO / "roles/ddns/templates/pi-ddns.service.j2").read_text()
    defaults = (REPO / "roles/ddns/defaults/main.yml").read_text()
    assert "TimeoutStartSec={{ ddns_run_timeout | int + 60 }}" in unit
    assert "ddns_run_timeout: 240" in defaults
    assert SETTINGS["run_timeout"].default == 240.0


# ---- 4. a failure before detection is pinged too ----------------------------------------------

class _Pings(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.seen.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def pings() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pings)
    _Pings.seen = []
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ping/abc", _Pings.seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_missing_token_is_pinged_as_a_failure(
        env: Env, pings: tuple[str, list[tuple[str, str]]]) -> None:
    url, seen = pings
    env.token_path.unlink()
    env.write_config(healthcheck_url=url)
    result = env.run(["update"])
    assert result.code == EX_CONFIG
    assert len(seen) == 1
    path, body = seen[0]
    assert path.startswith("/ping/abc/78")  # Healthchecks: the exit code is a failure
    assert "no API token" in body
    assert env.fake.requests() == []


# ---- 5. only an active zone is used ----------------------------------------------------------

@pytest.mark.parametrize("status_", ["pending", "moved", "deactivated", "initializing"])
def test_a_zone_that_is_not_active_is_never_written_to(env: Env, status_: str) -> None:
    env.fake.state.zones.clear()
    env.fake.add_zone(ZONE, status=status_)
    result = env.run(["update"])
    assert result.code == EX_CONFIG
    [line] = result.lines[-1:]
    assert f"zone {ZONE} is not active at Cloudflare (status '{status_}')" in line
    assert [r["method"] for r in env.fake.requests()] == ["GET"]
    assert env.fake.records() == []


def test_the_active_zone_is_chosen_over_a_pending_one_listed_first(env: Env) -> None:
    active = next(iter(env.fake.state.zones.values()))
    env.fake.state.zones.clear()
    pending = env.fake.add_zone(ZONE, status="pending")
    env.fake.state.zones[active["id"]] = active
    assert [z["status"] for z in env.fake.state.zones.values()] == ["pending", "active"]
    result = env.run(["update"])
    assert result.code == 0, result.err
    [record] = env.fake.records()
    assert record["zone_id"] == active["id"] != pending["id"]


def test_an_answer_that_did_not_take_a_setting_is_not_trusted(env: Env) -> None:
    warm(env)
    env.write_config(proxied=True)

    def unproxied(status: int, payload: dict[str, Any]) -> dict[str, Any]:
        payload["result"]["proxied"] = False
        return payload

    env.fake.add_fault(method="PATCH", path="/dns_records/", mutate=unproxied)
    result = env.run(["update"])
    assert result.code == EX_TEMPFAIL
    assert "the answer says proxied false, not the true sent" in result.err
    assert not status(env)["ok"]
    env.fake.clear_faults()
    assert env.run(["update"]).code == 0
    assert status(env)["ok"]
