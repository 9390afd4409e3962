"""Issue 14: a 429 from Cloudflare is waited out (its Retry-After, within the run's deadline),
not reported as a failure; what cannot be waited out ends quickly as 75, never after sleeping.

Against the fake's real rate limiter (fixed windows, Retry-After as Cloudflare sends it), its
429 fault rules, and a hostile server for the Retry-After values the fake cannot send.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import IP1, IP2, NAME, Env
from hostile import HostileServer
from pi_ddns.cfapi import RATE_LIMIT_BLIND, RATE_LIMIT_WAIT, _seconds
from pi_ddns.errors import EX_TEMPFAIL


def waits(lines: list[str]) -> list[str]:
    return [ln for ln in lines if "rate limited (HTTP 429); waiting" in ln]


def test_a_429_storm_with_retry_after_1_ends_with_the_record_right(env: Env) -> None:
    """The real limiter at one request per second: every other call is refused with
    Retry-After 1, and the run still creates the record, then follows an address change."""
    env.fake.rate_limit(1, window=1.0)
    began = time.monotonic()
    result = env.run(["update"])
    assert result.code == 0, result.err
    assert [r["content"] for r in env.records("A")] == [IP1]
    assert waits(result.lines), result.err
    assert all(ln.startswith("pi-ddns: notice: ") for ln in waits(result.lines))
    assert all("waiting 1 s (Retry-After)" in ln for ln in waits(result.lines))
    statuses = [r["status"] for r in env.fake.requests()]
    assert statuses.count(200) == 3  # zone, list, create: each done once
    assert statuses.count(429) == len(waits(result.lines))
    assert time.monotonic() - began >= len(waits(result.lines)) * 1.0 - 0.1
    env.fake.set_ip(ipv4=IP2)
    env.fake.clear_requests()
    assert env.run(["update"]).code == 0
    assert [r["content"] for r in env.records("A")] == [IP2]
    assert json.loads(env.state_path.read_text())["last_run"]["exit_code"] == 0


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
def test_a_429_on_any_call_is_retried_after_retry_after(env: Env, method: str) -> None:
    if method == "PATCH":
        assert env.run(["update"]).code == 0
        env.fake.set_ip(ipv4=IP2)
    env.fake.clear_requests()
    env.fake.add_fault(method=method, status=429, code=971, retry_after=1, times=2)
    result = env.run(["update"])
    assert result.code == 0, result.err
    assert [r["content"] for r in env.records("A")] == [IP2 if method == "PATCH" else IP1]
    assert len(waits(result.lines)) == 2
    # a refused create is sent again (the 429 was not carried out): still exactly one record
    assert len(env.records("A")) == 1


def test_a_retry_after_past_the_deadline_ends_at_once_with_75(env: Env) -> None:
    env.write_config(run_timeout=30.0)
    env.fake.add_fault(status=429, code=971, retry_after=600)
    began = time.monotonic()
    result = env.run(["update"])
    elapsed = time.monotonic() - began
    assert result.code == EX_TEMPFAIL
    assert elapsed < 5, elapsed  # not after sleeping 600 s, nor 30
    assert waits(result.lines) == []
    assert "Retry-After 600 s" in result.lines[-1]
    assert "waiting 600 s does not fit in what is left of the run's time budget" in \
        result.lines[-1]
    assert len(env.fake.requests()) == 1
    assert env.records() == []


def test_waits_stop_when_the_deadline_is_near(env: Env) -> None:
    """Retry-After 2 fits at first; the run keeps waiting only while a wait still fits."""
    env.write_config(run_timeout=6.0)
    env.fake.add_fault(status=429, code=971, retry_after=2)
    began = time.monotonic()
    result = env.run(["update"])
    elapsed = time.monotonic() - began
    assert result.code == EX_TEMPFAIL
    assert elapsed < 6.0  # ended inside run_timeout, by itself
    assert 1 <= len(waits(result.lines)) <= 2
    assert "does not fit" in result.lines[-1]


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer().start()
    yield server
    server.stop()


BODY = json.dumps({"success": False, "errors": [{"code": 971, "message": "Please wait"}],
                   "messages": [], "result": None}).encode()


@pytest.mark.parametrize("header", [None, "soon", "Wed, 21 Oct 2026 07:28:00 GMT"])
def test_no_usable_retry_after_waits_the_default_a_few_times(
        env: Env, hostile: HostileServer, header: str | None) -> None:
    extra = f"Retry-After: {header}\r\n".encode() if header is not None else b""
    hostile.answer = (b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                      + extra + f"Content-Length: {len(BODY)}\r\n".encode()
                      + b"Connection: close\r\n\r\n" + BODY)
    cfg = env.base_config()
    cfg["cloudflare"] = {"api_url": hostile.url + "/client/v4", "timeout": 2.0, "retries": 0}
    env.write_config(**cfg)
    began = time.monotonic()
    result = env.run(["update"])
    elapsed = time.monotonic() - began
    assert result.code == EX_TEMPFAIL
    assert len(hostile.requests) == RATE_LIMIT_BLIND + 1
    assert len(waits(result.lines)) == RATE_LIMIT_BLIND
    assert all(f"waiting {RATE_LIMIT_WAIT:g} s (no usable Retry-After" in ln
               for ln in waits(result.lines))
    assert f"gave up after {RATE_LIMIT_BLIND + 1} tries without a usable Retry-After" in \
        result.lines[-1]
    assert elapsed < RATE_LIMIT_BLIND * RATE_LIMIT_WAIT + 3


@given(st.text(max_size=30) | st.from_regex(r"\A\s*[0-9]{1,12}(\.[0-9]{0,8})?\s*\Z"))
def test_property_retry_after_is_seconds_or_nothing(text: str) -> None:
    """Any header value: a finite, non-negative number of seconds, or None (then the bounded
    default). Never an exception, never NaN, never a negative or an absurd wait."""
    got = _seconds(text)
    if got is not None:
        assert math.isfinite(got)
        assert 0 <= got < 1e9
        assert text.strip().replace(".", "", 1).isdigit()


def test_the_sdk_sleeps_on_no_429_itself(env: Env) -> None:
    """With the SDK's own retries on (retries = 3), a 429 still costs one request per wait
    that pi-ddns announces: the SDK does not add hidden sleeps of its own."""
    cfg = env.base_config()
    cfg["cloudflare"] = {**cfg["cloudflare"], "retries": 3}
    env.write_config(**cfg)
    env.fake.add_fault(status=429, code=971, retry_after=1, times=2)
    result = env.run(["update"])
    assert result.code == 0, result.err
    statuses = [r["status"] for r in env.fake.requests()]
    assert statuses.count(429) == 2 == len(waits(result.lines))
    assert NAME in result.lines[-1]
