"""`pi-ddns remove` against the fake Cloudflare: only owned records go, every other stays.

Owned: at exactly a configured name, type A or AAAA, the marker a whole token of the comment.
The hostile property throws any mix of records at the names (other types, foreign comments,
the marker inside a longer word, records renamed away, a state file naming foreign ids) and
checks that exactly the owned ones are deleted and every other record is byte-for-byte as it
was.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import IP1, IP2, IP6_1, MARKER, NAME, ZONE, Env
from pi_ddns.errors import EX_CONFIG, EX_NOPERM, EX_TEMPFAIL

NAS = f"nas.{ZONE}"
FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                              HealthCheck.too_slow], deadline=None,
                       max_examples=60)
Json = dict[str, Any]


def seed(env: Env, name: str = NAME, rtype: str = "A", content: str = IP1,
         comment: str | None = MARKER, **kw: Any) -> str:
    rid: str = env.fake.seed_record(name, rtype, content, comment=comment, **kw)["id"]
    return rid


def owned_by_the_rule(record: Json, names: list[str], marker: str) -> bool:
    """The rule, written independently of pi_ddns: the marker between separators."""
    sep = r"[ \t;,|]"
    whole = re.search(f"(^|{sep}){re.escape(marker)}($|{sep})", record.get("comment") or "")
    return record["name"] in names and record["type"] in ("A", "AAAA") and bool(whole)


def everything(env: Env) -> dict[str, str]:
    """Every record in the fake, id -> its full JSON (byte-for-byte comparable)."""
    return {r["id"]: json.dumps(r, sort_keys=True) for r in env.fake.records()}


def test_remove_deletes_owned_a_and_aaaa_and_prints_one_line_each(env: Env) -> None:
    env.write_config(records=[NAME, NAS])
    a, aaaa = seed(env), seed(env, rtype="AAAA", content=IP6_1)
    nas = seed(env, NAS, comment=f"kept by hand; {MARKER}")
    env.fake.clear_requests()
    result = env.run(["remove"])
    assert result.code == 0, result.err
    assert result.out.splitlines() == [f"deleted {NAME} A {a}", f"deleted {NAME} AAAA {aaaa}",
                                       f"deleted {NAS} A {nas}"]
    assert env.fake.records() == []
    # one zone lookup, one list per name, one DELETE per owned record
    assert env.calls() == ["GET zones", "GET list", "DELETE record", "DELETE record",
                           "GET list", "DELETE record"]
    assert "deleted 3 record(s)" in result.err


def test_remove_with_nothing_to_delete_prints_nothing_and_exits_0(env: Env) -> None:
    foreign = seed(env, comment="made by hand")
    result = env.run(["remove"])
    assert (result.code, result.out) == (0, "")
    assert [r["id"] for r in env.fake.records()] == [foreign]
    assert env.calls() == ["GET zones", "GET list"]
    assert "nothing to remove" in result.err
    # again, after a real removal: still 0, still silent
    env.fake.delete_record(foreign)
    assert (env.run(["remove"]).code, env.run(["remove"]).out) == (0, "")


def test_remove_dry_run_lists_and_deletes_nothing(env: Env) -> None:
    rid = seed(env)
    before = everything(env)
    env.state_path.parent.rmdir()  # no state directory: a dry run needs none, takes no lock
    env.fake.clear_requests()
    result = env.run(["remove", "--dry-run"])
    assert result.code == 0, result.err
    assert result.out == f"would delete {NAME} A {rid}\n"
    assert everything(env) == before
    assert env.calls() == ["GET zones", "GET list"]
    assert not env.state_path.parent.exists()
    assert "lock" not in result.err


def test_remove_after_update_and_update_after_remove(env: Env) -> None:
    """The state forgets what remove deleted: the next update creates afresh, not "no change"."""
    assert env.run(["update"]).code == 0
    rid = env.records()[0]["id"]
    result = env.run(["remove"])
    assert result.out == f"deleted {NAME} A {rid}\n"
    assert env.state()["records"] == {}
    assert "last_reconcile" not in env.state()
    result = env.run(["update"])
    assert result.code == 0
    assert [r["content"] for r in env.records()] == [IP1]
    assert "created" in result.lines[-1]


def test_remove_takes_the_run_lock(env: Env) -> None:
    import fcntl

    seed(env)
    env.write_config(run_timeout=2.0)  # waits min(10, run_timeout / 2) s for the lock
    lock = env.state_path.with_name("state.json.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)  # another process would hold it; a child shows it
        result = env.spawn(["remove"])
    finally:
        os.close(fd)
    assert result.code == EX_TEMPFAIL, result.err
    assert "another pi-ddns update is running" in result.err
    assert result.out == ""
    assert len(env.fake.records()) == 1


def test_remove_exit_codes(env: Env) -> None:
    seed(env)
    env.write_token("not-the-right-token-0123456789\n")
    result = env.run(["remove"])
    assert (result.code, result.out) == (EX_NOPERM, "")
    env.write_token("CHANGE_ME\n")
    result = env.run(["remove"])
    assert (result.code, result.out) == (EX_CONFIG, "")
    assert "placeholder" in result.err
    env.write_token("test-token-0123456789abcdef\n")
    env.fake.add_fault(method="DELETE", status=503)
    result = env.run(["remove"])
    assert (result.code, result.out) == (EX_TEMPFAIL, "")
    assert len(env.fake.records()) == 1


def test_remove_a_record_gone_between_list_and_delete_is_not_an_error(env: Env) -> None:
    rid = seed(env)
    env.fake.add_fault(method="DELETE", status=404, code=81044, message="Record does not exist.",
                       times=1)
    result = env.run(["remove"])
    assert (result.code, result.out) == (0, "")
    assert f"({rid}) is gone already" in result.err


def test_remove_never_trusts_a_delete_answer_that_names_another_record(env: Env) -> None:
    seed(env)
    env.fake.add_fault(method="DELETE", status=200, times=1, content_type="application/json",
                       body='{"success": true, "errors": [], "messages": [], '
                            '"result": {"id": "0123456789abcdef0123456789abcdef"}}')
    result = env.run(["remove"])
    assert (result.code, result.out) == (EX_TEMPFAIL, "")
    assert "does not name the record deleted" in result.err


def test_remove_token_stdin(env: Env) -> None:
    rid = seed(env)
    env.token_path.unlink()
    result = env.spawn(["remove", "--token-stdin"], input_text="test-token-0123456789abcdef\n")
    assert (result.code, result.out) == (0, f"deleted {NAME} A {rid}\n")


COMMENTS = st.sampled_from([
    MARKER, f"kept; {MARKER}", f"{MARKER} | note", f"not-{MARKER}", f"{MARKER}-old",
    f"x{MARKER}", MARKER.upper(), "made by hand", None, "", f"{MARKER},x", f"a\t{MARKER}",
])
TYPES = st.sampled_from(["A", "AAAA", "TXT", "CNAME", "NS", "a"])
NAMES = st.sampled_from([NAME, NAS, f"other.{ZONE}", f"x.{NAME}", ZONE, f"{NAME}.{ZONE}"])


@FIXTURES_OK
@given(records=st.lists(st.tuples(NAMES, TYPES, COMMENTS), max_size=10),
       configured=st.sampled_from([[NAME], [NAME, NAS], [NAS]]),
       cached=st.lists(st.integers(0, 9), max_size=3),
       dry_run=st.booleans())
def test_property_only_owned_records_go(env: Env, records: list[tuple[str, str, str | None]],
                                        configured: list[str], cached: list[int],
                                        dry_run: bool) -> None:
    with env.fake.lock:
        env.fake.state.records.clear()
    env.fake.clear_requests()
    env.write_config(records=configured)
    made = []
    for i, (name, rtype, comment) in enumerate(records):
        content = {"A": IP1, "a": IP2, "AAAA": IP6_1}.get(rtype, f"text-{i}.{ZONE}")
        made.append(env.fake.seed_record(name, rtype, content, comment=comment))
    # a state file that names foreign records' ids as ours (edited by hand, or renamed ones)
    ids = [made[i]["id"] for i in cached if i < len(made)]
    env.state_path.write_text(json.dumps({
        "version": 1, "zone": {"name": ZONE, "id": env.fake.records()[0]["zone_id"]
                               if made else "0" * 32},
        "records": {f"A {n}": {"id": rid, "content": IP1, "changed_at": "2026-01-01T00:00:00+00:00"}
                    for n, rid in zip(configured, ids, strict=False)}}))
    before = everything(env)
    owned = {r["id"] for r in made if owned_by_the_rule(r, configured, MARKER)}

    result = env.run(["remove", *(["--dry-run"] if dry_run else [])])

    assert result.code == 0, result.err
    after = everything(env)
    verb = "would delete" if dry_run else "deleted"
    said = {line.rsplit(" ", 1)[1] for line in result.out.splitlines()}
    assert all(line.startswith(f"{verb} ") for line in result.out.splitlines())
    assert said == owned
    if dry_run:
        assert after == before
    else:
        assert set(after) == set(before) - owned
        assert all(after[rid] == before[rid] for rid in after)  # byte-for-byte untouched
    deletes = [r for r in env.fake.requests() if r["method"] == "DELETE"]
    assert len(deletes) == (0 if dry_run else len(owned))
    assert all(r["method"] in ("GET", "DELETE") for r in env.fake.requests())
