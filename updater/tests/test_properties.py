"""Property-based tests (issue 5) for what test_detect/test_config do not already cover.

test_detect covers the echo and trace body parsers, test_config the config parser. Here:
- the decision rules: whatever Cloudflare holds at a name, the updater never writes to a record
  it does not own, never creates next to an existing record, and never picks one of two;
- the DNS answer parser, fed damaged copies of a real answer (test_dns covers random datagrams);
- the token checks, the state file loader, and the SDK boundary's record reader: hostile input
  gives a validation error of the project's own kind and nothing else;
- end to end: any echo body gives either the exact global address it names or exit 69, and
  Cloudflare's record is never anything else.
"""

from __future__ import annotations

import ipaddress
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.server import FakeCloudflare
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import IP1, MARKER, NAME, TOKEN, ZONE, toml_dumps
from pi_ddns import cli, credential, dnsquery, errors, report, state
from pi_ddns.cfapi import _record
from pi_ddns.decide import Create, Noop, Record, RecordId, Update, Wanted, decide
from pi_ddns.detect import SourceError, check, parse_address
from pi_ddns.errors import ConfigError, ConflictError

# ---- decide ----------------------------------------------------------------------------------

OTHER = "other.example.com"
records_at_name = st.lists(st.builds(
    Record,
    id=st.from_regex(r"[0-9a-f]{4}", fullmatch=True).map(RecordId),
    name=st.sampled_from([NAME, NAME, OTHER]),
    type=st.sampled_from(["A", "AAAA", "CNAME", "TXT", "MX"]),
    content=st.sampled_from([IP1, "81.2.69.161", "2a01:4f8:c0c:1::1", "x.example.net", ""]),
    ttl=st.sampled_from([1, 60, 300]),
    proxied=st.booleans(),
    comment=st.sampled_from([None, "", MARKER, f"mine; {MARKER}", "by hand", "managed-by"]),
    tags=st.just(()),
), max_size=5)
wanted = st.builds(Wanted, name=st.just(NAME), type=st.sampled_from(["A", "AAAA"]),
                   content=st.sampled_from([IP1, "2a01:4f8:c0c:1::2"]), marker=st.just(MARKER),
                   adopt=st.booleans(), ttl=st.sampled_from([None, 1, 300]),
                   proxied=st.sampled_from([None, True, False]))


@given(wanted, records_at_name)
def test_property_decide_never_touches_what_it_must_not(w: Wanted, at: list[Record]) -> None:
    same = [r for r in at if r.name == w.name and r.type == w.type]
    cname = any(r.name == w.name and r.type == "CNAME" for r in at)
    unowned = len(same) == 1 and not w.adopt and MARKER not in (same[0].comment or "")
    if cname or len(same) > 1 or unowned:
        # a conflict is raised for exactly these reasons, and names the record(s)
        with pytest.raises(ConflictError) as err:
            decide(w, at)
        assert all(r.id in str(err.value) for r in (same if not cname else []))
        return
    action = decide(w, at)
    assert not cname
    assert len(same) <= 1
    if isinstance(action, Create):
        assert same == []
        assert (action.name, action.type, action.content) == (w.name, w.type, w.content)
        assert MARKER in action.comment
        return
    assert isinstance(action, Noop | Update)
    assert action.record == same[0]  # only ever the one record of this name and type
    if isinstance(action, Update):
        assert action.content == w.content
        if MARKER not in (same[0].comment or ""):
            assert w.adopt
            assert action.comment is not None
            assert MARKER in action.comment
            assert action.comment.startswith(same[0].comment or "")  # the old comment is kept
        else:
            assert action.comment is None  # an owned record's comment is left alone
        assert action.ttl in (None, w.ttl)
        assert action.proxied in (None, w.proxied)


# ---- the DNS answer parser -------------------------------------------------------------------

def _answer(qid: int, name: str, qtype: int, rdata: bytes) -> bytes:
    question = dnsquery.encode_name(name) + struct.pack("!HH", qtype, 1)
    header = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
    record = b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 60, len(rdata)) + rdata
    return header + question + record


GOOD = _answer(0x1234, "myip.opendns.com", 1, bytes([81, 2, 69, 160]))


def test_the_unharmed_answer_parses() -> None:
    assert dnsquery.parse_response(GOOD, 0x1234, "myip.opendns.com", 1, 1) == [IP1]


@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), max_size=4),
       st.integers(0, len(GOOD)), st.binary(max_size=20))
def test_property_damaged_dns_answers_give_a_source_error_or_a_global_address(
        flips: list[tuple[int, int]], cut: int, tail: bytes) -> None:
    msg = bytearray(GOOD)
    for pos, value in flips:
        msg[pos] = value
    data = bytes(msg[:cut]) + tail
    try:
        answers = dnsquery.parse_response(data, 0x1234, "myip.opendns.com", 1, 1)
        assert answers
        address = parse_address(answers[0], 4) if len(answers) == 1 else None
    except SourceError:
        return
    if address is not None:
        assert address.is_global
        assert check(address, 4) is None


# ---- the token -------------------------------------------------------------------------------

@given(st.binary(max_size=80))
def test_property_token_check_gives_a_clean_token_or_a_config_error(raw: bytes) -> None:
    try:
        token = credential.check(raw, "/etc/pi-ddns/cloudflare-token")
    except ConfigError as e:
        message = str(e)
    else:
        message = ""
    if message:
        assert message.startswith("/etc/pi-ddns/cloudflare-token: ")
        stripped = raw.strip()
        if len(stripped) >= 8:  # the message never repeats the (would-be) token
            assert stripped.decode("latin-1") not in message.removeprefix(
                "/etc/pi-ddns/cloudflare-token: ")
        return
    assert token
    assert token == token.strip()
    assert token[0] not in "\"'"
    assert token[-1] not in "\"'"
    assert all(c.isprintable() and not c.isspace() for c in token)
    assert raw.rstrip(b"\r\n") == token.encode()


# ---- the state file --------------------------------------------------------------------------

json_values: Any = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 3) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["version", "zone", "zones", "name", "id", "name_servers", "records",
                         "content", "changed_at", "last_reconcile", "last_run", "at",
                         "exit_code", "message", f"A {NAME}", ZONE]), inner, max_size=4),
    max_leaves=12)
VALID_STATE = {"version": 2, "zones": {ZONE: {"id": "z1", "name_servers": ["ns.example"]}},
               "records": {f"A {NAME}": {"id": "r1", "zone": ZONE, "content": IP1,
                                         "changed_at": "2026-11-26T06:00:00+00:00"}},
               "last_reconcile": "2026-11-26T06:00:00+00:00",
               "last_run": {"at": "2026-11-26T06:00:00+00:00", "exit_code": 0, "message": "ok"}}
VALID_V1 = {**{k: v for k, v in VALID_STATE.items() if k != "zones"}, "version": 1,
            "zone": {"name": ZONE, "id": "z1"},
            "records": {f"A {NAME}": {"id": "r1", "content": IP1,
                                      "changed_at": "2026-11-26T06:00:00+00:00"}}}


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state.json"


def _load_never_fails(path: Path, raw: bytes) -> state.State:
    path.write_bytes(raw)
    loaded = state.load(path)
    for key, c in loaded.records.items():
        assert isinstance(key, str)
        assert all(isinstance(v, str) and v for v in c[:3])  # id, content, changed_at
    assert loaded.last_run is None or isinstance(loaded.last_run.exit_code, int)
    # what was loaded saves and reloads to the same thing
    state.save(path, loaded)
    assert state.to_json(state.load(path)) == state.to_json(loaded)
    return loaded


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(json_values)
def test_property_any_json_state_loads_or_is_ignored(state_path: Path, data: Any) -> None:
    _load_never_fails(state_path, json.dumps(data).encode())


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(st.sampled_from([VALID_STATE, VALID_V1]),
       st.sampled_from(["version", "zone", "zones", "records", "last_reconcile", "last_run"]),
       json_values)
def test_property_a_damaged_field_never_makes_the_state_fatal(state_path: Path, valid: Any,
                                                              key: str, value: Any) -> None:
    _load_never_fails(state_path, json.dumps({**valid, key: value}).encode())


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(st.sampled_from([VALID_STATE, VALID_V1]), st.integers(0, 400), st.binary(max_size=8))
def test_property_a_truncated_or_spliced_state_file_is_ignored(state_path: Path, valid: Any,
                                                               cut: int, junk: bytes) -> None:
    raw = json.dumps(valid, indent=1).encode()
    _load_never_fails(state_path, raw[:cut] + junk)


# ---- the SDK boundary's record reader --------------------------------------------------------

record_like = st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.text(max_size=5), st.integers(), st.none()),
    "name": st.one_of(st.just(NAME), st.integers(), st.none()),
    "type": st.one_of(st.just("A"), st.none(), st.booleans()),
    "content": st.one_of(st.just(IP1), st.none(), st.lists(st.integers(), max_size=1)),
    "ttl": st.one_of(st.integers(-1, 100000), st.floats(allow_nan=True), st.booleans(), st.text(
        max_size=3), st.none()),
    "proxied": st.one_of(st.booleans(), st.none(), st.integers(0, 1)),
    "comment": st.one_of(st.none(), st.text(max_size=5), st.integers()),
    "tags": st.one_of(st.none(), st.lists(st.one_of(st.text(max_size=3), st.integers()),
                                          max_size=2)),
})


@given(st.one_of(record_like, json_values))
def test_property_the_record_reader_gives_a_record_or_a_transient_error(obj: Any) -> None:
    try:
        rec = _record(obj, "listing records")
    except errors.TransientError as e:
        message = str(e)
    else:
        message = ""
    if message:
        assert message.endswith("listing records: the answer had no valid record data")
        return
    assert all(isinstance(v, str) and v for v in (rec.id, rec.name, rec.type))
    assert isinstance(rec.ttl, int)
    assert isinstance(rec.proxied, bool)


# ---- end to end: any echo body ---------------------------------------------------------------

@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakeCloudflare]:
    with FakeCloudflare(dns_port=None) as fake:
        yield fake


def _published_or_69(fake: FakeCloudflare, tmp: Path, body: bytes,
                     capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp / "config.toml"
    token = tmp / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    st_path = tmp / "state.json"
    cfg.write_text(toml_dumps({
        "zone": ZONE, "records": [NAME], "state_file": str(st_path), "token_file": str(token),
        "cloudflare": {"api_url": fake.api_url, "timeout": 5.0, "retries": 0},
        "ipv4": {"timeout": 2.0, "sources": [{"type": "http", "url": fake.url + "/ip"}]},
    }))
    fake.set_ip(ipv4=IP1)
    try:
        assert cli.main(["--config", str(cfg), "update"]) == 0  # working: record = IP1
        before = fake.records(name=NAME)
        fake.set_echo("/ip", body=body.decode("latin-1"))
        capsys.readouterr()
        code = cli.main(["--config", str(cfg), "update"])
        err = capsys.readouterr().err
        after = fake.records(name=NAME)
    finally:
        fake.clear_echo()
        report._Setup.secrets = ()
        for r in fake.records():
            fake.delete_record(r["id"])
        st_path.unlink(missing_ok=True)
    assert "Traceback" not in err
    if code == errors.EX_UNAVAILABLE:
        assert after == before
        return
    assert code == 0, err
    [record] = after
    published = ipaddress.ip_address(record["content"])
    assert published.is_global
    assert check(published, 4) is None
    assert body.decode("latin-1").strip() in (record["content"], IP1)


hostile_bodies = st.one_of(
    st.binary(max_size=60),
    st.sampled_from(["81.2.69.161", " 81.2.69.161\n", "81.2.69.161\r\n", "81.2.69.161x",
                     "10.0.0.1", "104.16.0.1", "<html>81.2.69.161</html>", "081.002.069.161",
                     "81.2.69.161/24", "81.2.69.161:80", "::ffff:81.2.69.161", "1e3",
                     "2a01:4f8:c0c:1::1", "81.2.69.161 81.2.69.162"]).map(str.encode),
    st.builds(lambda a, b: f"{a}.{b}.69.161".encode(), st.integers(0, 300), st.integers(0, 300)),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40,
          deadline=None)
@given(hostile_bodies)
def test_property_any_echo_body_publishes_its_global_address_or_nothing(
        shared_fake: FakeCloudflare, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        body: bytes) -> None:
    _published_or_69(shared_fake, tmp_path, body, capsys)

