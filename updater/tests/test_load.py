"""Load and long-run behaviour (issue 5) against the fake, with fast-forwarded clocks.

- Many records: 50 records across 2 zones (the config holds one zone, so one config per zone,
  sharing one token and so one rate limit), with Cloudflare's limit of 1200 requests per 5 min.
- A simulated week: 2,000 timer cycles of `pi-ddns update`, in-process, with a scripted sequence
  of address changes, source outages, hostile answers and API errors. Time is passed to
  `cli.main(now=...)` (the updater's clock seam) and to the fake's rate limiter; nothing sleeps.
"""

from __future__ import annotations

import http.client
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import IP1, IP2, IP3, TOKEN, Env, toml_dumps
from pi_ddns import cli, state
from pi_ddns.errors import EX_TEMPFAIL, EX_UNAVAILABLE

T0 = 1_795_651_200.0  # 2026-11-26 00:00 UTC
ZONES = ("example.com", "example.org")
PER_ZONE = 25


class Clock:
    """The one clock of a test: the updater's `now` and the fake's rate limiter read it."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@dataclass
class Site:
    """One zone's config, state file and record names."""

    zone: str
    config: Path
    state: Path
    names: list[str] = field(default_factory=list)


def make_site(env: Env, zone: str, names: list[str], **extra: Any) -> Site:
    site = Site(zone, env.tmp / f"{zone}.toml", env.tmp / "state" / f"{zone}.json", names)
    data: dict[str, Any] = {
        "zone": zone, "records": names, "state_file": str(site.state),
        "token_file": str(env.token_path), **extra,
        "cloudflare": {"api_url": env.fake.api_url, "timeout": 5.0, "retries": 0},
        "ipv4": {"timeout": 5.0, "sources": [{"type": "http", "url": env.fake.url + "/ip"}]},
    }
    site.config.write_text(toml_dumps(data))
    return site


def update(env: Env, site: Site, clock: Clock, *args: str) -> tuple[int, list[str]]:
    env.capsys.readouterr()
    code = cli.main(["--config", str(site.config), "update", *args], now=clock)
    return code, env.capsys.readouterr().err.splitlines()


def contents(env: Env, site: Site) -> dict[str, str]:
    return {r["name"]: r["content"] for r in env.fake.records(zone=site.zone)}


def cached(site: Site) -> dict[str, str]:
    data = json.loads(site.state.read_text())
    return {key.split()[1]: r["content"] for key, r in data["records"].items()}


def writes(env: Env) -> list[dict[str, Any]]:
    return [r for r in env.fake.requests() if r["method"] in ("PATCH", "POST", "PUT")]


def burn(env: Env, n: int) -> None:
    """Another client of the same account spends n requests of the rate-limit window."""
    host, port = env.fake.url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=10)
    try:
        for _ in range(n):
            conn.request("GET", "/client/v4/zones?name=example.net",
                         headers={"Authorization": f"Bearer {TOKEN}"})
            conn.getresponse().read()
    finally:
        conn.close()


@pytest.fixture
def two_zones(env: Env) -> Iterator[tuple[Clock, list[Site]]]:
    clock = Clock()
    env.fake.clock = clock
    env.fake.add_zone(ZONES[1])
    env.fake.rate_limit(1200, window=300)
    # run_timeout below the limiter's windows: a 429 here cannot be waited out within a run
    # (test_rate_limit.py has the waits that fit), so each timer run ends with 75 at once.
    sites = [make_site(env, z, [f"h{i:02d}.{z}" for i in range(PER_ZONE)], run_timeout=30.0)
             for z in ZONES]
    for site in sites:  # first runs: zone + one list and one create per record
        env.fake.clear_requests()
        code, lines = update(env, site, clock)
        assert code == 0, lines
        assert len(env.fake.requests()) == 1 + 2 * PER_ZONE
        assert set(contents(env, site).values()) == {IP1}
    env.fake.clear_requests()
    yield clock, sites
    env.fake.rate_limit(None)


def test_one_address_change_costs_one_list_and_one_patch_per_record(env: Env,
                                                       two_zones: tuple[Clock, list[Site]]) -> None:
    clock, sites = two_zones
    env.fake.set_ip(ipv4=IP2)
    clock.t += 300
    for site in sites:
        code, lines = update(env, site, clock)
        assert code == 0, lines
        assert lines[-1].startswith(f"pi-ddns: notice: updated A h00.{site.zone} {IP1} -> {IP2}")
        assert set(contents(env, site).values()) == {IP2}
        assert cached(site) == contents(env, site)
    log = env.fake.requests()
    # each record has its own name: a list at the name, then the PATCH of the id it shows
    assert [r["method"] for r in log] == ["GET", "PATCH"] * (2 * PER_ZONE)
    assert len({r["path"] for r in log if r["method"] == "PATCH"}) == 2 * PER_ZONE
    assert all(r["status"] == 200 for r in log)
    env.fake.clear_requests()
    clock.t += 300
    for site in sites:
        assert update(env, site, clock)[0] == 0
    assert env.fake.requests() == []


def test_429_midway_leaves_the_rest_for_the_next_run(env: Env,
                                                     two_zones: tuple[Clock, list[Site]]) -> None:
    clock, sites = two_zones
    first, second = sites
    clock.t += 300  # a fresh rate-limit window...
    burn(env, 1200 - 10)  # ...nearly spent by another client of the account
    env.fake.clear_requests()
    env.fake.set_ip(ipv4=IP2)

    code, lines = update(env, first, clock)
    assert code == EX_TEMPFAIL
    assert "rate limited" in lines[-1]
    assert "Retry-After" in lines[-1]
    assert sum("before the failure: updated" in line for line in lines) == 1
    statuses = [r["status"] for r in env.fake.requests()]
    assert statuses == [200] * 10 + [429]  # stops at the first 429: no hammering
    done = contents(env, first)
    assert sorted(done.values()) == [IP1] * (PER_ZONE - 5) + [IP2] * 5  # list + PATCH each
    assert cached(first) == done  # the state says exactly what Cloudflare has

    # more timer runs in the same window: one request each, exit 75, nothing else
    for _ in range(3):
        clock.t += 60
        env.fake.clear_requests()
        code, _ = update(env, first, clock)
        assert code == EX_TEMPFAIL
        assert [r["status"] for r in env.fake.requests()] == [429]
        assert cached(first) == contents(env, first) == done
    assert json.loads(first.state.read_text())["last_run"]["exit_code"] == EX_TEMPFAIL

    # the window ends: the next runs finish the rest, one list and one PATCH per record
    clock.t += 300
    env.fake.clear_requests()
    for site in sites:
        code, lines = update(env, site, clock)
        assert code == 0, lines
        assert set(contents(env, site).values()) == {IP2}
        assert cached(site) == contents(env, site)
    assert [r["method"] for r in env.fake.requests()] == ["GET", "PATCH"] * (PER_ZONE - 5
                                                                             + PER_ZONE)
    assert json.loads(second.state.read_text())["last_run"]["exit_code"] == 0


# ---- a simulated week ------------------------------------------------------------------------

PERIOD = 300.0  # the timer
CYCLES = 2000  # 2000 x 5 min = 6.9 days
MAX_CACHE_AGE = 86400.0
WEEK_NAMES = ["home.example.com", "nas.example.com"]
HOSTILE = ["<html><body>502 Bad Gateway</body></html>", "", "10.0.0.1", "100.64.0.1",
           "104.16.132.229", f"{IP2}\n{IP3}", "127.0.0.1"]


@dataclass
class Event:
    ip: str | None = None  # the home's address changes
    outage: int = 0  # the source answers 503 for this many cycles
    hostile: str | None = None  # the source answers this (one cycle)
    api: dict[str, Any] | None = None  # one API fault rule (times=1)
    edit: bool = False  # someone changes home.example.com by hand in the dashboard


def script(rng: random.Random) -> dict[int, Event]:
    """~20 address changes, ~15 outages, ~15 hostile answers, ~12 API errors, in 2000 cycles."""
    events: dict[int, Event] = {}
    ips = [IP1, IP2, IP3]
    current = IP1
    api_faults = [
        {"method": "PATCH", "status": 500},
        {"method": "PATCH", "status": 502, "body": "<html>bad gateway</html>"},
        {"method": "PATCH", "status": 429, "retry_after": 600},  # past run_timeout: 75
        {"method": "PATCH", "status": 500, "after_apply": True},  # done, but the answer is lost
        {"method": "PATCH", "status": 200, "body": "<html>maintenance</html>"},
        {"method": "GET", "path": "/zones$", "status": 503},
        {"method": "GET", "path": "/dns_records$", "status": 500},
    ]
    for cycle in range(1, CYCLES):
        roll = rng.random()
        if roll < 0.01:
            current = rng.choice([ip for ip in ips if ip != current])
            ev = Event(ip=current)
            if rng.random() < 0.5:  # an API error right when it matters
                ev.api = dict(rng.choice(api_faults))
            events[cycle] = ev
        elif roll < 0.0175:
            events[cycle] = Event(outage=rng.randint(1, 12))
        elif roll < 0.025:
            events[cycle] = Event(hostile=rng.choice(HOSTILE))
        elif roll < 0.028:
            events[cycle] = Event(api=dict(rng.choice(api_faults)))
        elif roll < 0.0295:
            events[cycle] = Event(edit=True)
    # two quiet days with a hand edit that only the daily reconcile can catch
    day = int(MAX_CACHE_AGE / PERIOD)
    for start in (600, 1400):
        end = start + day + 40
        for cycle in range(start, end):  # postpone the address changes of the window
            if cycle in events and events[cycle].ip:
                later = next(c for c in range(end, CYCLES) if c not in events)
                events[later] = events.pop(cycle)
        events[start] = Event(edit=True)
    return events


def edit_by_hand(env: Env, name: str, content: str) -> None:
    with env.fake.lock:
        [record] = [r for r in env.fake.state.records.values() if r["name"] == name]
        record["content"] = content


def check_state(env: Env, site: Site, code: int, clock: Clock, last_cached: dict[str, str],
                edited: str | None) -> dict[str, str]:
    """The state file is valid after every cycle and agrees with Cloudflare (except for a
    record edited by hand since the last reconcile: the cache cannot know)."""
    data = json.loads(site.state.read_text())
    assert state.load(site.state).zones[site.zone].id == data["zones"][site.zone]["id"]
    assert data["last_run"]["exit_code"] == code
    ids = {r["name"]: r["id"] for r in env.fake.records()}
    now_cached = cached(site)
    for name, content in now_cached.items():
        assert data["records"][f"A {name}"]["id"] == ids[name]
        if code == 0 and name != edited:
            assert content == contents(env, site)[name], name
        elif name != edited:  # a lost answer leaves the cache behind, never ahead or elsewhere
            assert content in (contents(env, site)[name], last_cached.get(name))
    if code == 0:  # a successful run never trusts a cache older than max_cache_age
        age = state.age(data["last_reconcile"], clock.t)
        assert age is not None
        assert 0 <= age < MAX_CACHE_AGE
    return now_cached


def test_a_simulated_week(env: Env) -> None:
    clock = Clock()
    env.fake.clock = clock
    env.fake.rate_limit(1200, window=300)
    site = make_site(env, "example.com", WEEK_NAMES, max_cache_age=MAX_CACHE_AGE)
    events = script(random.Random(5))  # noqa: S311 - a reproducible script, not crypto
    valid = IP1  # the home's current address (what the sources say when they work)
    outage_left = 0
    changes = 1  # the first run creates the records
    faults_injected = 0
    edits: list[float] = []  # when each pending dashboard edit happened
    repaired = by_reconcile = 0
    seen_reconciles: set[str] = set()
    codes: dict[int, int] = {}
    last_cached: dict[str, str] = {}
    total = 0

    for cycle in range(CYCLES):
        clock.t = T0 + cycle * PERIOD
        env.fake.clear_requests()
        env.fake.clear_faults()
        ev = events.get(cycle, Event())
        if ev.ip is not None and ev.ip != valid:
            valid = ev.ip
            changes += 1
        outage_left = max(outage_left - 1, ev.outage)
        env.fake.set_ip(ipv4=valid)  # also clears the echo overrides
        if outage_left:
            env.fake.set_echo("/ip", status=503, body="Service Unavailable")
        elif ev.hostile is not None:
            env.fake.set_echo("/ip", body=ev.hostile)
        if ev.api is not None:
            env.fake.add_fault(**ev.api, times=1)
        if ev.edit:
            edit_by_hand(env, WEEK_NAMES[0], IP3 if valid != IP3 else IP2)
            edits.append(clock.t)
        source_ok = not outage_left and ev.hostile is None

        code, lines = update(env, site, clock)
        codes[code] = codes.get(code, 0) + 1
        log = env.fake.requests()
        total += len(log)
        faults_injected += sum(r["fault"] is not None for r in log)

        # never publish anything but the current valid address
        for w in writes(env):
            assert w["body"]["content"] == valid, (cycle, w)
        if source_ok:
            assert code in (0, EX_TEMPFAIL), (cycle, lines)
        else:
            assert code == EX_UNAVAILABLE, (cycle, lines)
            assert log == []
        if edits and contents(env, site)[WEEK_NAMES[0]] == valid:
            repaired += len(edits)
            by_reconcile += any(r["path"].endswith("/dns_records") for r in log)
            edits.clear()
        if code == 0:  # a hand edit is caught within max_cache_age, everything else at once
            assert not edits or clock.t - edits[0] < MAX_CACHE_AGE, cycle
            assert set(contents(env, site).values()) == {valid} or edits, cycle
            assert len(env.fake.records()) == len(WEEK_NAMES)
        last_cached = check_state(env, site, code, clock, last_cached,
                                  WEEK_NAMES[0] if edits else None)
        seen_reconciles.add(json.loads(site.state.read_text())["last_reconcile"])

    reconciles = len(seen_reconciles)
    days = (CYCLES * PERIOD) / MAX_CACHE_AGE
    assert reconciles <= int(days) + 2  # the cold start + one per max_cache_age (+ a retry)
    per_reconcile = 1 + len(WEEK_NAMES)  # zone + one list per name
    # a change: one list and one PATCH per name
    budget = (changes * 2 * len(WEEK_NAMES) + reconciles * per_reconcile
              + faults_injected * per_reconcile + repaired)
    assert total <= budget, (total, budget, changes, reconciles, faults_injected)
    assert changes >= 15
    assert faults_injected >= 8
    assert by_reconcile >= 2
    assert codes.get(EX_UNAVAILABLE, 0) >= 20
    assert codes.get(EX_TEMPFAIL, 0) >= 8
    print(f"\nweek: {CYCLES} cycles, {changes} changes, {reconciles} reconciles, "
          f"{faults_injected} API faults, {repaired} hand edits repaired ({by_reconcile} by "
          f"the daily reconcile), exit codes {codes}, "
          f"{total} API requests "
          f"(budget {budget})")
