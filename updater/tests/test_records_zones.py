"""Several zones and per-record settings end to end (issue 12): the real CLI against the fake.

Budgets are counted at the fake's request log: an unchanged run makes no API call; a changed
record with a warm cache costs a list of its name and one PATCH; a cold run costs one zone
lookup per zone, plus the lists and writes it needs. Every list and write goes to the zone the
record's name is in, never with another zone's id.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import IP1, IP2, IP6_1, IP6_2, MARKER, NAME, ZONE, Env
from pi_ddns import state
from pi_ddns.errors import EX_CONFIG, EX_OK

ORG, NET = "example.org", "example.net"
BLOG, MAIL = f"blog.{ORG}", f"mail.{NET}"


def zones(env: Env, *names: str) -> None:
    for name in names:
        env.fake.add_zone(name)


def write_records(env: Env, records: list[Any], **changes: Any) -> None:
    env.write_config(records=records, **changes)


def v6(env: Env) -> dict[str, Any]:
    return {"enabled": True, "timeout": 2.0,
            "sources": [{"type": "http", "url": env.fake.url + "/ip6"}]}


def zone_of(env: Env, zone_id: str) -> str:
    return str(env.fake.state.zones[zone_id]["name"])


def name_of_request(env: Env, r: dict[str, Any], gone: dict[str, str]) -> str | None:
    """The record name a dns_records request is about (list: its filter; create: its body;
    a PATCH: the record it names; a DELETE: the record's name before, from `gone`)."""
    if r["method"] == "GET":
        return r["query"].get("name.exact")
    if r["method"] == "POST":
        return str(r["body"]["name"])
    rid = r["path"].rsplit("/", 1)[1]
    record = env.fake.state.records.get(rid)
    return gone.get(rid) if record is None else str(record["name"])


def assert_each_request_in_its_zone(env: Env, gone: dict[str, str] | None = None) -> None:
    """A record in zone B is never listed or written with zone A's id (`gone`: the names of
    records deleted since, by id)."""
    for r in env.fake.requests():
        m = re.fullmatch(r"/client/v4/zones/([0-9a-f]{32})/dns_records(/.*)?", r["path"])
        if m is None:
            continue
        zone, name = zone_of(env, m.group(1)), name_of_request(env, r, gone or {})
        assert name is not None, r
        assert name == zone or name.endswith("." + zone), (r["method"], r["path"], name, zone)


def test_a_cold_run_looks_each_zone_up_once(env: Env) -> None:
    zones(env, ORG, NET)
    write_records(env, [NAME, {"name": BLOG, "zone": ORG}, {"name": MAIL, "zone": NET},
                        {"name": f"www.{ORG}", "zone": ORG}])
    result = env.run(["update"])
    assert result.code == EX_OK, result.err
    calls = env.calls()
    assert calls.count("GET zones") == 3
    assert calls.count("GET list") == 4
    assert calls.count("POST list") == 4
    assert len(calls) == 11
    assert sorted(r["query"]["name"] for r in env.fake.requests(path="/zones$")) == \
        sorted([ZONE, ORG, NET])
    assert_each_request_in_its_zone(env)
    for name, zone in ((NAME, ZONE), (BLOG, ORG), (MAIL, NET), (f"www.{ORG}", ORG)):
        [record] = env.fake.records(name=name)
        assert (record["zone_name"], record["content"]) == (zone, IP1)
    st = env.state()
    assert st["version"] == 2
    assert sorted(st["zones"]) == sorted([ZONE, ORG, NET])
    assert st["zones"][ORG]["name_servers"] == env.fake.state.zone_by_name(ORG)["name_servers"]
    assert st["records"][f"A {BLOG}"]["zone"] == ORG

    env.fake.clear_requests()
    assert env.run(["update"]).code == EX_OK
    assert env.fake.requests() == []  # unchanged: no API call at all


def test_a_changed_address_warm_costs_a_list_and_a_patch_per_name(env: Env) -> None:
    zones(env, ORG)
    write_records(env, [NAME, {"name": BLOG, "zone": ORG}])
    assert env.run(["update"]).code == EX_OK
    env.fake.set_ip(ipv4=IP2)
    env.fake.clear_requests()
    result = env.run(["update"])
    assert result.code == EX_OK, result.err
    assert env.calls() == ["GET list", "PATCH record", "GET list", "PATCH record"]
    assert_each_request_in_its_zone(env)
    assert [r["content"] for r in env.fake.records()] == [IP2, IP2]


def test_one_records_new_setting_warm_costs_one_list_and_one_patch(env: Env) -> None:
    zones(env, ORG)
    write_records(env, [NAME, {"name": BLOG, "zone": ORG}])
    assert env.run(["update"]).code == EX_OK
    write_records(env, [NAME, {"name": BLOG, "zone": ORG, "ttl": 600, "comment": "blog"}])
    env.fake.clear_requests()
    result = env.run(["update"])
    assert result.code == EX_OK, result.err
    assert env.calls() == ["GET list", "PATCH record"]
    assert_each_request_in_its_zone(env)
    [blog] = env.fake.records(name=BLOG)
    assert (blog["ttl"], blog["comment"]) == (600, f"{MARKER} blog")
    [home] = env.fake.records(name=NAME)
    assert (home["ttl"], home["comment"]) == (1, MARKER)  # the other record: as it was
    env.fake.clear_requests()
    assert env.run(["update"]).code == EX_OK
    assert env.fake.requests() == []
    # the comment alone changes: the same cost, the new comment whole
    write_records(env, [NAME, {"name": BLOG, "zone": ORG, "ttl": 600, "comment": "blog 2"}])
    assert env.run(["update"]).code == EX_OK
    assert env.calls() == ["GET list", "PATCH record"]
    assert [r["comment"] for r in env.fake.records(name=BLOG)] == [f"{MARKER} blog 2"]


def test_a_zone_added_to_a_warm_config_costs_only_its_own_lookup(env: Env) -> None:
    zones(env, ORG)
    assert env.run(["update"]).code == EX_OK
    write_records(env, [NAME, {"name": BLOG, "zone": ORG}])
    env.fake.clear_requests()
    assert env.run(["update"]).code == EX_OK
    assert env.calls() == ["GET zones", "GET list", "POST list"]
    assert env.fake.requests(path="/zones$")[0]["query"]["name"] == ORG
    assert_each_request_in_its_zone(env)


def test_a_record_moved_to_another_zone_is_written_there(env: Env) -> None:
    """The same name and type, now configured in another zone: the id cached in the first
    zone means nothing there."""
    zones(env, f"sub.{ZONE}")
    name = f"a.sub.{ZONE}"
    write_records(env, [name])
    assert env.run(["update"]).code == EX_OK
    [first] = env.fake.records(name=name)
    assert first["zone_name"] == ZONE
    write_records(env, [{"name": name, "zone": f"sub.{ZONE}"}])
    env.fake.clear_requests()
    result = env.run(["update"])
    assert result.code == EX_OK, result.err
    assert_each_request_in_its_zone(env)
    moved = [r for r in env.fake.records(name=name) if r["zone_name"] == f"sub.{ZONE}"]
    assert [r["content"] for r in moved] == [IP1]
    assert env.state()["records"][f"A {name}"]["zone"] == f"sub.{ZONE}"


def test_a_missing_zone_keeps_the_others_right_and_exits_78(env: Env) -> None:
    zones(env, ORG)
    write_records(env, [NAME, {"name": "a.example.info", "zone": "example.info"},
                        {"name": BLOG, "zone": ORG}])
    result = env.run(["update"])
    assert result.code == EX_CONFIG
    assert "zone example.info: not found" in result.err
    assert [r["content"] for r in env.fake.records()] == [IP1, IP1]
    assert_each_request_in_its_zone(env)


def test_a_pending_zone_is_never_written(env: Env) -> None:
    env.fake.add_zone(ORG, status="pending")
    write_records(env, [NAME, {"name": BLOG, "zone": ORG}])
    result = env.run(["update"])
    assert result.code == EX_CONFIG
    assert f"zone {ORG} is not active" in result.err
    assert env.fake.records(zone=ORG) == []
    assert [r["content"] for r in env.fake.records(zone=ZONE)] == [IP1]


def test_a_version_1_state_is_read_without_a_reconcile(env: Env) -> None:
    assert env.run(["update"]).code == EX_OK
    v2 = env.state()
    v1 = {"version": 1, "zone": {"name": ZONE, "id": v2["zones"][ZONE]["id"]},
          "records": {k: {f: v for f, v in r.items() if f != "zone"}
                      for k, r in v2["records"].items()},
          "last_reconcile": v2["last_reconcile"], "last_run": v2["last_run"]}
    env.state_path.write_text(json.dumps(v1))
    env.fake.clear_requests()
    assert env.run(["update"]).code == EX_OK
    assert env.fake.requests() == []  # migrated in memory: still warm
    env.fake.set_ip(ipv4=IP2)
    assert env.run(["update"]).code == EX_OK
    assert env.calls() == ["GET list", "PATCH record"]
    assert env.state()["version"] == 2  # written back as version 2


def test_status_json_lists_each_record_with_its_zone_and_own_settings(env: Env) -> None:
    zones(env, ORG)
    write_records(env, [NAME, {"name": BLOG, "zone": ORG, "proxied": True, "comment": "b"}])
    assert env.run(["update"]).code == EX_OK
    result = env.run(["status", "--json"])
    assert result.code == EX_OK, result.out
    out = json.loads(result.out)
    assert out["zones"] == [ZONE, ORG]
    blog = next(r for r in out["records"] if r["name"] == BLOG)
    assert (blog["zone"], blog["proxied"], blog["comment"]) == (ORG, True, f"{MARKER} b")
    # the config changes one record's comment: status names that record, and only it
    write_records(env, [NAME, {"name": BLOG, "zone": ORG, "proxied": True, "comment": "c"}])
    result = env.run(["status", "--json"])
    out = json.loads(result.out)
    assert result.code == 75
    assert out["message"] == (f"out of sync: A {BLOG} comment is '{MARKER} b', config says "
                              f"'{MARKER} c'")
    human = env.run(["status"]).out
    assert f"zones       {ZONE}, {ORG}" in human
    assert f"A {BLOG} (zone {ORG}) {IP1} ttl 1 proxied true" in human


def test_remove_deletes_ours_in_every_zone_and_nothing_else(env: Env) -> None:
    zones(env, ORG)
    foreign = env.fake.seed_record(BLOG, "AAAA", IP6_1, zone=ORG, comment="by hand")["id"]
    write_records(env, [NAME, {"name": BLOG, "zone": ORG}])
    assert env.run(["update"]).code == EX_OK
    before = {r["id"]: r["name"] for r in env.fake.records()}
    env.fake.clear_requests()
    result = env.run(["remove"])
    assert result.code == EX_OK, result.err
    assert sorted(line.split()[1] for line in result.out.splitlines()) == [BLOG, NAME]
    assert [r["id"] for r in env.fake.records()] == [foreign]
    assert env.calls().count("GET zones") == 2
    assert_each_request_in_its_zone(env, before)


# ---- the property: any record tables over 2-3 zones ------------------------------------------

ZONES = (ZONE, ORG, NET)
LABELS = ("a", "b", "www", "home", "x-1")
ttls = st.sampled_from([None, 1, 60, 300, 86400])
comments = st.none() | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                               min_size=1, max_size=12)


@st.composite
def tables(draw: st.DrawFn) -> list[dict[str, Any]]:
    used = draw(st.lists(st.sampled_from(ZONES), min_size=2, max_size=3, unique=True))
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for _ in range(draw(st.integers(1, 6))):
        zone = draw(st.sampled_from(used))
        label = draw(st.sampled_from((*LABELS, "")))
        name = f"{label}.{zone}" if label else zone
        rtype = draw(st.sampled_from([None, "A", "AAAA"]))
        types = {"A", "AAAA"} if rtype is None else {rtype}
        if any((name, t) in seen for t in types):
            continue
        seen |= {(name, t) for t in types}
        table: dict[str, Any] = {"name": name, "zone": zone}
        for key, value in (("type", rtype), ("ttl", draw(ttls)),
                           ("proxied", draw(st.none() | st.booleans())),
                           ("comment", draw(comments))):
            if value is not None:
                table[key] = value
        out.append(table)
    assume(len({t["zone"] for t in out}) >= 2)
    return out


def expected(table: dict[str, Any], rtype: str) -> dict[str, Any]:
    proxied = table.get("proxied", False)
    return {"zone_name": table["zone"], "content": IP1 if rtype == "A" else IP6_1,
            "ttl": 1 if proxied else table.get("ttl", 1), "proxied": proxied,
            "comment": f"{MARKER} {table['comment']}" if "comment" in table else MARKER}


def seed_foreign(env: Env, configured: set[tuple[str, str]]) -> dict[str, str]:
    """Records without the marker in every zone: at names not configured, TXT at every
    configured name, and an A or AAAA at a configured name whose other type is configured."""
    out = []
    for zone in ZONES:
        out.append(env.fake.seed_record(f"foreign.{zone}", "A", IP2, zone=zone,
                                        comment="made by hand"))
        out.append(env.fake.seed_record(zone, "TXT", '"v=spf1 -all"', zone=zone))
    for name, rtype in sorted(configured):
        other = "AAAA" if rtype == "A" else "A"
        zone = next(z for z in sorted(ZONES, key=len, reverse=True)
                    if name == z or name.endswith("." + z))
        out.append(env.fake.seed_record(name, "TXT", '"hello"', zone=zone))
        if (name, other) not in configured:
            out.append(env.fake.seed_record(name, other, IP2 if other == "A" else IP6_2,
                                            zone=zone, comment="not-managed-by: pi-ddns"))
    return {r["id"]: json.dumps(r, sort_keys=True) for r in out}


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tables())
def test_property_any_tables_over_several_zones(env: Env, records: list[dict[str, Any]]) -> None:
    zones(env, ORG, NET)
    with env.fake.lock:
        env.fake.state.records.clear()
    env.state_path.unlink(missing_ok=True)
    write_records(env, records, ipv6=v6(env))
    configured = {(t["name"], rt) for t in records
                  for rt in ([t["type"]] if "type" in t else ["A", "AAAA"])}
    foreign = seed_foreign(env, configured)
    env.fake.clear_requests()

    result = env.run(["update"])
    assert result.code == EX_OK, result.err
    assert_each_request_in_its_zone(env)
    assert env.calls().count("GET zones") == len({t["zone"] for t in records})
    for table in records:
        for rtype in [table["type"]] if "type" in table else ["A", "AAAA"]:
            found = [r for r in env.fake.records(name=table["name"], type=rtype)
                     if state.has_marker(r["comment"], MARKER)]
            assert len(found) == 1, (table, rtype, found)
            got = {k: found[0][k] for k in ("zone_name", "content", "ttl", "proxied", "comment")}
            assert got == expected(table, rtype)
    mine = [r for r in env.fake.records() if r["id"] not in foreign]
    assert len(mine) == len(configured)
    after = {r["id"]: json.dumps(r, sort_keys=True) for r in env.fake.records()}
    assert {rid: after.get(rid) for rid in foreign} == foreign  # never touched

    env.fake.clear_requests()
    again = env.run(["update"])
    assert again.code == EX_OK, again.err
    assert env.fake.requests() == []


def test_a_dry_run_over_two_zones_plans_each_in_its_zone_and_writes_nothing(env: Env) -> None:
    zones(env, ORG)
    write_records(env, [NAME, {"name": BLOG, "zone": ORG, "ttl": 300}])
    result = env.run(["update", "--dry-run"])
    assert result.code == EX_OK, result.err
    assert result.out.splitlines() == [f"would have created A {NAME} {IP1}",
                                       f"would have created A {BLOG} {IP1}"]
    assert env.calls() == ["GET zones", "GET list", "GET zones", "GET list"]
    assert_each_request_in_its_zone(env)
    assert env.fake.records() == []
    assert not env.state_path.exists()
