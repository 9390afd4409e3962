# ruff: noqa: S101
"""Issue 14's three promises for a fleet of 500 Pis, on the simulation in sim.py.

Run with the updater's venv (it drives pi_ddns) from the repo root:
    updater/.venv/bin/python -m pytest tests/fleet
"""

from __future__ import annotations

import collections
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sim


@pytest.fixture(scope="module")
def fleet() -> sim.Result:
    return sim.simulate(500)


def test_first_converge_of_500_never_meets_a_429(fleet: sim.Result) -> None:
    converge = fleet.phases[0]
    budget = fleet.settings["fleet"]["ddns_api_budget"]
    assert converge.requests == 3 * 500  # zone lookup, list, create: every Pi ran
    assert converge.refused == 0
    assert converge.peak <= budget  # in every 300 s window, not only the limiter's


def test_a_day_with_one_address_change_stays_inside_the_limit(fleet: sim.Result) -> None:
    day = fleet.phases[1]
    # every Pi: a list and a PATCH for the new address, and a zone lookup for its reconcile
    # (4 requests, or 3 where the two fall in the same run)
    assert day.requests >= 3 * 500
    assert day.refused == 0
    assert day.peak <= sim.LIMIT
    assert day.reconciles <= 25  # the spread: the play put ~150 in a window


def test_a_429_storm_ends_with_every_record_right(fleet: sim.Result) -> None:
    """Another tool of the account gets every call blocked for 5 minutes while all 500 Pis
    need a write. A run that meets the block in the last run_timeout (240 s) of it waits out
    the Retry-After; one that meets it earlier stops with 75 and its timer tries again. So
    every record is right within a timer period (5 min + 45 s) of the block's end, less
    run_timeout, give or take a minute; runs that only failed on 429 would take the whole
    period."""
    storm = fleet.phases[2]
    assert storm.refused > 0  # the storm happened
    assert fleet.wrong == []
    assert fleet.block_over > 300
    assert fleet.storm_over <= fleet.block_over + 345 - 240 + 60


@pytest.mark.parametrize(("budget", "records", "ipv6"), [
    (30, 1, False), (120, 2, True), (400, 1, False),
])
def test_the_play_keeps_under_any_budget(budget: int, records: int, ipv6: bool) -> None:
    """The fake's limiter set to the budget itself: the first converge of a fleet big enough
    to fill a few windows is never refused, whatever the budget and the records per Pi."""
    run_requests = 1 + records * (2 + ipv6)
    pis = math.ceil(2.5 * budget / run_requests)
    settings = sim.role_settings(pis, records, ddns_api_budget=budget, ddns_ipv6_enabled=ipv6)
    assert not settings["fleet"]["__ddns_api_exempt"]
    result = sim.simulate(pis, settings=settings, converge_only=True, limit=budget,
                          records=records, ipv6=ipv6)
    converge = result.phases[0]
    assert converge.requests == pis * run_requests
    assert converge.refused == 0
    assert converge.peak <= budget


def test_without_the_pacing_the_limit_is_hit() -> None:
    """The same play with the holds taken out (a budget so large every host is exempt):
    Cloudflare refuses part of it. The simulation can fail."""
    settings = sim.role_settings(420, ddns_api_budget=10**6)  # 1,260 requests at once
    assert settings["fleet"]["__ddns_api_exempt"]
    result = sim.simulate(420, settings=settings, converge_only=True)
    assert result.phases[0].refused > 0


def test_the_spread_of_max_cache_age() -> None:
    """Each host's rendered max_cache_age lies in [half, all] of ddns_max_cache_age, fixed per
    host, and 500 of them fall at most a handful into any 5 minutes."""
    first = sim.role_settings(500)
    again = sim.role_settings(500)
    ages = first["max_cache_age"]
    assert ages == again["max_cache_age"]
    assert all(43200 <= a <= 86400 for a in ages.values())
    buckets = collections.Counter(a // 300 for a in ages.values())
    assert max(buckets.values()) <= 12  # a mean of 3.5
    off = sim.role_settings(3, ddns_reconcile_spread=False)["max_cache_age"]
    assert set(off.values()) == {86400}
