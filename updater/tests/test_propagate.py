"""Issue 12, proof of propagation: real CLI runs against the fake Cloudflare and its
authoritative nameserver (two loopback addresses, one port, as a zone has two servers).

After a change the run asks every nameserver (RD=0) until it answers the new content; a lag
within the wait is waited out, a stale server past the wait is one warning and exit 0; a run
without a change, a dry run or a disabled check sends no DNS question at all (counted at the
fake); the wait ends with run_timeout. The metrics carry the time and the verdict.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.openapi import find_spec
from fakes.server import FakeCloudflare

from conftest import IP1, IP2, IP3, NAME, Env, probe
from pi_ddns import metrics
from pi_ddns.errors import EX_CONFIG

SERVERS = ("127.0.0.1", "127.0.0.2")
PROPAGATED = re.compile(rf"pi-ddns: info: propagated {re.escape(NAME)} A to 2/2 nameservers "
                        r"in (\d+\.\d)s\Z")


@pytest.fixture
def two() -> Iterator[FakeCloudflare]:
    server = FakeCloudflare(ipv4=IP1, ns_addresses=SERVERS).start()
    try:
        yield server
    finally:
        server.stop()
    assert server.spec_violations == []


@pytest.fixture
def penv(two: FakeCloudflare, tmp_path: Path, capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> Env:
    """The usual test world, its config asking the fake's nameserver, with metrics on."""
    env = Env(two, tmp_path, capsys, monkeypatch)
    (tmp_path / "metrics").mkdir()
    env.write_config(metrics_dir=str(tmp_path / "metrics"), propagation=propagation(env))
    return env


def propagation(env: Env, **changes: Any) -> dict[str, Any]:
    return {"enabled": True, "wait": 5.0, "port": env.fake.ns_port, **changes}


def ns(env: Env) -> Any:
    assert env.fake.ns is not None
    return env.fake.ns


def questions(env: Env) -> list[tuple[str, str, str, bool]]:
    """(server, name, type, rd) of every question the fake's nameserver got."""
    return [(q["server"], q["name"], q["type"], q["rd"]) for q in ns(env).queries]


def proof(env: Env) -> dict[str, float]:
    text = (env.tmp / "metrics" / metrics.FILE).read_text()
    return {name: float(value) for name, _, value in
            (line.partition(" ") for line in text.splitlines())
            if name.startswith("pi_ddns_propagation_")}


def test_a_change_is_asked_of_every_nameserver_until_it_shows(penv: Env) -> None:
    result = penv.run(["update"])
    assert result.code == 0
    assert PROPAGATED.match(result.lines[-2]), result.lines  # before the summary
    assert result.lines[-1] == f"pi-ddns: notice: created A {NAME} {IP1}"
    # One question per server, RD=0, for the record written; the zone's nameservers came with
    # the zone (IP literals of the fake's server) and are cached with it.
    assert sorted(questions(penv)) == [(s, NAME, "A", False) for s in SERVERS]
    assert penv.state()["zones"]["example.com"]["name_servers"] == list(SERVERS)
    got = proof(penv)
    assert got["pi_ddns_propagation_confirmed"] == 1
    assert 0 <= got["pi_ddns_propagation_seconds"] < 1

    penv.fake.clear_requests()
    penv.fake.set_ip(ipv4=IP2)  # a warm cache: one list, one PATCH, and the proof
    result = penv.run(["update"])
    assert result.code == 0
    assert PROPAGATED.match(result.lines[0]), result.lines
    assert len(result.lines) == 2
    assert [r["method"] for r in penv.fake.requests()] == ["GET", "PATCH"]
    assert len(questions(penv)) == 2


def test_a_lagging_nameserver_is_waited_for(penv: Env) -> None:
    assert penv.run(["update"]).code == 0
    ns(penv).configure(address="127.0.0.2", lag=0.5)
    penv.fake.set_ip(ipv4=IP2)
    penv.fake.clear_requests()
    result = penv.run(["update"])
    assert result.code == 0
    m = PROPAGATED.match(result.lines[0])
    assert m, result.lines
    assert 0.5 <= float(m.group(1)) < 3.5  # the second round, 1 s after the first
    asked = questions(penv)
    assert asked.count(("127.0.0.1", NAME, "A", False)) == 1  # confirmed at once, not asked again
    assert asked.count(("127.0.0.2", NAME, "A", False)) >= 2
    got = proof(penv)
    assert got["pi_ddns_propagation_confirmed"] == 1
    assert 0.5 <= got["pi_ddns_propagation_seconds"] < 3.5


def test_a_stale_nameserver_past_the_wait_is_a_warning_and_exit_0(penv: Env) -> None:
    assert penv.run(["update"]).code == 0
    ns(penv).configure(address="127.0.0.2", stale=True)
    penv.write_config(metrics_dir=str(penv.tmp / "metrics"),
                      propagation=propagation(penv, wait=2.0))
    penv.fake.set_ip(ipv4=IP2)
    started = time.monotonic()
    result = penv.run(["update"])
    took = time.monotonic() - started
    assert result.code == 0
    m = re.fullmatch(rf"pi-ddns: warning: {re.escape(NAME)} A {IP2} not yet on 1/2 "
                     rf"nameservers after (\d+\.\d)s: 127\.0\.0\.2 answers {IP1}", result.lines[0])
    assert m, result.lines
    assert 1.4 <= float(m.group(1)) <= 2.1  # its last answer: to the round 0.5 s before the end
    assert result.lines[1:] == [f"pi-ddns: notice: updated A {NAME} {IP1} -> {IP2}"]
    assert took < 4
    assert penv.fake.records(name=NAME)[0]["content"] == IP2  # the update itself stands
    got = proof(penv)
    assert got["pi_ddns_propagation_confirmed"] == 0
    assert 1.4 <= got["pi_ddns_propagation_seconds"] <= 2.1
    assert json.loads(penv.spawn(["status", "--json"]).out)["exit_code"] == 0


def test_a_silent_nameserver_is_named(penv: Env) -> None:
    ns(penv).configure(address="127.0.0.1", silent=True)
    penv.write_config(metrics_dir=str(penv.tmp / "metrics"),
                      propagation=propagation(penv, wait=0))
    result = penv.run(["update"])
    assert result.code == 0
    assert result.lines[-2].endswith(": 127.0.0.1 gave no answer"), result.lines


def test_no_change_dry_run_and_disabled_send_no_dns_question(penv: Env) -> None:
    assert penv.run(["update"]).code == 0
    before = proof(penv)
    penv.fake.clear_requests()
    assert penv.run(["update"]).lines == ["pi-ddns: info: no change"]
    assert penv.fake.ns_hits == 0
    assert proof(penv) == before  # the last check's values stay

    penv.fake.set_ip(ipv4=IP2)
    dry = penv.run(["update", "--dry-run"])
    assert dry.code == 0
    assert "would have updated" in dry.out
    assert penv.fake.ns_hits == 0

    penv.write_config(metrics_dir=str(penv.tmp / "metrics"),
                      propagation=propagation(penv, enabled=False))
    assert penv.run(["update"]).lines == [f"pi-ddns: notice: updated A {NAME} {IP1} -> {IP2}"]
    assert penv.fake.ns_hits == 0
    assert proof(penv) == before


def test_the_no_change_run_does_not_import_the_check(penv: Env) -> None:
    """With the check on, the timer's no-change run still loads none of it (the pinned module
    list of test_cli holds with [propagation] enabled)."""
    code, modules, _ = probe(penv, "update")
    assert code == 0
    assert "pi_ddns.propagate" in modules  # the change needed it
    code, modules, err = probe(penv, "update")
    assert (code, err) == (0, "pi-ddns: info: no change\n")
    assert not {"pi_ddns.propagate", "pi_ddns.dnsquery", "threading"} & modules
    assert penv.fake.ns_hits == 2  # the first run's two questions only


def test_a_run_that_wrote_nothing_asks_nothing(penv: Env) -> None:
    penv.fake.set_echo("/ip", status=503)  # detection fails: exit 69, nothing written
    assert penv.run(["update"]).code == 69
    assert penv.fake.ns_hits == 0
    assert proof(penv) == {}


def test_the_wait_ends_with_run_timeout(penv: Env) -> None:
    ns(penv).configure(stale=True)
    penv.write_config(metrics_dir=str(penv.tmp / "metrics"), run_timeout=2.0,
                      propagation=propagation(penv, wait=30))
    started = time.monotonic()
    result = penv.run(["update"])
    took = time.monotonic() - started
    assert result.code == 0
    assert "not yet on 2/2 nameservers after" in result.lines[-2]
    assert 1.0 < took < 3.5  # not 30 s
    assert proof(penv)["pi_ddns_propagation_seconds"] < 2.0


def test_a_proxied_record_is_not_asked(penv: Env) -> None:
    penv.write_config(metrics_dir=str(penv.tmp / "metrics"), proxied=True,
                      propagation=propagation(penv))
    result = penv.run(["update"])
    assert result.code == 0
    assert result.lines[-2] == (f"pi-ddns: info: {NAME} A: propagation not checked: a proxied "
                                "record is answered with Cloudflare's addresses")
    assert penv.fake.ns_hits == 0


def test_a_nameserver_name_is_resolved_by_the_system(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`localhost` (from /etc/hosts: no DNS leaves the machine) stands in for
    ada.ns.cloudflare.com; its IPv4 address is asked."""
    hosts = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""
    if not re.search(r"^127\.0\.0\.1\s.*\blocalhost\b", hosts, re.MULTILINE):
        pytest.skip("/etc/hosts does not name localhost 127.0.0.1")
    with FakeCloudflare(ipv4=IP3, name_servers=("localhost",)) as fake:
        env = Env(fake, tmp_path, capsys, monkeypatch)
        env.write_config(propagation=propagation(env))
        result = env.run(["update"])
        assert result.lines[-2].startswith(f"pi-ddns: info: propagated {NAME} A to 1/1 "), result
        assert fake.ns is not None
        assert [q["server"] for q in fake.ns.queries] == ["127.0.0.1"]


@pytest.mark.parametrize(("table", "says"), [
    ({"wait": 301}, "propagation.wait: must be between 0 and 300, not 301"),
    ({"wait": -1}, "propagation.wait: must be between 0 and 300, not -1"),
    ({"port": 0}, "propagation.port: must be between 1 and 65535, not 0"),
    ({"port": 5.3}, "propagation.port: must be an integer, not a float"),
    ({"enabled": "yes"}, "propagation.enabled: must be true or false, not a string"),
    ({"tries": 3}, "propagation.tries: unknown key"),
])
def test_check_config_names_the_key(env: Env, table: dict[str, Any], says: str) -> None:
    env.write_config(propagation=table)
    result = env.run(["check-config"])
    assert result.code == EX_CONFIG
    assert result.lines == [f"pi-ddns: error: {env.config_path}: {says}"]


def test_name_servers_is_in_the_real_zone_schema() -> None:
    """The zone object's `name_servers`, which the check reads, is in Cloudflare's OpenAPI
    description (../shared/cloudflare/dns-openapi.json) as an array of host names."""
    spec = find_spec()
    if spec is None:
        pytest.skip("../shared/cloudflare/dns-openapi.json is absent")
    field = spec["components"]["schemas"]["zones_zone"]["properties"]["name_servers"]
    assert field["type"] == "array"
    assert field["items"]["format"] == "hostname"
    listed = spec["paths"]["/zones"]["get"]["responses"]["200"]
    assert "zones_zone" in json.dumps(listed)


def test_one_line_per_record(penv: Env) -> None:
    vpn = "vpn.example.com"
    penv.write_config(metrics_dir=str(penv.tmp / "metrics"), records=[NAME, vpn],
                      propagation=propagation(penv))
    result = penv.run(["update"])
    assert result.code == 0
    lines = [line for line in result.lines if "propagated" in line]
    assert [line.split(" to ")[0] for line in lines] == [
        f"pi-ddns: info: propagated {NAME} A", f"pi-ddns: info: propagated {vpn} A"]
    assert sorted(q[1] for q in questions(penv)) == [NAME, NAME, vpn, vpn]


def test_a_state_without_nameservers_checks_nothing_and_says_so(penv: Env) -> None:
    """A state file from before (version 1) knows the zone's id but not its nameservers."""
    assert penv.run(["update"]).code == 0
    data = penv.state()
    data["zones"]["example.com"]["name_servers"] = []
    penv.state_path.write_text(json.dumps(data))
    penv.fake.set_ip(ipv4=IP2)
    penv.fake.clear_requests()
    result = penv.run(["update"])
    assert result.code == 0
    assert result.lines[0] == (f"pi-ddns: info: {NAME} A: propagation not checked: the zone's "
                               "nameservers are not known yet (the next zone lookup fills them "
                               "in)")
    assert penv.fake.ns_hits == 0
    assert proof(penv)["pi_ddns_propagation_confirmed"] == 0
