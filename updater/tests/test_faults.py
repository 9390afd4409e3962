"""The fault suite (issue 5): bad answers and faults never publish a wrong IP or lose a record.

One table, one row per case: (id, setup, expected exit code, a fragment of the one line that
names the cause). Every row starts from a warm, working install (record A home.example.com =
IP1 at the fake, a valid state file), applies its setup, runs `pi-ddns update` in-process, and
checks:

- the exit code;
- exactly one log line names the cause (for failures: exactly one `error:` line), with no
  traceback and never the token;
- the fake's records are exactly as before (every field), unless the row says the DNS must
  follow the new address anyway (`records=UPDATED`);
- the state file: its cache (zone, record ids and contents, last_reconcile) exactly as
  before. A failure may only add the failure to `last_run` (the contract: `status` reports the
  last run's message, and does so with no API call); the same failure on the next run leaves the
  file byte-identical. A config error, which stops before the state is read, leaves the file
  byte-identical (`state=UNTOUCHED`, as for a file that cannot be written). Rows about a broken
  state file say `state=REBUILT` (never fatal: one reconcile, then a valid file), and a row whose
  run rightly updates the record says `state=FOLLOWED`.

API rows change the fake's address to IP2 first, so the updater has to talk to Cloudflare and
the fault is the only thing standing between it and a write. Follow-up cases (a lost POST
answer, a record deleted by hand, a SIGKILL between the API write and the state write) have
their own tests below the table.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import IP1, IP2, IP6_1, MARKER, NAME, TOKEN, ZONE, Env
from pi_ddns.errors import (
    EX_CONFIG,
    EX_DATAERR,
    EX_NOPERM,
    EX_OK,
    EX_TEMPFAIL,
    EX_UNAVAILABLE,
)

Setup = Callable[[Env], None]
KEPT, UPDATED, REBUILT, UNTOUCHED, FOLLOWED = "kept", "updated", "rebuilt", "untouched", "followed"
FORGOTTEN = "forgotten"  # the record's cache entry and last_reconcile dropped: the next run lists
NOT_JSON = "not Cloudflare's JSON"
EMPTY_LIST = json.dumps({"success": True, "errors": [], "messages": [], "result": [],
                         "result_info": {"page": 1, "per_page": 100, "count": 0,
                                         "total_count": 0, "total_pages": 1}})
EMPTY_ZONES = EMPTY_LIST.replace('"per_page": 100', '"per_page": 50')


@dataclass(frozen=True)
class Case:
    id: str
    setup: Setup
    code: int
    says: str  # a fragment of the one line that names the cause
    args: tuple[str, ...] = ("update",)
    records: str = KEPT  # KEPT: every record exactly as before; UPDATED: A = IP2, same id
    state: str = KEPT  # KEPT | REBUILT | UNTOUCHED | FOLLOWED (see the module docstring)


# ---- setup helpers: each returns a Setup -----------------------------------------------------

def steps(*setups: Setup) -> Setup:
    def run(env: Env) -> None:
        for s in setups:
            s(env)
    return run


def echo(endpoint: str = "/ip", **answer: Any) -> Setup:
    """An echo endpoint answers something hostile."""
    return lambda env: env.fake.set_echo(endpoint, **answer)


def address(ip: str) -> Setup:
    """Every IPv4 source (echo, trace, DNS) answers `ip`."""
    return lambda env: env.fake.set_ip(ipv4=ip)


def ipv4(**family: Any) -> Setup:
    """Replace the [ipv4] table (sources given as (type, path-or-dict) are made concrete)."""
    def run(env: Env) -> None:
        table = {"timeout": 2.0, **family}
        table["sources"] = [_source(env, s) for s in table.get("sources", [("http", "/ip")])]
        env.write_config(ipv4=table)
    return run


def ipv6_only(source: tuple[str, str] = ("http", "/ip6")) -> Setup:
    def run(env: Env) -> None:
        env.write_config(ipv4={"enabled": False},
                         ipv6={"enabled": True, "timeout": 2.0, "sources": [_source(env, source)]})
    return run


def _source(env: Env, spec: tuple[str, Any]) -> dict[str, Any]:
    kind, where = spec
    if kind in ("http", "trace"):
        return {"type": kind, "url": env.fake.url + where}
    if kind == "dns":
        return {"type": "dns", "preset": "opendns", "server": "127.0.0.1",
                "port": env.fake.dns_port}
    return {"type": kind, **where}


def dns_mode(mode: str) -> Setup:
    def run(env: Env) -> None:
        assert env.fake.dns is not None
        env.fake.dns.configure(mode=mode)
    return run


def refused_source(env: Env) -> None:
    env.write_config(ipv4={"timeout": 2.0, "sources": [
        {"type": "http", "url": f"http://127.0.0.1:{closed_port()}/ip"}]})


def new_ip(env: Env) -> None:
    env.fake.set_ip(ipv4=IP2)


def api(retries: int = 0, timeout: float = 5.0, **rule: Any) -> Setup:
    """The address changes (so the updater must write) and the API answers with `rule`."""
    def run(env: Env) -> None:
        env.write_config(cloudflare={"api_url": env.fake.api_url, "timeout": timeout,
                                     "retries": retries})
        new_ip(env)
        env.fake.add_fault(**rule)
    return run


def foreign_record(content: str) -> str:
    """A success envelope that describes some other record than the one written."""
    return json.dumps({"success": True, "errors": [], "messages": [], "result": {
        "id": "0123456789abcdef0123456789abcdef", "name": f"other.{ZONE}", "type": "A",
        "content": content, "ttl": 1, "proxied": False}})


def token(text: str, mode: int = 0o600) -> Setup:
    return lambda env: env.write_token(text, mode)


def unknown_token(env: Env) -> None:
    env.write_token("unknown-token-0123456789abcdef\n")
    new_ip(env)


def read_only_token(env: Env) -> None:
    env.fake.add_token("read-only-token-0123456789", ["zone:read", "dns:read"])
    env.write_token("read-only-token-0123456789\n")
    new_ip(env)


def token_for_another_zone(env: Env) -> None:
    env.fake.add_zone("example.org")
    env.fake.add_token("other-zone-token-0123456789", zones=["example.org"])
    env.write_token("other-zone-token-0123456789\n")


def list_lags_behind(env: Env) -> None:
    """The list never shows our record (eventual consistency): a POST gets 81057."""
    env.fake.add_fault(method="GET", path="/dns_records$", status=200, body=EMPTY_LIST,
                       content_type="application/json")


def api_unreachable(env: Env) -> None:
    env.write_config(cloudflare={"api_url": f"http://127.0.0.1:{closed_port()}/client/v4",
                                 "timeout": 2.0, "retries": 0})
    new_ip(env)


def seed(rtype: str, content: str, comment: str | None = MARKER) -> Setup:
    def run(env: Env) -> None:
        env.fake.seed_record(NAME, rtype, content, comment=comment)
    return run


def delete_ours(env: Env) -> None:
    env.fake.delete_record(env.records("A")[0]["id"])


def config(**changes: Any) -> Setup:
    def run(env: Env) -> None:
        env.write_config(**changes)
    return run


def config_text(extra: str) -> Setup:
    """The working config plus a raw TOML snippet appended (top level)."""
    def run(env: Env) -> None:
        text = env.config_path.read_text()
        head, sep, tables = text.partition("\n[")
        env.config_path.write_text(head + extra + "\n" + sep + tables)
    return run


def state_bytes(content: bytes) -> Setup:
    def run(env: Env) -> None:
        env.state_path.write_bytes(content)
    return run


def state_zone_id(zone_id: str) -> Setup:
    def run(env: Env) -> None:
        data = env.state()
        data["zones"][ZONE]["id"] = zone_id
        env.state_path.write_text(json.dumps(data))
    return run


def no_token_file(env: Env) -> None:
    env.token_path.unlink()


def state_is_a_directory(env: Env) -> None:
    env.state_path.unlink()
    env.state_path.mkdir()  # reading and writing fail, even as root


def state_dir_unwritable(env: Env) -> None:
    # root ignores file modes, and the temp file's name is random: a directory where the
    # state file is makes the final rename fail instead (and the read: a cold reconcile).
    env.state_path.unlink()
    env.state_path.mkdir()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# ---- the table -------------------------------------------------------------------------------

NO_V4 = "no acceptable IPv4 address"
CASES = [
    # IP sources: exit 69, nothing is sent to Cloudflare
    Case("echo HTML page",
         echo(body="<html><h1>502 Bad Gateway</h1></html>", content_type="text/html"),
         EX_UNAVAILABLE, "not exactly one address"),
    Case("echo empty body", echo(body=""), EX_UNAVAILABLE, "not exactly one address"),
    Case("echo two addresses", echo(body=f"{IP2}\n81.2.69.162"), EX_UNAVAILABLE,
         "not exactly one address"),
    Case("echo trailing junk", echo(body=f"{IP2}junk"), EX_UNAVAILABLE, "not an IP address"),
    Case("echo address plus words", echo(body=f"{IP2} is your IP"), EX_UNAVAILABLE,
         "not exactly one address"),
    Case("echo Set-Cookie header, empty body",
         echo(body="", headers={"Set-Cookie": "ip=81.2.69.99"}), EX_UNAVAILABLE,
         "not exactly one address"),
    Case("Set-Cookie header is not the address",
         steps(new_ip, echo(headers={"Set-Cookie": "ip=81.2.69.99"})), EX_OK,
         f"updated A {NAME} {IP1} -> {IP2}", records=UPDATED, state=FOLLOWED),
    Case("IPv6 answer where IPv4 asked", echo(body=IP6_1), EX_UNAVAILABLE, "expected IPv4"),
    Case("IPv4 answer where IPv6 asked", steps(ipv6_only(), echo("/ip6", body=IP2)),
         EX_UNAVAILABLE, "expected IPv6"),
    Case("private 10/8", address("10.1.2.3"), EX_UNAVAILABLE, "is a private address"),
    Case("private 192.168/16", address("192.168.1.20"), EX_UNAVAILABLE, "is a private address"),
    Case("CGNAT 100.64/10", address("100.64.12.34"), EX_UNAVAILABLE, "is a CGNAT address"),
    Case("loopback", address("127.0.0.1"), EX_UNAVAILABLE, "is a loopback address"),
    Case("link-local", address("169.254.1.1"), EX_UNAVAILABLE, "is a link-local address"),
    Case("documentation", address("192.0.2.10"), EX_UNAVAILABLE, "is a documentation address"),
    Case("multicast", address("224.0.0.251"), EX_UNAVAILABLE, "is a multicast address"),
    Case("Cloudflare range via trace", steps(ipv4(sources=[("trace", "/cdn-cgi/trace")]),
                                             address("104.16.132.229")),
         EX_UNAVAILABLE, "one of Cloudflare's own addresses"),
    Case("IPv6 unique-local", steps(ipv6_only(), lambda env: env.fake.set_ip(ipv6="fd00::1")),
         EX_UNAVAILABLE, "unique-local"),
    Case("IPv6 link-local", steps(ipv6_only(), lambda env: env.fake.set_ip(ipv6="fe80::1")),
         EX_UNAVAILABLE, "link-local"),
    Case("IPv6 documentation", steps(ipv6_only(),
                                     lambda env: env.fake.set_ip(ipv6="2001:db8::1")),
         EX_UNAVAILABLE, "documentation"),
    Case("IPv6 Cloudflare range", steps(ipv6_only(("trace", "/cdn-cgi/trace6")),
                                        lambda env: env.fake.set_ip(ipv6="2606:4700::6810:84e5")),
         EX_UNAVAILABLE, "one of Cloudflare's own addresses"),
    Case("3xx redirect to another host", echo(status=301, redirect="http://127.0.0.2:9/ip"),
         EX_UNAVAILABLE, "redirect (to 127.0.0.2) not followed"),
    Case("HTTP 404", echo(status=404, body="not found"), EX_UNAVAILABLE, "HTTP 404"),
    Case("HTTP 500", echo(status=500, body="oops"), EX_UNAVAILABLE, "HTTP 500"),
    Case("connection refused", refused_source, EX_UNAVAILABLE, "connection refused"),
    Case("source hangs past its timeout", steps(ipv4(timeout=0.5), echo(delay=2.0)),
         EX_UNAVAILABLE, "no answer within 0.5 s"),
    Case("DNS wrong name", steps(ipv4(sources=[("dns", None)]), dns_mode("wrong-name")),
         EX_UNAVAILABLE, "no myip.opendns.com record"),
    Case("DNS NXDOMAIN", steps(ipv4(sources=[("dns", None)]), dns_mode("nxdomain")),
         EX_UNAVAILABLE, "NXDOMAIN"),
    Case("sources disagree under agree",
         steps(ipv4(policy="agree", agree=2,
                    sources=[("http", "/ip"), ("trace", "/cdn-cgi/trace")]),
               echo("/ip", body=IP2)),
         EX_UNAVAILABLE, "fewer than 2 sources agree"),
    Case("every source fails (first policy)",
         steps(ipv4(sources=[("http", "/ip"), ("trace", "/cdn-cgi/trace")]),
               echo("ipv4", status=503, body="busy")),
         EX_UNAVAILABLE, f"{NO_V4}: http"),

    # Cloudflare API: the address changed to IP2 and the API misbehaves
    Case("API 401 9109", api(method="PATCH", status=401, code=9109,
                             message="Invalid access token"),
         EX_NOPERM, "Zone > DNS > Edit"),
    Case("API 403 9109 unknown token", unknown_token, EX_NOPERM, "9109 Invalid access token"),
    Case("API 403 10000 read-only token", read_only_token, EX_NOPERM,
         "10000 Authentication error); create or fix a token with Zone > Zone > Read and "
         "Zone > DNS > Edit permissions"),
    Case("zone not visible to the token", token_for_another_zone, EX_CONFIG,
         f"zone {ZONE}: not found", args=("update", "--force")),
    Case("429 with a Retry-After past the deadline", api(method="PATCH", status=429,
                                                         retry_after=600),
         EX_TEMPFAIL, "Retry-After 600 s"),
    Case("500 on every try", api(retries=1, method="PATCH", status=500), EX_TEMPFAIL,
         "Cloudflare server error (HTTP 500"),
    Case("502 HTML on every try", api(retries=1, method="PATCH", status=502,
                                      body="<html>bad gateway</html>"),
         EX_TEMPFAIL, "Cloudflare server error (HTTP 502"),
    Case("API timeout", api(timeout=0.5, method="PATCH", delay=2.0), EX_TEMPFAIL,
         "timed out after 0.5 s"),
    Case("API unreachable", api_unreachable, EX_TEMPFAIL, "cannot connect"),
    Case("200 HTML on PATCH", api(method="PATCH", status=200, body="<html>maintenance</html>"),
         EX_TEMPFAIL, NOT_JSON),
    Case("200 invalid JSON on PATCH", api(method="PATCH", status=200, body='{"success": tru',
                                          content_type="application/json"),
         EX_TEMPFAIL, NOT_JSON),
    Case("200 PATCH answer about another record",
         api(method="PATCH", status=200, content_type="application/json",
             body=foreign_record("10.0.0.1")),
         EX_DATAERR, "the answer is about another record", state=FORGOTTEN),
    Case("200 POST answer about another record",
         steps(delete_ours, api(method="POST", status=200, content_type="application/json",
                                body=foreign_record(IP2))),
         EX_DATAERR, "the answer is about another record", args=("update", "--force"),
         state=FORGOTTEN),
    Case("200 HTML on zones", api(method="GET", path="/zones$", status=200,
                                  body="<html>maintenance</html>"),
         EX_TEMPFAIL, NOT_JSON, args=("update", "--force")),
    Case("200 invalid JSON on list", api(method="GET", path="/dns_records$", status=200,
                                         body='{"result": [', content_type="application/json"),
         EX_TEMPFAIL, NOT_JSON, args=("update", "--force")),
    Case("81057 already exists (list lags behind)", list_lags_behind,
         EX_TEMPFAIL, "81057 Record already exists", args=("update", "--force")),
    Case("two records of the same name and type", steps(seed("A", "81.2.69.162"), new_ip),
         EX_DATAERR, "has 2 records", args=("update", "--force")),
    Case("CNAME at the name", steps(delete_ours, seed("CNAME", "elsewhere.example.net", None),
                                    new_ip),
         EX_DATAERR, "CNAME", args=("update", "--force")),
    Case("record without the marker", steps(delete_ours, seed("A", IP1, "by hand"), new_ip),
         EX_DATAERR, "adopt = true", args=("update", "--force")),

    # local faults: a broken state file is never fatal (one reconcile, no write to Cloudflare)
    Case("state file corrupt", state_bytes(b'{"version": 1, "zone": {'), EX_OK,
         "ignoring the state file", state=REBUILT),
    Case("state file from the future", state_bytes(b'{"version": 3, "zones": {}}'), EX_OK,
         "version 3 is newer", state=REBUILT),
    Case("state file not UTF-8", state_bytes(b"\xff\xfe{}"), EX_OK,
         "ignoring the state file", state=REBUILT),
    Case("state file with a malformed zone id", steps(state_zone_id("../../zones"), new_ip),
         EX_OK, "not a valid zone id", records=UPDATED, state=FOLLOWED),
    Case("state file unreadable", state_is_a_directory, EX_OK, "cannot read the state",
         state=UNTOUCHED),
    Case("state directory unwritable", steps(state_dir_unwritable, new_ip), EX_OK,
         "cannot write the state", records=UPDATED, state=UNTOUCHED),

    # local faults: config (exit 78 before anything is read or sent)
    Case("config unknown key", config_text("recods = []"), EX_CONFIG, "recods: unknown key",
         state=UNTOUCHED),
    Case("config wrong type", config(adopt="yes"), EX_CONFIG, "adopt: must be true or false",
         state=UNTOUCHED),
    Case("config record outside the zone", config(records=["home.example.org"]), EX_CONFIG,
         "'home.example.org' is not inside the zone 'example.com'", state=UNTOUCHED),
    Case("config bad TTL", config(ttl=20), EX_CONFIG,
         "ttl: must be 1 (automatic) or 60..86400", state=UNTOUCHED),
    Case("config unknown source", ipv4(sources=[("ftp", {"url": "ftp://x"})]), EX_CONFIG,
         "unknown source type 'ftp'", state=UNTOUCHED),
    Case("config not TOML", config_text("zone = "), EX_CONFIG, "invalid TOML", state=UNTOUCHED),

    # local faults: the token file
    Case("token file missing", no_token_file, EX_CONFIG, "no API token", state=UNTOUCHED),
    Case("token file empty", token(""), EX_CONFIG, "the token is empty", state=UNTOUCHED),
    Case("token quoted", token(f'"{TOKEN}"\n'), EX_CONFIG, "the token is quoted", state=UNTOUCHED),
    Case("token KEY=value", token(f"CLOUDFLARE_API_TOKEN={TOKEN}\n"), EX_CONFIG,
         "looks like a KEY=value line", state=UNTOUCHED),
    Case("token world-readable (warns, works)", token(TOKEN + "\n", 0o644), EX_OK,
         "readable by group or others"),
]


def _cache(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != "last_run"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(env: Env, case: Case) -> None:
    assert env.run(["update"]).code == 0  # a working install: record + warm state
    case.setup(env)
    records_before = env.fake.records()
    state_before = env.state_path.read_bytes() if env.state_path.is_file() else None

    result = env.run(list(case.args))

    # the exit code, and one line naming the cause
    assert result.code == case.code, result.err
    assert "Traceback" not in result.err
    assert TOKEN not in result.out + result.err
    naming = [line for line in result.lines if case.says in line]
    assert len(naming) == 1, result.err
    if os.environ.get("PI_DDNS_FAULT_REPORT"):  # the observed-outcome table for the docs
        with open(os.environ["PI_DDNS_FAULT_REPORT"], "a", encoding="utf-8") as f:
            f.write(json.dumps({"case": case.id, "code": result.code, "line": naming[0]}) + "\n")
    errors = [line for line in result.lines if line.startswith("pi-ddns: error: ")]
    if case.code == EX_OK:
        assert errors == []
    else:
        assert errors == naming, result.err

    # Cloudflare's records
    records_after = env.fake.records()
    if case.records == KEPT:
        assert records_after == records_before
    else:
        [before] = [r for r in records_before if r["type"] == "A"]
        [after] = [r for r in records_after if r["type"] == "A"]
        assert (after["id"], after["content"]) == (before["id"], IP2)
        assert len(records_after) == len(records_before)
    assert not any(r["content"] == "81.2.69.99" for r in records_after)

    # the state file
    if case.state == UNTOUCHED:
        after_bytes = env.state_path.read_bytes() if env.state_path.is_file() else None
        assert after_bytes == state_before
    elif case.state == FOLLOWED:  # the run succeeded: the cache follows the record
        [record] = env.records("A")
        cached = env.state()["records"][f"A {NAME}"]
        assert (cached["id"], cached["content"]) == (record["id"], IP2)
    elif case.state == FORGOTTEN:
        st = env.state()
        assert f"A {NAME}" not in st["records"]
        assert "last_reconcile" not in st
        assert st["last_run"]["exit_code"] == case.code
    elif case.state == REBUILT:
        st = env.state()
        [record] = env.records("A")
        assert st["version"] == 2
        assert st["records"] == {f"A {NAME}": {**st["records"][f"A {NAME}"],
                                               "id": record["id"], "content": record["content"]}}
    else:
        assert state_before is not None
        after_bytes = env.state_path.read_bytes()
        if case.code == EX_OK:
            assert after_bytes == state_before  # nothing changed: not even rewritten
        else:
            before, after = json.loads(state_before), json.loads(after_bytes)
            assert _cache(after) == _cache(before)
            message = errors[0].removeprefix("pi-ddns: error: ")
            assert (after["last_run"]["exit_code"], after["last_run"]["message"]) == \
                (case.code, message)
            # the same failure on the next timer run: the file is not even rewritten
            again = env.run(list(case.args))
            assert again.code == case.code
            assert env.state_path.read_bytes() == after_bytes
            assert env.fake.records() == records_before
            # and `status` (no API call) tells monitoring the same
            env.fake.clear_requests()
            status = env.run(["status", "--json"])
            assert (status.code, json.loads(status.out)["message"]) == (case.code, message)
            assert env.fake.requests() == []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault_dry_run_writes_nothing(env: Env, case: Case) -> None:
    """The same setups under --dry-run: no write request, no record or state change at all."""
    assert env.run(["update"]).code == 0
    case.setup(env)
    records_before = env.fake.records()
    state_before = env.state_path.read_bytes() if env.state_path.is_file() else None
    env.fake.clear_requests()

    result = env.run([*case.args, "--dry-run"])

    assert "Traceback" not in result.err
    assert TOKEN not in result.out + result.err
    assert [r for r in env.fake.requests() if r["method"] != "GET"] == []
    assert env.fake.records() == records_before
    assert (env.state_path.read_bytes() if env.state_path.is_file() else None) == state_before
    assert result.code in (case.code, EX_OK)


def test_the_table_covers_every_exit_code_of_the_contract() -> None:
    assert {c.code for c in CASES} == {EX_OK, EX_DATAERR, EX_UNAVAILABLE, EX_TEMPFAIL,
                                       EX_NOPERM, EX_CONFIG}


# ---- follow-up runs --------------------------------------------------------------------------

@pytest.mark.parametrize(("lost", "says"), [
    ({"delay": 2.0}, "creating A home.example.com: timed out after 0.5 s"),
    ({"status": 502, "body": "<html>bad gateway</html>"}, "Cloudflare server error (HTTP 502"),
], ids=["timeout", "502"])
def test_post_whose_answer_was_lost_after_the_server_created_it_is_adopted_next_run(
        env: Env, lost: dict[str, Any], says: str) -> None:
    assert env.run(["update"]).code == 0
    env.fake.delete_record(env.records("A")[0]["id"])  # by hand: the next write is a POST
    env.write_config(cloudflare={"api_url": env.fake.api_url, "timeout": 0.5, "retries": 2})
    env.fake.set_ip(ipv4=IP2)
    env.fake.add_fault(method="POST", path="/dns_records$", after_apply=True, times=1, **lost)
    env.fake.clear_requests()

    first = env.run(["update"])
    assert first.code == EX_TEMPFAIL
    assert says in first.lines[-1]
    assert env.calls() == ["GET list", "POST list"]  # a POST is never retried
    [created] = env.records()
    assert created["content"] == IP2  # the server did it; the answer was lost

    env.fake.clear_requests()
    second = env.run(["update"])
    assert second.code == 0
    assert env.calls() == ["GET list"]  # zone id still cached: list, adopt, no POST
    assert env.records() == [created]
    assert env.state()["records"][f"A {NAME}"]["id"] == created["id"]


def test_record_deleted_by_hand_while_cached_is_listed_and_created(env: Env) -> None:
    assert env.run(["update"]).code == 0
    old_id = env.records("A")[0]["id"]
    env.fake.delete_record(old_id)
    env.fake.set_ip(ipv4=IP2)
    env.fake.clear_requests()

    result = env.run(["update"])
    assert result.code == 0
    assert env.calls() == ["GET list", "POST list"]
    assert sum(f"record {old_id} is gone" in line for line in result.lines) == 1
    [record] = env.records()
    assert (record["content"], record["comment"]) == (IP2, MARKER)
    assert record["id"] != old_id
    assert env.state()["records"][f"A {NAME}"]["id"] == record["id"]

    env.fake.clear_requests()
    assert env.run(["update"]).code == 0
    assert env.calls() == []  # the cache is right again


def _spawn_update(env: Env) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("JOURNAL_STREAM", "CLOUDFLARE_API_TOKEN", "CREDENTIALS_DIRECTORY")}
    return subprocess.Popen(
        [sys.executable, "-m", "pi_ddns", "--config", str(env.config_path), "update"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environ)


def _wait_for(done: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 30
    while not done():
        if proc.poll() is not None:
            pytest.fail(f"pi-ddns exited ({proc.returncode}) before {what}: {proc.stderr}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("write", ["PATCH", "POST"])
def test_sigkill_between_the_api_write_and_the_state_write_converges(env: Env,
                                                                     write: str) -> None:
    """A real process is killed while the fake holds the answer to a write it has done."""
    if write == "PATCH":  # warm cache, the address changed
        assert env.run(["update"]).code == 0
        env.fake.set_ip(ipv4=IP2)
        want = IP2
    else:  # first run, the record is created
        want = IP1
    state_before = env.state_path.read_bytes() if env.state_path.exists() else None
    env.fake.add_fault(method=write, path="/dns_records", after_apply=True, delay=60, times=1)

    proc = _spawn_update(env)
    try:
        _wait_for(lambda: [r["content"] for r in env.records()] == [want], proc,
                  f"the {write} to be applied")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        assert proc.stderr is not None
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    # killed before the state write: the file is as it was, and no temp file is left over
    state_after = env.state_path.read_bytes() if env.state_path.exists() else None
    assert state_after == state_before
    assert [p.name for p in env.state_path.parent.iterdir() if p.name.endswith(".tmp")] == []

    env.fake.clear_faults()
    env.fake.clear_requests()
    result = env.run(["update"])
    assert result.code == 0, result.err
    [record] = env.records()  # converged, no duplicate
    assert record["content"] == want
    assert env.state()["records"][f"A {NAME}"] == {
        **env.state()["records"][f"A {NAME}"], "id": record["id"], "content": want}
    if write == "PATCH":
        # the list at the name finds the PATCH done: nothing more to write
        assert env.calls() == ["GET list"]
    else:
        assert env.calls() == ["GET zones", "GET list"]  # found ours: adopted, not POSTed
    env.fake.clear_requests()
    assert env.run(["update"]).code == 0
    assert env.calls() == []


def test_a_zone_recreated_with_a_new_id_while_cached_recovers_in_the_same_run(env: Env) -> None:
    """The zone was deleted and added again (or moved to another account): the cached zone id
    no longer routes (7003). The run finds the zone by name again instead of failing with 75
    on every timer run until max_cache_age ends."""
    assert env.run(["update"]).code == 0
    old_zone = env.records()[0]["zone_id"]
    with env.fake.lock:  # the dashboard: zone gone, then re-added with its record
        del env.fake.state.zones[old_zone]
        env.fake.state.records.clear()
    new_zone = env.fake.add_zone(ZONE)["id"]
    env.fake.seed_record(NAME, "A", IP1, comment=MARKER)
    env.fake.set_ip(ipv4=IP2)
    env.fake.clear_requests()

    result = env.run(["update"])
    assert result.code == 0, result.err
    assert sum("looking the zones up again" in line for line in result.lines) == 1
    [record] = env.records()
    assert (record["zone_id"], record["content"]) == (new_zone, IP2)
    st = env.state()
    assert st["zones"][ZONE]["id"] == new_zone
    assert st["records"][f"A {NAME}"]["id"] == record["id"]
    assert env.calls()[-3:] == ["GET zones", "GET list", "PATCH record"]
    env.fake.clear_requests()
    assert env.run(["update"]).code == 0
    assert env.calls() == []


# ---- a source that drips -------------------------------------------------------------------

@pytest.fixture
def drip() -> Iterator[Callable[[str], str]]:
    """A loopback HTTP server that answers one byte line at a time, every 0.2 s, for 5 s:
    each read finishes well within a socket timeout, the whole answer never does."""
    servers: list[socket.socket] = []

    def serve(srv: socket.socket, part: str) -> None:
        with contextlib.suppress(OSError):
            conn, _ = srv.accept()
            with conn:
                conn.recv(65536)
                if part == "headers":
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 1000\r\n\r\n")
                for i in range(25):
                    conn.sendall(f"X-Drip-{i}: 1\r\n".encode() if part == "headers" else b" ")
                    time.sleep(0.2)

    def start(part: str) -> str:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        servers.append(srv)
        threading.Thread(target=serve, args=(srv, part), daemon=True).start()
        return f"http://127.0.0.1:{srv.getsockname()[1]}/ip"

    yield start
    for srv in servers:
        srv.close()


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_source_that_drips_is_cut_at_its_timeout(env: Env, drip: Callable[[str], str],
                                                   part: str) -> None:
    assert env.run(["update"]).code == 0
    records, state_before = env.fake.records(), env.state()
    env.write_config(ipv4={"timeout": 0.5, "sources": [{"type": "http", "url": drip(part)}]})
    started = time.monotonic()
    result = env.run(["update"])
    assert time.monotonic() - started < 2.0  # not the 5 s the drip lasts
    assert result.code == EX_UNAVAILABLE
    assert result.lines[-1].endswith("no answer within 0.5 s")
    assert env.fake.records() == records
    assert _cache(env.state()) == _cache(state_before)


def test_an_api_answer_that_drips_is_cut_at_a_deadline(env: Env,
                                                       drip: Callable[[str], str]) -> None:
    """httpx's timeout is per read: a body dripped byte by byte never trips it. apply bounds
    each call: (retries + 1) x 2 x timeout + retries x 60 s (the SDK's Retry-After cap) + 1 s."""
    assert env.run(["update"]).code == 0
    records, state_before = env.fake.records(), env.state()
    api_url = drip("api").removesuffix("/ip") + "/client/v4"
    env.write_config(cloudflare={"api_url": api_url, "timeout": 0.5, "retries": 0})
    env.fake.set_ip(ipv4=IP2)
    started = time.monotonic()
    result = env.run(["update"])
    assert time.monotonic() - started < 4.0  # not the 5 s the drip lasts
    assert result.code == EX_TEMPFAIL
    assert result.lines[-1].endswith("no complete answer within 2 s")
    assert env.fake.records() == records
    assert _cache(env.state()) == _cache(state_before)
