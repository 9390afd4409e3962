"""`pi-ddns update --dry-run`: the role's trial of a config, with the very bytes it installs.

A dry run reads Cloudflare (the zone, then every configured name) and prints the plan. It never
reads or writes the state file, never takes the run lock, never pings a healthcheck, never
notifies and never writes metrics: so the trial works before the Pi has a state directory, and
leaves no trace. Every test here gives it a world in which any of those would show.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.notify import NotifyReceiver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import IP1, IP2, MARKER, NAME, Env
from pi_ddns.errors import EX_CONFIG, EX_UNAVAILABLE

FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                              HealthCheck.too_slow], deadline=None,
                       max_examples=40)


@pytest.fixture
def receiver() -> Iterator[NotifyReceiver]:
    r = NotifyReceiver().start()
    yield r
    r.stop()


def loud(env: Env, receiver: NotifyReceiver, state_file: Path) -> Path:
    """A config with every side channel on, all pointed at things the test watches."""
    metrics = env.tmp / "metrics"
    metrics.mkdir(exist_ok=True)
    env.write_config(state_file=str(state_file), metrics_dir=str(metrics),
                     healthcheck_url=receiver.url + "/hc/uuid-1",
                     notify={"webhook_url": receiver.url + "/hook",
                             "ntfy_url": receiver.url + "/topic",
                             "ntfy_token_file": str(env.tmp / "no-such-ntfy-token"),
                             "kuma_url": receiver.url + "/api/push/abc?ping="})
    return metrics


@pytest.mark.parametrize("where", ["missing directory", "under a regular file"])
def test_a_dry_run_needs_no_state_directory_and_sends_nothing(
        env: Env, receiver: NotifyReceiver, where: str) -> None:
    if where == "missing directory":
        state_file = env.tmp / "missing" / "dir" / "state.json"
    else:
        (env.tmp / "a-file").write_text("")
        state_file = env.tmp / "a-file" / "state.json"  # ENOTDIR: nothing can be made here
    metrics = loud(env, receiver, state_file)
    result = env.run(["update", "--dry-run"])
    assert result.code == 0, result.err
    assert result.out == f"would have created A {NAME} {IP1}\n"
    assert env.calls() == ["GET zones", "GET list"]
    assert env.records() == []
    assert receiver.got == []  # no healthcheck ping, no notification
    assert list(metrics.iterdir()) == []
    assert not (env.tmp / "missing").exists()
    assert "state" not in result.err
    assert "lock" not in result.err


@pytest.mark.parametrize("failure", ["detection", "token", "api"])
def test_a_failed_dry_run_pings_and_notifies_nothing(env: Env, receiver: NotifyReceiver,
                                                     failure: str) -> None:
    metrics = loud(env, receiver, env.state_path)
    if failure == "detection":
        env.fake.set_echo("/ip", status=503)
    elif failure == "token":
        env.write_token("CHANGE_ME\n")
    else:
        env.fake.add_fault(method="GET", path="/zones$", status=403, code=10000)
    result = env.run(["update", "--dry-run"])
    assert result.code != 0
    assert result.code == {"detection": EX_UNAVAILABLE, "token": EX_CONFIG}.get(failure,
                                                                               result.code)
    assert receiver.got == []
    assert list(metrics.iterdir()) == []
    assert sorted(p.name for p in env.state_path.parent.iterdir()) == []  # no state, no lock


def test_a_dry_run_after_a_real_one_looks_up_afresh_and_leaves_the_state(env: Env) -> None:
    assert env.run(["update"]).code == 0
    before = env.state_path.read_bytes()
    stamp = env.state_path.stat().st_mtime_ns
    env.fake.set_ip(ipv4=IP2)
    env.fake.clear_requests()
    result = env.run(["update", "--dry-run"])
    assert result.code == 0
    assert env.calls() == ["GET zones", "GET list"]  # the cache is not used, even warm
    assert result.out == f"would have updated A {NAME} {IP1} -> {IP2}\n"
    assert env.records()[0]["content"] == IP1
    assert env.state_path.read_bytes() == before
    assert env.state_path.stat().st_mtime_ns == stamp
    # in sync: still a full lookup, and "no change"
    env.fake.set_ip(ipv4=IP1)
    env.fake.clear_requests()
    result = env.run(["update", "--dry-run"])
    assert (result.code, result.out) == (0, "no change\n")
    assert env.calls() == ["GET zones", "GET list"]


def test_a_dry_run_does_not_wait_for_the_run_lock(env: Env) -> None:
    lock = env.state_path.with_name("state.json.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)  # held here; the child is another process
        result = env.spawn(["update", "--dry-run"], timeout=20)
    finally:
        os.close(fd)
    assert result.code == 0, result.err
    assert "another pi-ddns update is running" not in result.err


STATES = st.one_of(
    st.binary(max_size=200),
    st.fixed_dictionaries({
        "version": st.just(1),
        "zone": st.fixed_dictionaries({"name": st.just("example.com"),
                                       "id": st.sampled_from(["0" * 32, "f" * 32])}),
        "records": st.dictionaries(
            st.sampled_from([f"A {NAME}", f"AAAA {NAME}"]),
            st.fixed_dictionaries({"id": st.sampled_from(["a" * 32, "b" * 32]),
                                   "content": st.sampled_from([IP1, IP2]),
                                   "changed_at": st.just("2026-11-29T00:00:00+00:00"),
                                   "comment": st.sampled_from([MARKER, None])})),
        "last_reconcile": st.sampled_from(["2026-11-30T00:00:00+00:00", "2099-01-01T00:00:00"
                                           "+00:00"]),
    }).map(lambda d: json.dumps(d).encode()),
)


@FIXTURES_OK
@given(state=STATES, ip=st.sampled_from([IP1, IP2]), exists=st.booleans())
def test_property_the_plan_does_not_depend_on_the_state_file(env: Env, state: bytes, ip: str,
                                                             exists: bool) -> None:
    """Whatever the state file holds (garbage, a warm cache that agrees or disagrees), a dry
    run says and asks exactly what it says and asks with no state file at all."""
    with env.fake.lock:
        env.fake.state.records.clear()
    if exists:
        env.fake.seed_record(NAME, "A", IP1, comment=MARKER)
    env.fake.set_ip(ipv4=ip)
    for p in env.state_path.parent.iterdir():
        p.unlink()
    env.fake.clear_requests()
    bare = env.run(["update", "--dry-run"])
    bare_calls = env.api_calls()

    env.state_path.write_bytes(state)
    env.fake.clear_requests()
    result = env.run(["update", "--dry-run"])
    assert (result.code, result.out) == (bare.code, bare.out)
    assert env.api_calls() == bare_calls
    assert env.state_path.read_bytes() == state
    assert sorted(p.name for p in env.state_path.parent.iterdir()) == ["state.json"]


def test_the_roles_trial_token_on_stdin_and_no_state_directory(env: Env) -> None:
    """The role's trial: the rendered config, the token on stdin (no file, no argument, no
    environment variable holds it), on a Pi without a state directory yet."""
    env.token_path.unlink()
    env.state_path.parent.rmdir()
    token = "test-token-0123456789abcdef"
    result = env.spawn(["update", "--dry-run", "--token-stdin"], input_text=token + "\n")
    assert (result.code, result.out) == (0, f"would have created A {NAME} {IP1}\n"), result.err
    assert token not in result.err
    assert not env.state_path.parent.exists()
    result = env.spawn(["update", "--dry-run", "--token-stdin"], input_text="")
    assert result.code == EX_CONFIG
    assert result.err == "pi-ddns: error: --token-stdin: the token is empty\n"
