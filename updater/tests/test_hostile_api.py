"""Issue 8, the Cloudflare side: a hostile or mutating API cannot make pi-ddns write the wrong
record, duplicate one, exit 70, publish a bad address, or print or store the token.

Every test drives the real CLI (`cli.main`) against the fake Cloudflare on loopback, whose
answers are rewritten by fault rules (`mutate` rewrites the real answer of a request that was
really applied) or replaced outright. Hypothesis picks the rewrites.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import IP1, IP2, MARKER, NAME, TOKEN, ZONE, Env
from pi_ddns import state
from pi_ddns.detect import check
from pi_ddns.errors import (
    EX_CONFIG,
    EX_DATAERR,
    EX_NOPERM,
    EX_SOFTWARE,
    EX_TEMPFAIL,
    EX_UNAVAILABLE,
)

FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                              HealthCheck.too_slow], deadline=None)
OTHER = f"other.{ZONE}"
Json = dict[str, Any]


def reset(env: Env) -> None:
    """A clean world for the next Hypothesis example (one fake per test)."""
    env.fake.reset_faults()
    with env.fake.lock:
        env.fake.state.records.clear()
        env.fake.state.default_order = "type"
    env.fake.clear_requests()
    env.fake.set_ip(ipv4=IP1)
    for p in env.state_path.parent.iterdir():
        p.unlink()
    env.write_config()


def writes(env: Env) -> list[Json]:
    return [r for r in env.fake.requests() if r["method"] in ("POST", "PATCH", "PUT", "DELETE")]


def seed(env: Env, name: str = NAME, rtype: str = "A", content: str = IP1,
         comment: str | None = MARKER, **kw: Any) -> str:
    rid: str = env.fake.seed_record(name, rtype, content, comment=comment, **kw)["id"]
    return rid


def result_records(payload: Any) -> list[Json]:
    result = payload.get("result") if isinstance(payload, dict) else None
    if isinstance(result, dict):
        return [result]
    if isinstance(result, list):
        return [r for r in result if isinstance(r, dict)]
    return []


# ---- class 3: writes on the wrong record -----------------------------------------------------

def test_a_cached_id_renamed_in_the_dashboard_is_never_patched(env: Env) -> None:
    assert env.run(["update"]).code == 0
    [ours] = env.records("A")
    with env.fake.lock:  # renamed by hand in the dashboard, marker and all
        env.fake.state.records[ours["id"]]["name"] = OTHER
    env.fake.set_ip(ipv4=IP2)
    env.fake.clear_requests()
    result = env.run(["update"])
    assert result.code == 0, result.err
    assert "is gone at Cloudflare (deleted or renamed by hand?)" in result.err
    renamed = env.fake.records(name=OTHER)[0]
    assert (renamed["id"], renamed["content"]) == (ours["id"], IP1)  # not written
    [new] = env.records("A")
    assert new["content"] == IP2
    assert new["id"] != ours["id"]
    assert all(ours["id"] not in r["path"] for r in writes(env))


def test_a_state_file_pointing_at_another_record_never_aims_a_write(env: Env) -> None:
    foreign = seed(env, name=OTHER, comment="the mail server, by hand")
    assert env.run(["update"]).code == 0
    data = env.state()
    data["records"][f"A {NAME}"]["id"] = foreign  # edited by someone else
    data["records"][f"A {NAME}"]["content"] = "81.2.69.99"
    env.state_path.write_text(json.dumps(data))
    env.fake.set_ip(ipv4=IP2)
    env.fake.clear_requests()
    assert env.run(["update"]).code == 0
    assert env.fake.records(name=OTHER)[0]["content"] == IP1
    assert all(foreign not in r["path"] for r in writes(env))
    assert env.state()["records"][f"A {NAME}"]["id"] == env.records("A")[0]["id"]


def test_a_write_that_lands_on_a_renamed_record_is_put_back_and_reported(env: Env) -> None:
    """The record is renamed between the list and the PATCH: the PATCH changes it, the answer
    shows the other name. Its content is put back at once, the run exits 65, and the next run
    creates the record at the right name."""
    assert env.run(["update"]).code == 0
    [ours] = env.records("A")
    env.fake.set_ip(ipv4=IP2)

    def renamed_meanwhile(status: int, payload: Json) -> Json:
        with env.fake.lock:
            env.fake.state.records[ours["id"]]["name"] = OTHER
        payload["result"]["name"] = OTHER
        return payload

    env.fake.add_fault(method="PATCH", path="/dns_records/", mutate=renamed_meanwhile, times=1)
    result = env.run(["update"])
    assert result.code == EX_DATAERR, result.err
    [line] = [x for x in result.lines if "error" in x]
    assert "the answer is about another record" in line
    assert f"record {ours['id']} was put back as it was" in line
    back = env.fake.records(name=OTHER)[0]
    assert (back["id"], back["content"], back["comment"]) == (ours["id"], IP1, MARKER)
    assert f"A {NAME}" not in env.state()["records"]  # not trusted, not cached
    assert env.run(["update"]).code == 0
    [new] = env.records("A")
    assert new["content"] == IP2
    assert new["id"] != ours["id"]


FIELDS = st.sampled_from(["id", "name", "type", "comment", "content"])


@FIXTURES_OK
@given(field=FIELDS, value=st.sampled_from([
    "0123abcd" * 4, OTHER, NAME.upper() + "x", "AAAA", "TXT", "not-managed-by: pi-ddns",
    f"{MARKER}-old", "", "10.0.0.1", IP1, "81.2.69.99"]))
def test_property_no_write_answer_about_another_record_is_trusted(env: Env, field: str,
                                                                  value: str) -> None:
    reset(env)
    assert env.run(["update"]).code == 0
    assert len(env.records("A")) == 1
    env.fake.set_ip(ipv4=IP2)

    def lie(status: int, payload: Json) -> Json:
        payload["result"][field] = value
        return payload

    env.fake.add_fault(method="PATCH", path="/dns_records/", mutate=lie, times=1)
    result = env.run(["update"])
    cached = env.state()["records"].get(f"A {NAME}")
    truthful = (field == "content" and value == IP2) or (field == "name" and value == NAME)
    if truthful:
        assert result.code == 0
        return
    assert result.code in (EX_DATAERR, EX_TEMPFAIL), result.err
    assert "notice: updated" not in result.err  # never logged as a success
    assert cached is None or cached["content"] == IP1  # the lie is not cached
    if result.code == EX_DATAERR:  # an answer about another record: ours is put back
        assert env.records("A")[0]["content"] == IP1
    reconciled = env.run(["update"])
    assert reconciled.code == 0, reconciled.err
    assert [r["content"] for r in env.records("A")] == [IP2]


# ---- class 4: duplicates ---------------------------------------------------------------------

spellings = st.tuples(st.lists(st.booleans(), min_size=len(NAME), max_size=len(NAME)),
                      st.booleans()).map(
    lambda t: "".join(c.upper() if up else c for c, up in zip(NAME, t[0], strict=True))
    + ("." if t[1] else ""))


@FIXTURES_OK
@given(spelling=spellings)
def test_property_a_name_in_another_spelling_is_the_same_name(env: Env, spelling: str) -> None:
    reset(env)
    seed(env, content=IP2)

    def respell(status: int, payload: Json) -> Json:
        for r in result_records(payload):
            r["name"] = spelling
        return payload

    env.fake.add_fault(method="GET", path="/dns_records$", mutate=respell)
    result = env.run(["update"])
    assert result.code == 0, result.err
    assert [r["method"] for r in writes(env)] == ["PATCH"]  # no POST: no duplicate
    assert len(env.records("A")) == 1


@pytest.mark.parametrize("order", ["created_on", "type"])
def test_a_record_on_page_two_is_seen(env: Env, order: str) -> None:
    env.fake.state.default_order = order
    for i in range(130):  # older records at the same name push ours to page 2
        seed(env, rtype="TXT", content=f"v=note{i}", comment=None)
    rid = seed(env, content=IP2)
    result = env.run(["update"])
    assert result.code == 0, result.err
    assert [r["method"] for r in writes(env)] == ["PATCH"]
    assert [r["id"] for r in env.records("A")] == [rid]
    pages = [r["query"].get("page") for r in env.fake.requests(method="GET", path="dns_records")]
    assert pages == ["1", "2"]


# ---- class 6: exit codes by meaning ----------------------------------------------------------

def expected_code(status: int, code: int, where: str) -> set[int]:
    """What an API refusal means, whatever else the body claims."""
    if status == 429 or status >= 500 or status in (408, 409, 425):
        return {EX_TEMPFAIL}
    if status in (401, 403) or (status == 400 and code in (6003, 6111, 9103, 9106, 9109,
                                                           10000)):
        return {EX_NOPERM}
    if code in (81057, 81058, 7000, 7003) or (where == "write" and (status == 404
                                                                    or code == 81044)):
        return {EX_TEMPFAIL}  # exists / gone / stale id: the next run lists again
    if status in (400, 404, 405, 422):
        return {EX_CONFIG}
    return {EX_UNAVAILABLE}


@FIXTURES_OK
@given(status=st.sampled_from([400, 401, 403, 404, 405, 407, 408, 409, 413, 414, 422, 425, 429,
                               431, 451, 500, 502, 503, 504, 520, 522]),
       code=st.sampled_from([1000, 1004, 9005, 9021, 81045, 10000, 9109, 971, 7003, 81057,
                             81044, 6003]),
       message=st.text(max_size=60), where=st.sampled_from(["zones", "list", "write"]))
def test_property_an_api_refusal_exits_by_its_meaning(env: Env, status: int, code: int,
                                                       message: str, where: str) -> None:
    reset(env)
    seed(env, content=IP2)
    path = {"zones": "/zones$", "list": "/dns_records$", "write": "/dns_records/"}[where]
    env.fake.add_fault(path=path, status=status, code=code, message=message + TOKEN)
    result = env.run(["update"])
    assert result.code in expected_code(status, code, where), (result.code, result.err)
    assert result.code != EX_SOFTWARE
    assert TOKEN not in result.err + result.out
    if result.code == EX_CONFIG and code not in (7003, 81044):
        assert f"HTTP {status}: {code}" in result.err  # Cloudflare's own words, quoted


def test_a_429_with_an_auth_code_is_transient_not_a_bad_token(env: Env) -> None:
    env.fake.add_fault(path="/zones$", status=429, code=10000, message="Authentication error")
    result = env.run(["update"])
    assert result.code == EX_TEMPFAIL
    assert "token" not in result.err.lower().replace("<token>", "")


@pytest.mark.parametrize(("body", "status"), [
    (f'{{"success": true, "errors": [], "result": [{{"id": "ab", "name": "{NAME}", "type": "A", '
     '"content": "81.2.69.160", "ttl": NaN, "proxied": false}]}', 200),
    (f'{{"success": true, "errors": [], "result": [{{"id": "ab", "name": "{NAME}", "type": "A", '
     '"content": "81.2.69.160", "ttl": 1e999, "proxied": false}]}', 200),
    ("[" * 100_000 + "]" * 100_000, 200),
    ('{"success": true, "errors": [{"code": 1, "message": "partial"}], "result": []}', 200),
    ('{"success": "true", "errors": [], "result": []}', 200),
    ('{"success": true, "errors": [], "result": {"not": "a list"}}', 200),
    ("<html>not found</html>", 404),
    ("Proxy Authentication Required", 407),
    ("Request Header Fields Too Large", 431),
    ("", 301),
], ids=["ttl NaN", "ttl 1e999", "JSON 100000 deep", "success with errors", "success a string",
        "result not a list", "404 wrong api_url", "407 proxy", "431", "301 no Location"])
def test_a_malformed_or_foreign_answer_is_never_70(env: Env, body: str, status: int) -> None:
    env.fake.add_fault(method="GET", path="/dns_records$", status=status, body=body,
                       content_type="application/json")
    result = env.run(["update"])
    assert result.code in (EX_TEMPFAIL, EX_CONFIG, EX_UNAVAILABLE), result.err
    [line] = [x for x in result.lines if "error" in x]
    assert len(line) < 1100
    if status == 404:
        assert result.code == EX_CONFIG
        assert "cloudflare.api_url" in line
    if status in (407, 431):
        assert result.code == EX_UNAVAILABLE
    assert env.records() == []


# ---- class 8: the state file's temporary file ------------------------------------------------

def test_links_and_fifos_planted_in_the_state_directory_are_never_followed(env: Env,
                                                                          tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    folder = env.state_path.parent
    for _i in range(20):  # temp-file-like names, the old pid-based one among them
        os.symlink(victim, folder / f".state.json.{random.getrandbits(64):016x}.tmp")
    os.symlink(victim, folder / f".state.json.{os.getpid()}.tmp")
    os.mkfifo(env.state_path)  # a FIFO where the state is: refused at once, then replaced
    result = env.run(["update"])
    assert result.code == 0, result.err
    assert "FIFO" in result.err
    assert victim.read_text() == "precious\n"
    assert env.state_path.is_file()
    assert not env.state_path.is_symlink()
    os.unlink(env.state_path)
    os.symlink(victim, env.state_path)  # a link where the state is: replaced, not written
    env.fake.set_ip(ipv4=IP2)
    assert env.run(["update"]).code == 0
    assert victim.read_text() == "precious\n"
    assert env.state_path.is_file()
    assert not env.state_path.is_symlink()
    assert oct(env.state_path.stat().st_mode & 0o777) == "0o600"


# ---- class 10 and 5: the marker, a write that did not take, proxies, what is stored ----------

@given(before=st.sampled_from(["", " ", ";", "x", "-", "not-", "a "]),
       after=st.sampled_from(["", " ", ";", ",", "x", "-old", "s", " note"]))
def test_property_the_marker_counts_only_as_a_whole_token(before: str, after: str) -> None:
    whole = (before == "" or before[-1] in " ;,|") and (after == "" or after[0] in " ;,|")
    assert state.has_marker(before + MARKER + after, MARKER) == whole


def test_an_existing_record_marked_not_managed_is_not_owned(env: Env) -> None:
    seed(env, content=IP2, comment=f"not-{MARKER}")
    result = env.run(["update"])
    assert result.code == EX_DATAERR
    assert "exists without the comment marker" in result.err
    assert writes(env) == []


def test_a_write_answer_with_other_content_is_neither_reported_nor_cached(env: Env) -> None:
    assert env.run(["update"]).code == 0
    env.fake.set_ip(ipv4=IP2)

    def stale(status: int, payload: Json) -> Json:
        payload["result"]["content"] = IP1
        return payload

    env.fake.add_fault(method="PATCH", path="/dns_records/", mutate=stale, times=1)
    result = env.run(["update"])
    assert result.code == EX_TEMPFAIL
    assert "not the 81.2.69.161 sent" in result.err
    assert "notice: updated" not in result.err
    assert f"A {NAME}" not in env.state()["records"]


def test_the_api_ignores_proxy_variables(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # nothing listens: using it would fail
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    result = env.run(["update"])
    assert result.code == 0, result.err
    assert len(env.records("A")) == 1


def test_a_hostile_error_message_is_stored_and_shown_only_scrubbed(env: Env) -> None:
    assert env.run(["update"]).code == 0
    env.fake.set_ip(ipv4=IP2)
    evil = f"\x1b[2J\x1b]0;pwned\x07{TOKEN}\r\nforged line\x00" + "A" * 60_000
    env.fake.add_fault(path="/dns_records$", status=503, code=10001, message=evil)
    result = env.run(["update"])
    assert result.code == EX_TEMPFAIL
    stored = env.state_path.read_text()
    shown = env.run(["status", "--json"]).out + env.run(["status"]).out
    for text in (result.err, stored, shown):
        assert TOKEN not in text
        assert "\x1b" not in text
        assert "\x07" not in text
        assert "\x00" not in text
        assert "\\x1b" in text
    message = env.state()["last_run"]["message"]
    assert len(message) <= 400
    assert "\n" not in message


# ---- the property of issue 8's "Done when" ----------------------------------------------------

ids_ = st.sampled_from(["0123456789abcdef0123456789abcd00", "f" * 32, "", "..", None, 7])
hostile_values: dict[str, Any] = {
    "id": ids_,
    "name": st.sampled_from([NAME.upper(), NAME + ".", OTHER, "", None, ["x"], "é.example.com"]),
    "type": st.sampled_from(["a", "AAAA", "CNAME", "TXT", None, 1]),
    "content": st.sampled_from(["10.0.0.1", IP2, "2001:db8::1", "not-an-ip", "", None, TOKEN,
                                "192.0.2.1", "104.16.132.229"]),
    "comment": st.sampled_from([None, "", f"not-{MARKER}", f"{MARKER}-old", TOKEN,
                                "\x1b[31mred\x1b[0m", 5]),
    "ttl": st.sampled_from([float("nan"), float("inf"), -1, 10**40, "300", True, 2.5, None]),
    "proxied": st.sampled_from(["yes", 1, None]),
    "status": st.sampled_from(["pending", "moved", "active", None]),
    "success": st.sampled_from([False, "true", None, 1]),
    "errors": st.sampled_from([[{"code": 1, "message": TOKEN}], "bad", None]),
    "result_info": st.sampled_from([{"total_pages": 10**9}, {"total_pages": -1},
                                    {"total_pages": "2"}, None]),
}


def mutation(draw: Any) -> Callable[[int, Json], Any]:
    key = draw(st.sampled_from(sorted(hostile_values)))
    value = draw(hostile_values[key])
    how = draw(st.sampled_from(["set", "drop", "duplicate", "deep", "result"]))

    def mutate(status: int, payload: Json) -> Any:
        if how == "deep":
            return b"[" * 50_000 + b"]" * 50_000
        if how == "result":
            payload["result"] = value
            return payload
        if key in ("success", "errors", "result_info"):
            payload[key] = value
            return payload
        records = result_records(payload)
        if how == "duplicate" and isinstance(payload.get("result"), list) and records:
            twin = dict(records[0], id="abcdef0123456789abcdef0123456789")
            twin[key] = value
            payload["result"].append(twin)
        for r in records:
            if how == "drop":
                r.pop(key, None)
            else:
                r[key] = value
        return payload
    return mutate


@st.composite
def treatments(draw: Any) -> list[dict[str, Any]]:
    """One fault rule per API request, in order: the real answer, a canned one, or the real
    one rewritten."""
    out: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["real", "real", "canned", "mutate", "mutate"]))
        if kind == "real":
            out.append({})
        elif kind == "canned":
            status = draw(st.sampled_from([200, 301, 400, 403, 404, 407, 409, 429, 431, 500,
                                           502]))
            body = draw(st.one_of(
                st.text(max_size=40),
                st.builds(lambda c, m: json.dumps({"success": False, "errors": [
                    {"code": c, "message": m}], "messages": [], "result": None}),
                    st.sampled_from([1004, 9021, 81057, 10000, 9109, 7003, 971]),
                    st.text(max_size=30).map(lambda t: t + TOKEN)),
                st.just('{"success": true, "errors": [], "result": [{"ttl": NaN}]}')))
            out.append({"status": status, "body": body, "content_type": "application/json"})
        else:
            out.append({"mutate": mutation(draw)})
    return out


@st.composite
def worlds(draw: Any) -> dict[str, Any]:
    return {
        "address": draw(st.sampled_from([IP1, IP2, IP2, "10.0.0.1", "100.64.0.1",
                                         "104.16.132.229", "192.0.2.7"])),
        "ours": draw(st.sampled_from([None, IP1, IP2])),
        "strangers": draw(st.lists(st.tuples(
            st.sampled_from([NAME, OTHER]), st.sampled_from(["A", "TXT", "AAAA"]),
            st.sampled_from([None, "by hand", f"not-{MARKER}", f"{MARKER}-old"])),
            max_size=3)),
        "warm": draw(st.booleans()),
        "treatments": draw(treatments()),
        "force": draw(st.booleans()),
    }


@settings(max_examples=int(os.environ.get("PI_DDNS_HOSTILE_EXAMPLES", "150")),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
          deadline=None)
@given(world=worlds())
def test_property_a_hostile_api_breaks_no_promise(env: Env, world: dict[str, Any]) -> None:
    reset(env)
    env.write_config(cloudflare={"api_url": env.fake.api_url, "timeout": 2.0, "retries": 0})
    for name, rtype, comment in world["strangers"]:
        content = {"A": "81.2.69.50", "AAAA": "2a01:4f8::50", "TXT": "hello"}[rtype]
        seed(env, name=name, rtype=rtype, content=content, comment=comment)
    if world["ours"]:
        seed(env, content=world["ours"])
    if world["warm"]:
        env.run(["update"])
    owned_before = {rid for rid, r in env.fake.state.records.items()
                    if state.has_marker(r.get("comment"), MARKER)}
    existing = set(env.fake.state.records)
    env.fake.set_ip(ipv4=world["address"])
    for rule in world["treatments"]:
        env.fake.add_fault(times=1, **rule)
    env.fake.clear_requests()

    result = env.run(["update", "--force"] if world["force"] else ["update"])
    shown = env.run(["status", "--json"])

    # 1. never 70
    assert result.code != EX_SOFTWARE, result.err
    assert shown.code != EX_SOFTWARE, shown.err
    created: set[str] = set()
    for w in writes(env):
        body = w["body"] or {}
        # 2. no address outside the rule is ever written
        if "content" in body:
            assert check(ipaddress.ip_address(body["content"]), 4) is None, w
        # 3. no record without the marker is ever written
        if w["method"] == "PATCH":
            rid = w["path"].rsplit("/", 1)[1]
            # (an id a rewritten list invented names no record: the fake answers 404)
            assert rid in owned_before or rid in created or rid not in existing, (w, world)
        else:
            assert w["method"] == "POST"
            assert state.has_marker(body.get("comment"), MARKER)
            created |= {r["id"] for r in env.fake.state.records.values()
                        if r["name"] == NAME and r.get("comment") == body.get("comment")}
    for rid in set(env.fake.state.records) - owned_before - created:
        assert not state.has_marker(env.fake.state.records[rid].get("comment"), MARKER) \
            or rid in created
    # 4. the token is nowhere
    files = b"".join(p.read_bytes() for p in env.state_path.parent.iterdir() if p.is_file())
    assert TOKEN not in result.out + result.err + shown.out + shown.err
    assert TOKEN.encode() not in files
