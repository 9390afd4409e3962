"""Fault injection and the rate limiter."""

from __future__ import annotations

import random
import socket
import time

import pytest

from fakes.server import FakeCloudflare
from fakes.tests.conftest import call, records_url

A = {"type": "A", "name": "home", "content": "81.2.69.160", "ttl": 1}


def test_status_fault_with_code_and_retry_after(fake: FakeCloudflare) -> None:
    fake.add_fault(method="GET", path="/zones$", status=429, retry_after=7, times=1)
    resp = call(f"{fake.api_url}/zones?name=example.com")
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "7"
    assert resp.json["errors"][0]["code"] == 971
    assert call(f"{fake.api_url}/zones?name=example.com").status == 200  # times=1 is used up
    assert [r["status"] for r in fake.requests()] == [429, 200]
    assert fake.requests()[0]["fault"] == 1


def test_custom_code_and_message(fake: FakeCloudflare) -> None:
    fake.add_fault(path="/zones", status=401, code=9109, message="Invalid access token")
    resp = call(f"{fake.api_url}/zones")
    assert resp.status == 401
    assert resp.json == {"success": False, "errors": [{"code": 9109, "message": "Invalid access token"}],
                         "messages": [], "result": None}


def test_raw_html_body_on_200(fake: FakeCloudflare) -> None:
    fake.add_fault(path="/zones", status=200, body="<html>maintenance</html>")
    resp = call(f"{fake.api_url}/zones")
    assert resp.status == 200
    assert resp.text == "<html>maintenance</html>"
    assert resp.headers["Content-Type"].startswith("text/html")


def test_invalid_json_with_json_content_type(fake: FakeCloudflare) -> None:
    fake.add_fault(path="/zones", body='{"success": tr', content_type="application/json")
    resp = call(f"{fake.api_url}/zones")
    assert (resp.status, resp.raw) == (200, b'{"success": tr')


def test_method_must_match(fake: FakeCloudflare) -> None:
    url = records_url(fake)
    fake.add_fault(method="POST", path="/dns_records$", status=500)
    assert call(url).status == 200
    assert call(url, "POST", A).status == 500
    assert fake.records() == []


def test_fault_forever_and_clear(fake: FakeCloudflare) -> None:
    url = records_url(fake)
    fake.add_fault(path="/dns_records", status=502)
    assert [call(url).status for _ in range(3)] == [502, 502, 502]
    fake.clear_faults()
    assert call(url).status == 200


def test_delay_makes_a_client_time_out(fake: FakeCloudflare) -> None:
    url = records_url(fake)
    fake.add_fault(path="/dns_records$", delay=0.6, times=1)
    with pytest.raises((TimeoutError, socket.timeout)):
        call(url, timeout=0.2)
    started = time.monotonic()
    assert call(url).status == 200
    assert time.monotonic() - started < 0.5


def test_slow_answer_is_the_real_answer(fake: FakeCloudflare) -> None:
    url = records_url(fake)
    fake.add_fault(path="/dns_records$", delay=0.2)
    started = time.monotonic()
    assert call(url).json["success"] is True
    assert time.monotonic() - started >= 0.2


def test_after_apply_creates_then_times_out(fake: FakeCloudflare) -> None:
    """A POST whose answer is lost after the server created the record."""
    url = records_url(fake)
    fake.add_fault(method="POST", path="/dns_records$", after_apply=True, delay=0.6, times=1)
    with pytest.raises((TimeoutError, socket.timeout)):
        call(url, "POST", A, timeout=0.2)
    assert [r["content"] for r in fake.records()] == ["81.2.69.160"]
    assert call(url, "POST", A).json["errors"][0]["code"] == 81057  # a blind retry duplicates nothing


def test_after_apply_with_an_error_status(fake: FakeCloudflare) -> None:
    url = records_url(fake)
    fake.add_fault(method="POST", path="/dns_records$", after_apply=True, status=500, times=1)
    assert call(url, "POST", A).status == 500
    assert len(fake.records()) == 1
    assert fake.requests(method="POST")[0]["status"] == 500


def test_stop_interrupts_a_hang() -> None:
    fake = FakeCloudflare(dns_port=None).start()
    fake.add_fault(path="/zones", delay=30)
    with pytest.raises((TimeoutError, socket.timeout)):
        call(f"{fake.api_url}/zones", timeout=0.2)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2


def test_bad_fault_rule_is_refused(fake: FakeCloudflare) -> None:
    with pytest.raises(ValueError, match="unknown fault keys"):
        fake.add_fault(stauts=500)
    resp = call(f"{fake.url}/_fake/faults", "POST", {"path": "(", "status": 500}, token=None)
    assert resp.status == 400


def test_rate_limit_with_an_injected_clock(fake: FakeCloudflare) -> None:
    now = [1000.0]
    fake.clock = lambda: now[0]
    fake.rate_limit(3, window=300)
    url = f"{fake.api_url}/zones?name=example.com"
    assert [call(url).status for _ in range(3)] == [200, 200, 200]
    now[0] += 100
    resp = call(url)
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "200"
    assert resp.json["errors"][0]["code"] == 971
    now[0] += 200  # the window ends
    assert call(url).status == 200
    assert fake.limiter is not None
    assert fake.limiter.rejected == 1
    fake.rate_limit(None)
    assert all(call(url).status == 200 for _ in range(5))


def test_rate_limit_clock_can_advance_over_http(fake: FakeCloudflare) -> None:
    ctl = f"{fake.url}/_fake"
    call(f"{ctl}/rate_limit", "PUT", {"requests": 1, "window": 300}, token=None)
    url = f"{fake.api_url}/zones"
    assert [call(url).status, call(url).status] == [200, 429]
    call(f"{ctl}/clock", "POST", {"advance": 301}, token=None)
    assert call(url).status == 200


def test_reset_restores_a_well_behaved_fake(fake: FakeCloudflare) -> None:
    url = records_url(fake)
    fake.add_fault(path="/dns_records", status=500)
    fake.set_echo("*", status=503)
    fake.rate_limit(1)
    assert fake.dns is not None
    fake.dns.configure(mode="timeout")
    assert call(f"{fake.url}/_fake/reset", "POST", token=None).status == 200
    assert call(url).status == 200
    assert call(url).status == 200
    assert call(f"{fake.url}/ip", token=None).text == "81.2.69.160"
    assert fake.dns.mode == "ok"
    assert len(fake.requests()) == 2


def test_rate_limit_answer_is_cloudflares(fake: FakeCloudflare) -> None:
    """429, Retry-After in whole seconds, error 971 in the envelope, and the documented
    Ratelimit / Ratelimit-Policy headers on every answer while the limiter is on."""
    now = [0.0]
    fake.clock = lambda: now[0]
    fake.rate_limit(2, window=300)
    url = f"{fake.api_url}/zones?name=example.com"
    first = call(url)
    assert first.headers["Ratelimit-Policy"] == '"default";q=2;w=300'
    assert first.headers["Ratelimit"] == '"default";r=1;t=300'
    call(url)
    now[0] = 99.5
    resp = call(url)
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "201"  # rounded up
    assert resp.headers["Ratelimit"] == '"default";r=0;t=201'
    assert resp.json == {"success": False, "messages": [], "result": None, "errors": [
        {"code": 971, "message": "Please wait and consider throttling your request speed"}]}


def test_rate_limit_block_refuses_everything_for_a_window(fake: FakeCloudflare) -> None:
    """The docs' "all API calls for the next five minutes will be blocked"."""
    now = [0.0]
    fake.clock = lambda: now[0]
    fake.rate_limit(1, window=300, block=True)
    url = f"{fake.api_url}/zones"
    assert call(url).status == 200
    now[0] = 250.0
    assert call(url).headers["Retry-After"] == "300"  # 5 minutes from the refusal
    now[0] = 310.0  # the first window is over, the block is not
    assert call(url).status == 429
    now[0] = 550.0
    assert call(url).status == 200
    assert fake.limiter is not None
    assert fake.limiter.rejected == 2


@pytest.mark.parametrize("block", [False, True])
def test_rate_limit_property_over_random_traffic(block: bool) -> None:
    """For any traffic: no window lets more than `limit` through, a request is refused only
    when its window is full (or blocked), and a retry after Retry-After is let through."""
    from fakes.faults import RateLimiter

    for seed in range(200):
        rng = random.Random(seed)  # noqa: S311 - traffic, not secrets
        now = _Clock()
        limit, window = rng.randint(1, 20), rng.choice([1.0, 10.0, 300.0])
        lim = RateLimiter(limit, window, now, block)
        passed: list[float] = []
        for _ in range(rng.randint(1, 300)):
            now.t += rng.expovariate(limit / window * rng.choice([0.5, 1, 3]))
            start_before = lim.start
            wait = lim.check()
            if wait is None:
                passed.append(now.t)
                assert lim.start is not None
                assert sum(1 for t in passed if lim.start <= t) <= limit
            else:
                assert wait >= 1
                assert float(wait).is_integer()
                full = start_before is not None and now.t - start_before < window
                assert full or lim.blocked_until is not None
                if rng.random() < 0.2:  # honour Retry-After once
                    now.t += wait
                    assert lim.check() is None
                    passed.append(now.t)
        assert lim.peak <= limit


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t
