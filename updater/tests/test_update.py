"""`pi-ddns update` end to end through cli.main against the fake: request counts, records, state."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from conftest import IP1, IP2, IP3, IP6_1, IP6_2, MARKER, NAME, TOKEN, ZONE, Env
from pi_ddns.errors import EX_DATAERR, EX_NOPERM, EX_TEMPFAIL, EX_UNAVAILABLE

EMPTY_LIST = json.dumps({"success": True, "errors": [], "messages": [], "result": [],
                         "result_info": {"page": 1, "per_page": 100, "count": 0,
                                         "total_count": 0, "total_pages": 1}})


def seed(env: Env, content: str = IP1, rtype: str = "A", **kw: Any) -> str:
    kw.setdefault("comment", MARKER)
    rid: str = env.fake.seed_record(NAME, rtype, content, **kw)["id"]
    return rid


def warm(env: Env) -> None:
    """One successful run, then a clean request log."""
    assert env.run(["update"]).code == 0
    env.fake.clear_requests()


# ---- the request budget ----------------------------------------------------------------------

def test_cold_cache_missing_record_is_zone_list_create(env: Env) -> None:
    result = env.run(["update"])
    assert result.code == 0
    assert env.calls() == ["GET zones", "GET list", "POST list"]
    [record] = env.records()
    assert (record["type"], record["content"], record["comment"]) == ("A", IP1, MARKER)
    assert result.lines[-1] == f"pi-ddns: notice: created A {NAME} {IP1}"
    st = env.state()
    assert st["records"][f"A {NAME}"]["id"] == record["id"]
    assert st["last_run"]["exit_code"] == 0


def test_cold_cache_existing_record_is_zone_list_patch(env: Env) -> None:
    rid = seed(env, IP2, ttl=300, proxied=False, tags=["keep:me"])
    result = env.run(["update"])
    assert result.code == 0
    assert env.calls() == ["GET zones", "GET list", "PATCH record"]
    [record] = env.records()
    assert record["id"] == rid
    assert (record["content"], record["ttl"], record["proxied"]) == (IP1, 300, False)
    assert record["tags"] == ["keep:me"]
    assert result.lines[-1] == f"pi-ddns: notice: updated A {NAME} {IP2} -> {IP1}"


def test_cold_cache_record_in_sync_is_zone_list_only(env: Env) -> None:
    seed(env)
    result = env.run(["update"])
    assert (result.code, result.lines[-1]) == (0, "pi-ddns: info: no change")
    assert env.calls() == ["GET zones", "GET list"]
    assert env.state()["last_reconcile"]


def test_warm_no_change_makes_no_api_call_and_does_not_rewrite_state(env: Env) -> None:
    warm(env)
    before = env.state_path.stat()
    result = env.run(["update"])
    assert result.code == 0
    assert result.lines == ["pi-ddns: info: no change"]
    assert env.fake.requests() == []
    assert env.fake.echo_hits["/ip"] == 1
    after = env.state_path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_warm_ip_change_is_one_list_and_one_patch(env: Env) -> None:
    warm(env)
    env.fake.set_ip(ipv4=IP2)
    result = env.run(["update"])
    assert result.code == 0
    # the list shows the record at the name now: the PATCH goes to that id, not blindly
    # to the cached one
    assert env.calls() == ["GET list", "PATCH record"]
    assert env.records()[0]["content"] == IP2
    assert result.lines == [f"pi-ddns: notice: updated A {NAME} {IP1} -> {IP2}"]
    assert env.state()["records"][f"A {NAME}"]["content"] == IP2


def test_both_families_and_two_names(env: Env) -> None:
    other = f"nas.{ZONE}"
    env.write_config(records=[NAME, other], ipv6={"enabled": True, "sources": [
        {"type": "http", "url": env.fake.url + "/ip6"}]})
    assert env.run(["update"]).code == 0
    # zone once, one list per name (all types), one create per record
    assert env.calls() == ["GET zones", "GET list", "POST list", "POST list", "GET list",
                          "POST list", "POST list"]
    env.fake.clear_requests()
    env.fake.set_ip(ipv6=IP6_2)
    result = env.run(["update"])
    assert env.calls() == ["GET list", "PATCH record", "GET list", "PATCH record"]
    assert result.lines == [f"pi-ddns: notice: updated AAAA {NAME} {IP6_1} -> {IP6_2}; "
                            f"updated AAAA {other} {IP6_1} -> {IP6_2}"]


def test_an_ipv6_outage_does_not_hold_back_the_a_record(env: Env) -> None:
    env.write_config(ipv6={"enabled": True, "sources": [
        {"type": "http", "url": env.fake.url + "/ip6"}]})
    warm(env)
    env.fake.set_echo("/ip6", status=503)
    env.fake.set_ip(ipv4=IP2)
    result = env.run(["update"])
    assert result.code == EX_UNAVAILABLE
    assert env.calls() == ["GET list", "PATCH record"]
    assert {r["type"]: r["content"] for r in env.records()} == {"A": IP2, "AAAA": IP6_1}
    assert result.lines[-2] == (f"pi-ddns: notice: before the failure: updated A {NAME} {IP1} "
                                f"-> {IP2}")
    assert result.lines[-1].startswith("pi-ddns: error: no acceptable IPv6 address: http ")
    assert set(env.state()["records"]) == {f"A {NAME}", f"AAAA {NAME}"}
    env.fake.clear_requests()
    assert env.run(["update", "--force"]).code == EX_UNAVAILABLE  # reconcile keeps AAAA cached
    assert env.calls() == ["GET zones", "GET list"]
    assert set(env.state()["records"]) == {f"A {NAME}", f"AAAA {NAME}"}


def test_stale_cache_reconciles_once(env: Env) -> None:
    warm(env)

    def later() -> float:
        return time.time() + 86400 + 60  # just past max_cache_age

    result = env.run(["update"], now=later)
    assert result.code == 0
    assert env.calls() == ["GET zones", "GET list"]
    env.fake.clear_requests()
    assert env.run(["update"], now=later).code == 0
    assert env.calls() == []


def test_force_reconciles_and_catches_a_dashboard_edit(env: Env) -> None:
    warm(env)
    rid = env.records()[0]["id"]
    env.fake.state.records[rid]["content"] = IP3  # edited by hand in the dashboard
    assert env.run(["update"]).code == 0
    assert env.calls() == []  # the cache is trusted...
    result = env.run(["update", "--force"])  # ...until forced (or max_cache_age)
    assert result.code == 0
    assert env.calls() == ["GET zones", "GET list", "PATCH record"]
    assert env.records()[0]["content"] == IP1


def test_new_record_in_config_with_a_warm_cache(env: Env) -> None:
    warm(env)
    env.write_config(records=[NAME, f"nas.{ZONE}"])
    assert env.run(["update"]).code == 0
    assert env.calls() == ["GET list", "POST list"]  # cached zone id, no zone lookup


# ---- convergence after faults ----------------------------------------------------------------

def test_record_deleted_by_hand_is_recreated(env: Env) -> None:
    warm(env)
    env.fake.delete_record(env.records()[0]["id"])
    env.fake.set_ip(ipv4=IP2)
    result = env.run(["update"])
    assert result.code == 0
    assert env.calls() == ["GET list", "POST list"]
    assert "is gone at Cloudflare" in result.err
    [record] = env.records()
    assert record["content"] == IP2
    assert env.state()["records"][f"A {NAME}"]["id"] == record["id"]


def test_post_that_timed_out_after_creating_is_adopted_next_run(env: Env) -> None:
    env.write_config(cloudflare={"api_url": env.fake.api_url, "timeout": 0.5, "retries": 1})
    env.fake.add_fault(method="POST", path="/dns_records$", delay=1.5, after_apply=True, times=1)
    first = env.run(["update"])
    assert first.code == EX_TEMPFAIL
    assert "timed out" in first.lines[-1]
    assert len(env.records()) == 1  # created, answer lost
    env.fake.clear_requests()
    second = env.run(["update"])
    assert second.code == 0
    assert env.calls() == ["GET zones", "GET list"]
    assert len(env.records()) == 1


def test_record_exists_on_create_lists_again_and_adopts_without_duplicate(env: Env) -> None:
    seed(env)
    env.fake.add_fault(method="GET", path="/dns_records$", status=200, body=EMPTY_LIST,
                       content_type="application/json", times=1)
    result = env.run(["update"])
    assert result.code == 0
    assert env.calls() == ["GET zones", "GET list", "POST list", "GET list"]
    assert "exists already" in result.err
    assert len(env.records()) == 1
    assert env.state()["records"][f"A {NAME}"]["id"] == env.records()[0]["id"]


def test_crash_between_api_write_and_state_write_converges(env: Env) -> None:
    warm(env)
    saved = env.state_path.read_bytes()
    env.fake.set_ip(ipv4=IP2)
    assert env.run(["update"]).code == 0
    env.state_path.write_bytes(saved)  # as if killed before the state write
    env.fake.clear_requests()
    assert env.run(["update"]).code == 0
    # the list finds the record already right: nothing to write, no duplicate
    assert env.calls() == ["GET list"]
    assert len(env.records()) == 1


# ---- conflicts: never touch what is not ours -------------------------------------------------

def test_unowned_record_is_a_conflict_and_untouched(env: Env) -> None:
    rid = seed(env, IP2, comment="by hand")
    result = env.run(["update"])
    assert result.code == EX_DATAERR
    assert rid in result.lines[-1]
    assert "adopt = true" in result.lines[-1]
    assert env.calls() == ["GET zones", "GET list"]
    assert env.records()[0]["content"] == IP2


def test_adopt_takes_over_and_adds_the_marker(env: Env) -> None:
    rid = seed(env, IP2, comment="by hand")
    env.write_config(adopt=True)
    result = env.run(["update"])
    assert result.code == 0
    [record] = env.records()
    assert (record["id"], record["content"]) == (rid, IP1)
    assert record["comment"] == f"by hand {MARKER}"
    assert result.lines[-1].startswith(f"pi-ddns: notice: adopted A {NAME}")


def test_two_records_conflict_names_both_ids(env: Env) -> None:
    a, b = seed(env, IP2), seed(env, IP3)
    result = env.run(["update"])
    assert result.code == EX_DATAERR
    assert a in result.lines[-1]
    assert b in result.lines[-1]
    assert sorted(r["content"] for r in env.records()) == [IP2, IP3]


def test_cname_at_the_name_is_a_conflict(env: Env) -> None:
    seed(env, "elsewhere.example.net", rtype="CNAME", comment=None)
    result = env.run(["update"])
    assert result.code == EX_DATAERR
    assert "CNAME" in result.lines[-1]
    assert [r["type"] for r in env.records()] == ["CNAME"]


def test_one_conflict_does_not_block_the_other_records(env: Env) -> None:
    other = f"nas.{ZONE}"
    env.fake.seed_record(other, "A", IP2, comment="by hand")
    env.write_config(records=[other, NAME])
    result = env.run(["update"])
    assert result.code == EX_DATAERR
    assert [r["content"] for r in env.records()] == [IP1]
    assert f"before the failure: created A {NAME}" in result.err


def test_proxied_record_keeps_proxied_when_unset(env: Env) -> None:
    seed(env, IP2, proxied=True)
    assert env.run(["update"]).code == 0
    record = env.records()[0]
    assert (record["content"], record["proxied"]) == (IP1, True)


def test_ttl_and_proxied_from_config(env: Env) -> None:
    seed(env, ttl=1, proxied=False)
    env.write_config(ttl=600)
    assert env.run(["update"]).code == 0
    assert env.records()[0]["ttl"] == 600
    env.write_config(ttl=600, proxied=True)
    assert env.run(["update", "--force"]).code == 0
    record = env.records()[0]
    assert (record["ttl"], record["proxied"]) == (1, True)  # proxied: TTL is always auto
    env.fake.clear_requests()
    assert env.run(["update", "--force"]).code == 0
    assert env.calls() == ["GET zones", "GET list"]  # no PATCH chasing the TTL


# ---- failures leave everything as it was -----------------------------------------------------

def test_detection_failure_changes_nothing(env: Env) -> None:
    warm(env)
    before = env.state()
    env.fake.set_echo("/ip", body="<html>oops</html>")
    result = env.run(["update"])
    assert result.code == EX_UNAVAILABLE
    assert result.lines[-1].startswith("pi-ddns: error: no acceptable IPv4 address: http ")
    assert env.fake.requests() == []
    assert env.records()[0]["content"] == IP1
    after = env.state()
    assert after["records"] == before["records"]
    assert after["last_run"]["exit_code"] == EX_UNAVAILABLE
    # the same failure again does not rewrite the file; recovery does
    mtime = env.state_path.stat().st_mtime_ns
    assert env.run(["update"]).code == EX_UNAVAILABLE
    assert env.state_path.stat().st_mtime_ns == mtime
    env.fake.clear_echo()
    assert env.run(["update"]).code == 0
    assert env.state()["last_run"]["exit_code"] == 0
    assert env.fake.requests() == []


@pytest.mark.parametrize(("rule", "code", "text"), [
    ({"status": 403, "code": 9109, "message": "Invalid access token"}, EX_NOPERM, "DNS > Edit"),
    ({"status": 429, "code": 971, "message": "Please wait", "retry_after": 600}, EX_TEMPFAIL,
     "rate limited"),
    ({"status": 502, "body": "<html>bad gateway</html>", "content_type": "text/html"},
     EX_TEMPFAIL, "server error"),
])
def test_api_errors_map_to_exit_codes(env: Env, rule: dict[str, Any], code: int,
                                      text: str) -> None:
    env.fake.add_fault(method="GET", path="/zones$", **rule)
    result = env.run(["update"])
    assert result.code == code
    assert text in result.lines[-1]
    assert env.records() == []
    assert env.state()["last_run"] == {"at": env.state()["last_run"]["at"], "exit_code": code,
                                       "message": result.lines[-1].split("error: ", 1)[1]}


def test_zone_not_found_is_a_config_error(env: Env) -> None:
    env.write_config(zone="example.org", records=["home.example.org"])
    result = env.run(["update"])
    assert result.code == 78
    assert "zone example.org: not found" in result.lines[-1]


def test_missing_token_is_a_config_error(env: Env) -> None:
    env.token_path.unlink()
    result = env.run(["update"])
    assert result.code == 78
    assert "no API token" in result.lines[-1]


# ---- state file trouble is never fatal -------------------------------------------------------

@pytest.mark.parametrize(("content", "why"), [
    (b"{not json", "ignoring the state file"),
    (b'{"version": 3}', "version 3 is newer"),
    (b'{"version": 1, "zone": {"name": "example.com", "id": 5}}', "ignoring the state file"),
    (b"[]", "not a JSON object"),
])
def test_bad_state_costs_one_reconcile(env: Env, content: bytes, why: str) -> None:
    seed(env)
    env.state_path.write_bytes(content)
    result = env.run(["update"])
    assert result.code == 0
    assert why in result.err
    assert env.calls() == ["GET zones", "GET list"]
    assert env.state()["version"] == 2


def test_unreadable_state_costs_one_reconcile(env: Env) -> None:
    seed(env)
    env.state_path.mkdir()  # reading fails even as root
    result = env.run(["update"])
    assert result.code == 0
    assert "cannot read the state" in result.err
    assert "cannot write the state" in result.err
    assert env.calls() == ["GET zones", "GET list"]


def test_unwritable_state_dir_still_updates_dns(env: Env) -> None:
    env.write_config(state_file=str(env.tmp / "no-such-dir" / "state.json"))
    result = env.run(["update"])
    assert result.code == 0
    assert "cannot write the state" in result.err
    assert result.lines[-1] == f"pi-ddns: notice: created A {NAME} {IP1}"
    assert len(env.records()) == 1
    env.fake.clear_requests()
    assert env.run(["update"]).code == 0  # reconciles, no duplicate
    assert env.calls() == ["GET zones", "GET list"]
    assert len(env.records()) == 1


def test_state_write_is_atomic_and_leaves_no_temp_files(env: Env) -> None:
    warm(env)
    env.fake.set_ip(ipv4=IP2)
    assert env.run(["update"]).code == 0
    # the run lock stays beside it (empty of meaning once the run ended)
    assert sorted(p.name for p in env.state_path.parent.iterdir()) == [
        "state.json", "state.json.lock"]
    assert oct(env.state_path.stat().st_mode & 0o777) == "0o600"


# ---- dry run ---------------------------------------------------------------------------------

def test_dry_run_cold_reads_but_writes_nothing(env: Env) -> None:
    result = env.run(["update", "--dry-run"])
    assert result.code == 0
    assert env.calls() == ["GET zones", "GET list"]
    assert env.records() == []
    assert not env.state_path.exists()
    assert result.lines[-1] == f"pi-ddns: notice: dry run: would have created A {NAME} {IP1}"
    assert result.out == f"would have created A {NAME} {IP1}\n"


def test_dry_run_warm_change_looks_up_afresh_and_writes_nothing(env: Env) -> None:
    """A dry run never reads the state (test_dry_run.py): even warm, it asks Cloudflare."""
    warm(env)
    before = env.state_path.read_bytes()
    env.fake.set_ip(ipv4=IP2)
    result = env.run(["update", "--dry-run"])
    assert result.code == 0
    assert env.calls() == ["GET zones", "GET list"]
    assert env.records()[0]["content"] == IP1
    assert env.state_path.read_bytes() == before
    assert "would have updated" in result.lines[-1]


# ---- output ----------------------------------------------------------------------------------

def test_token_never_appears_in_output_or_state(env: Env) -> None:
    env.fake.add_fault(method="GET", path="/zones$", status=400, code=6003,
                       message=f"bad header Bearer {TOKEN}")
    result = env.run(["-v", "update"])
    assert TOKEN not in result.out + result.err
    env.fake.clear_faults()
    result = env.run(["-v", "update"])
    assert result.code == 0
    assert TOKEN not in result.out + result.err
    assert TOKEN not in env.state_path.read_text()


def test_exactly_one_summary_line_per_run(env: Env) -> None:
    env.state_path.write_text("{}")  # no "no state yet" info line
    result = env.run(["update"])
    summary = [line for line in result.lines if "created" in line or "no change" in line]
    assert summary == [f"pi-ddns: notice: created A {NAME} {IP1}"]


def test_healthcheck_ping(env: Env) -> None:
    env.write_config(healthcheck_url=env.fake.url + "/hc/uuid-1")
    assert env.run(["update"]).code == 0
    env.fake.set_echo("/ip", status=500)
    assert env.run(["update"]).code == EX_UNAVAILABLE
    # the fake answers 404 for unknown paths: a failed ping is only a warning
    result = env.run(["update"])
    assert result.code == EX_UNAVAILABLE
    assert "healthcheck ping 127.0.0.1: HTTP 404" in result.err
