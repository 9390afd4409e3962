"""CloudflareApi (the SDK boundary) against the real fake Cloudflare API on loopback.

Checks what goes on the wire (request counts, query, body) and how every failure maps to
pi_ddns.errors, with the token in no message, no log line and no chained exception.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakes.server import FakeCloudflare

from pi_ddns import errors
from pi_ddns.cfapi import CloudflareApi
from pi_ddns.decide import Record, RecordId, ZoneId

TOKEN = "test-token-0123456789abcdef"
ZONE = "example.com"
NAME = "home.example.com"
MARKER = "managed-by: pi-ddns"
IP1, IP2 = "81.2.69.160", "81.2.69.161"
API = "/client/v4"


@pytest.fixture
def fake() -> Iterator[FakeCloudflare]:
    with FakeCloudflare(dns_port=None, tokens=(TOKEN,)) as f:
        yield f


def make_api(
    fake: FakeCloudflare,
    *,
    token: str = TOKEN,
    retries: int = 0,
    timeout: float = 2.0,
    url: str | None = None,
    deadline: float | None = None,
) -> CloudflareApi:
    return CloudflareApi(token, url or fake.api_url, timeout, retries, deadline=deadline,
                         budget=60.0)


@pytest.fixture
def api(fake: FakeCloudflare) -> CloudflareApi:
    return make_api(fake)


@pytest.fixture
def zid(fake: FakeCloudflare, api: CloudflareApi) -> ZoneId:
    zone_id = api.zone(ZONE).id
    fake.clear_requests()
    return zone_id


def seed(
    fake: FakeCloudflare, name: str = NAME, rtype: str = "A", content: str = IP1, **kw: Any
) -> RecordId:
    kw.setdefault("comment", MARKER)
    return RecordId(fake.seed_record(name, rtype, content, **kw)["id"])


def no_spec_violations(fake: FakeCloudflare) -> None:
    assert fake.spec_violations == []  # empty also when the shared spec is absent


# ---- the locked set ----------------------------------------------------------------------
def test_runs_on_pure_pydantic_1_10() -> None:
    import cloudflare
    import pydantic

    assert pydantic.VERSION.startswith("1.10")
    assert not pydantic.compiled  # the py3-none-any wheel the Pi gets, not the cython build
    assert cloudflare.__version__ == "4.3.1"


# ---- zone_id ------------------------------------------------------------------------------
def test_zone_id_is_one_request(fake: FakeCloudflare, api: CloudflareApi) -> None:
    zone_id = api.zone(ZONE).id
    assert zone_id == fake.snapshot()["zones"][0]["id"]
    log = fake.requests()
    assert [(r["method"], r["path"], r["query"]) for r in log] == [
        ("GET", f"{API}/zones", {"name": ZONE, "per_page": "50"})
    ]
    assert log[0]["token_known"]
    no_spec_violations(fake)


def test_zone_not_found_is_a_config_error(fake: FakeCloudflare, api: CloudflareApi) -> None:
    with pytest.raises(errors.ZoneNotFound, match=r"zone example\.org") as exc:
        api.zone("example.org")
    assert isinstance(exc.value, errors.ConfigError)
    assert len(fake.requests()) == 1


# ---- list_records -------------------------------------------------------------------------
def test_list_records_sends_exact_name_and_type(
    fake: FakeCloudflare, api: CloudflareApi, zid: ZoneId
) -> None:
    rid = seed(fake, ttl=300, proxied=True, tags=["owner:me"])
    seed(fake, rtype="AAAA", content="2a01:4f8:c0c:1::1")
    seed(fake, name="xhome.example.com")
    seed(fake, name="sub.home.example.com")
    assert api.list_records(zid, NAME, "A") == [
        Record(
            id=rid,
            name=NAME,
            type="A",
            content=IP1,
            ttl=300,
            proxied=True,
            comment=MARKER,
            tags=("owner:me",),
        )
    ]
    log = fake.requests()
    assert [(r["method"], r["path"], r["query"]) for r in log] == [
        (
            "GET",
            f"{API}/zones/{zid}/dns_records",
            {"name.exact": NAME, "type": "A", "per_page": "100", "page": "1"},
        )
    ]
    no_spec_violations(fake)


def test_list_records_without_type_lists_every_type_at_the_name(
    fake: FakeCloudflare, api: CloudflareApi, zid: ZoneId
) -> None:
    seed(fake)
    seed(fake, rtype="CNAME", content="elsewhere.example.net", comment=None)
    seed(fake, name="other.example.com")
    got = api.list_records(zid, NAME, None)
    assert sorted(r.type for r in got) == ["A", "CNAME"]
    assert next(r for r in got if r.type == "CNAME").comment is None
    assert fake.requests()[0]["query"] == {"name.exact": NAME, "per_page": "100", "page": "1"}


def test_list_records_reads_every_page(
    fake: FakeCloudflare, api: CloudflareApi, zid: ZoneId
) -> None:
    for i in range(230):  # the fake seeds without duplicate checks
        seed(fake, content=f"81.2.69.{i % 250}")
    assert len(api.list_records(zid, NAME, "A")) == 230
    assert [r["query"]["page"] for r in fake.requests()] == ["1", "2", "3"]


# ---- create_record ------------------------------------------------------------------------
def test_create_sends_only_the_given_fields(
    fake: FakeCloudflare, api: CloudflareApi, zid: ZoneId
) -> None:
    rec = api.create_record(zid, NAME, "A", IP1, comment=MARKER, ttl=None, proxied=None)
    assert (rec.name, rec.type, rec.content, rec.comment, rec.ttl) == (NAME, "A", IP1, MARKER, 1)
    (req,) = fake.requests()
    assert (req["method"], req["path"]) == ("POST", f"{API}/zones/{zid}/dns_records")
    assert req["body"] == {"name": NAME, "type": "A", "content": IP1, "comment": MARKER}
    assert [r["id"] for r in fake.records(name=NAME)] == [rec.id]
    no_spec_violations(fake)


def test_create_with_ttl_and_proxied(fake: FakeCloudflare, api: CloudflareApi, zid: ZoneId) -> None:
    rec = api.create_record(
        zid, NAME, "AAAA", "2a01:4f8:c0c:1::1", comment=MARKER, ttl=300, proxied=False
    )
    assert (rec.ttl, rec.proxied) == (300, False)
    assert fake.requests()[0]["body"] == {
        "name": NAME,
        "type": "AAAA",
        "content": "2a01:4f8:c0c:1::1",
        "comment": MARKER,
        "ttl": 300,
        "proxied": False,
    }


def test_create_is_never_retried(fake: FakeCloudflare, zid: ZoneId) -> None:
    api = make_api(fake, retries=2, timeout=0.5)
    # The server creates the record, then the answer is lost: a retried POST would duplicate.
    fake.add_fault(method="POST", path="/dns_records$", delay=1.5, after_apply=True, times=1)
    with pytest.raises(errors.TransientError, match="timed out"):
        api.create_record(zid, NAME, "A", IP1, comment=MARKER, ttl=None, proxied=None)
    assert len(fake.requests(method="POST")) == 1
    assert len(fake.records(name=NAME)) == 1


@pytest.mark.parametrize("code", [81057, 81058])
def test_create_of_an_existing_record_is_record_exists(
    fake: FakeCloudflare, api: CloudflareApi, zid: ZoneId, code: int
) -> None:
    seed(fake)
    fake.state.duplicate_code = code
    with pytest.raises(errors.RecordExists, match=str(code)):
        api.create_record(zid, NAME, "A", IP1, comment=MARKER, ttl=None, proxied=None)
    assert len(fake.records(name=NAME)) == 1


# ---- update_record ------------------------------------------------------------------------
def test_update_patches_content_only(fake: FakeCloudflare, api: CloudflareApi, zid: ZoneId) -> None:
    rid = seed(fake, ttl=300, proxied=True, tags=["owner:me"], comment="mine; " + MARKER)
    rec = api.update_record(zid, rid, content=IP2)
    assert rec == Record(
        id=rid,
        name=NAME,
        type="A",
        content=IP2,
        ttl=300,
        proxied=True,
        comment="mine; " + MARKER,
        tags=("owner:me",),
    )
    (req,) = fake.requests()
    assert (req["method"], req["path"]) == ("PATCH", f"{API}/zones/{zid}/dns_records/{rid}")
    assert req["body"] == {"content": IP2}
    stored = fake.records(name=NAME)[0]
    assert (stored["content"], stored["ttl"], stored["proxied"], stored["tags"]) == (
        IP2,
        300,
        True,
        ["owner:me"],
    )
    no_spec_violations(fake)


def test_update_sends_the_optional_fields_it_is_given(
    fake: FakeCloudflare, api: CloudflareApi, zid: ZoneId
) -> None:
    rid = seed(fake, comment=None)
    rec = api.update_record(zid, rid, content=IP2, comment=MARKER, ttl=120, proxied=False)
    assert (rec.comment, rec.ttl, rec.proxied) == (MARKER, 120, False)
    assert fake.requests()[0]["body"] == {
        "content": IP2,
        "comment": MARKER,
        "ttl": 120,
        "proxied": False,
    }


def test_update_retries_a_5xx_as_configured(fake: FakeCloudflare, zid: ZoneId) -> None:
    rid = seed(fake)
    fake.add_fault(method="PATCH", status=502, times=1)
    rec = make_api(fake, retries=1).update_record(zid, rid, content=IP2)
    assert rec.content == IP2
    assert len(fake.requests(method="PATCH")) == 2


def test_update_of_a_deleted_record_is_record_gone(
    fake: FakeCloudflare, api: CloudflareApi, zid: ZoneId
) -> None:
    rid = seed(fake)
    fake.delete_record(rid)
    with pytest.raises(errors.RecordGone, match="81044"):
        api.update_record(zid, rid, content=IP2)
    assert len(fake.requests()) == 1


def test_a_malformed_record_id_is_record_gone_without_a_request(
    fake: FakeCloudflare, api: CloudflareApi, zid: ZoneId
) -> None:
    with pytest.raises(errors.RecordGone):
        api.update_record(zid, RecordId("../../zones"), content=IP2)
    assert fake.requests() == []


# ---- error mapping ------------------------------------------------------------------------
Call = Callable[[CloudflareApi, ZoneId, RecordId], object]
CALLS: dict[str, tuple[str, str, Call]] = {
    "zone": ("GET", "/zones$", lambda a, z, r: a.zone(ZONE)),
    "list": ("GET", "/dns_records$", lambda a, z, r: a.list_records(z, NAME, "A")),
    "create": (
        "POST",
        "/dns_records$",
        lambda a, z, r: a.create_record(
            z, "new.example.com", "A", IP1, comment=MARKER, ttl=None, proxied=None
        ),
    ),
    "update": ("PATCH", "/dns_records/", lambda a, z, r: a.update_record(z, r, content=IP2)),
}
HTML = "<html><body><h1>502 Bad Gateway</h1>cloudflare</body></html>"
FAULTS: list[tuple[str, dict[str, Any], type[errors.DdnsError], str]] = [
    (
        "401 9109",
        {"status": 401, "code": 9109, "message": "Invalid access token"},
        errors.AuthError,
        "DNS > Edit",
    ),
    ("403 10000", {"status": 403, "code": 10000}, errors.AuthError, "Zone > Zone > Read"),
    ("429", {"status": 429, "retry_after": 7}, errors.TransientError, "Retry-After 7"),
    ("500", {"status": 500}, errors.TransientError, "HTTP 500"),
    ("502 html", {"status": 502, "body": HTML}, errors.TransientError, "not a Cloudflare JSON"),
    ("200 html", {"status": 200, "body": HTML}, errors.TransientError, "not Cloudflare's JSON"),
    (
        "200 bad json",
        {"status": 200, "body": '{"success": tr', "content_type": "application/json"},
        errors.TransientError,
        "not Cloudflare's JSON",
    ),
    (
        "200 wrong shape",
        {
            "status": 200,
            "body": '{"success": true, "result": 7}',
            "content_type": "application/json",
        },
        errors.TransientError,
        "Cloudflare API",
    ),
    ("timeout", {"delay": 1.0}, errors.TransientError, "timed out after 0.5 s"),
]


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize(("fault", "rule", "expected", "text"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_mapping(
    fake: FakeCloudflare,
    zid: ZoneId,
    call: str,
    fault: str,
    rule: dict[str, Any],
    expected: type[errors.DdnsError],
    text: str,
) -> None:
    method, path, fn = CALLS[call]
    rid = seed(fake)
    api = make_api(fake, timeout=0.5, deadline=time.monotonic() + 5)  # Retry-After 7: no wait
    fake.add_fault(method=method, path=path, **rule)
    with pytest.raises(errors.DdnsError) as exc:
        fn(api, zid, rid)
    assert type(exc.value) is expected
    assert text in str(exc.value)
    assert_clean(exc.value)
    assert len(fake.requests()) == 1  # retries=0: one request, no pagination, no follow-up


def test_auth_error_names_the_zone_and_the_permissions(fake: FakeCloudflare) -> None:
    api = make_api(fake, token="revoked-token-0123456789abcdef")
    with pytest.raises(errors.AuthError) as exc:
        api.zone(ZONE)
    msg = str(exc.value)
    for part in ("9109", "example.com", "Zone > Zone > Read", "Zone > DNS > Edit"):
        assert part in msg
    assert exc.value.exit_code == errors.EX_NOPERM


def test_token_without_dns_edit_is_an_auth_error(fake: FakeCloudflare, zid: ZoneId) -> None:
    token = "read-only-token-0123456789abcdef"
    fake.add_token(token, ["zone:read", "dns:read"])
    api = make_api(fake, token=token)
    assert api.list_records(zid, NAME, "A") == []
    with pytest.raises(errors.AuthError, match="10000"):
        api.create_record(zid, NAME, "A", IP1, comment=MARKER, ttl=None, proxied=None)


def test_connection_refused_is_transient(fake: FakeCloudflare) -> None:
    dead = FakeCloudflare(dns_port=None).start()
    url = dead.api_url
    dead.stop()
    with pytest.raises(errors.TransientError, match="cannot connect") as exc:
        make_api(fake, url=url, retries=0).zone(ZONE)
    assert_clean(exc.value)


def test_a_refusal_of_the_sent_values_is_a_config_error_quoting_cloudflare(
    fake: FakeCloudflare, api: CloudflareApi, zid: ZoneId
) -> None:
    with pytest.raises(errors.ConfigError) as exc:
        api.create_record(zid, NAME, "A", "not-an-ip", comment=MARKER, ttl=None, proxied=None)
    assert exc.value.exit_code == errors.EX_CONFIG
    assert "HTTP 400: 9005 Content for A record must be a valid IPv4 address" in str(exc.value)


def test_a_stale_zone_id_is_transient(fake: FakeCloudflare, api: CloudflareApi) -> None:
    with pytest.raises(errors.TransientError, match="7003"):
        api.list_records(ZoneId("0" * 32), NAME, "A")


# ---- secrets and environment --------------------------------------------------------------
def assert_clean(err: BaseException) -> None:
    """The token is nowhere in the error, and no SDK exception (with its request) is chained."""
    assert TOKEN not in str(err)
    assert TOKEN not in repr(err.args)
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__


def test_a_token_echoed_by_the_server_is_scrubbed(fake: FakeCloudflare, api: CloudflareApi) -> None:
    fake.add_fault(path="/zones$", status=400, code=1000, message=f"bad token {TOKEN}")
    with pytest.raises(errors.DdnsError) as exc:
        api.zone(ZONE)
    assert "bad token <token>" in str(exc.value)
    assert_clean(exc.value)


def test_the_sdk_logs_nothing_with_the_token(
    fake: FakeCloudflare, api: CloudflareApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    zone_id = api.zone(ZONE).id
    api.list_records(zone_id, NAME, "A")
    fake.add_fault(status=500, times=1)
    with pytest.raises(errors.TransientError):
        api.zone(ZONE)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.name.startswith(("cloudflare", "httpx"))]


def test_key_and_email_env_vars_are_ignored(
    fake: FakeCloudflare, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Set, they would silently replace the bearer token with X-Auth-Key/X-Auth-Email.
    monkeypatch.setenv("CLOUDFLARE_API_KEY", "0123456789abcdef0123456789abcdef01234")
    monkeypatch.setenv("CLOUDFLARE_EMAIL", "someone@example.com")
    monkeypatch.setenv("CLOUDFLARE_API_USER_SERVICE_KEY", "v1.0-service-key")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "env-token-must-not-win")
    import os

    api = make_api(fake)
    for var in ("CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL", "CLOUDFLARE_API_USER_SERVICE_KEY"):
        assert var not in os.environ
    assert api.zone(ZONE).id
    assert fake.requests()[0]["token_known"]


def test_the_configured_timeout_and_retries_reach_the_client(fake: FakeCloudflare) -> None:
    api = make_api(fake, timeout=3.5, retries=0)
    client = api._client  # the SDK's defaults (60 s, 2 retries) must not apply
    assert client.max_retries == 0
    assert client.timeout == 3.5
    assert str(client.base_url).rstrip("/") == fake.api_url


GOOD = {
    "id": "a" * 32,
    "name": NAME,
    "type": "A",
    "content": IP2,
    "ttl": 1,
    "proxied": False,
    "comment": MARKER,
    "tags": [],
}
BROKEN = {
    "no id": {**GOOD, "id": None},
    "ttl text": {**GOOD, "ttl": "300"},
    "ttl bool": {**GOOD, "ttl": True},
    "proxied text": {**GOOD, "proxied": "yes"},
    "comment number": {**GOOD, "comment": 7},
    "tags text": {**GOOD, "tags": "a:b"},
    "no record": None,
}


# The SDK's models coerce a text or bool TTL on the list path; the raw PATCH path refuses it.
MALFORMED = [
    (case, call)
    for case in BROKEN
    for call in ("list", "update")
    if not (case.startswith("ttl") and call == "list")
]


@pytest.mark.parametrize(("case", "call"), MALFORMED)
def test_malformed_records_are_refused(
    fake: FakeCloudflare, api: CloudflareApi, zid: ZoneId, case: str, call: str
) -> None:
    import json

    rec = BROKEN[case]
    method, path, fn = CALLS[call]
    body = {
        "success": True,
        "errors": [],
        "messages": [],
        "result": [rec] if call == "list" else rec,
    }
    fake.add_fault(
        method=method, path=path, status=200, body=json.dumps(body), content_type="application/json"
    )
    with pytest.raises(errors.TransientError, match="no valid record data"):
        fn(api, zid, seed(fake))


def test_a_malformed_zone_id_is_refused_without_a_request(
    fake: FakeCloudflare, api: CloudflareApi
) -> None:
    with pytest.raises(errors.DdnsError, match="not a valid zone id"):
        api.list_records(ZoneId("zones/../x"), NAME, "A")
    assert fake.requests() == []


def test_every_call_matches_the_official_openapi_spec(
    fake: FakeCloudflare, api: CloudflareApi
) -> None:
    """The fake checks each request and answer against ../shared/cloudflare/dns-openapi.json."""
    if fake.spec is None:
        pytest.skip("the trimmed official spec (../shared/cloudflare/dns-openapi.json) is absent")
    zone_id = api.zone(ZONE).id
    api.list_records(zone_id, NAME, None)
    api.list_records(zone_id, NAME, "A")
    rec = api.create_record(zone_id, NAME, "A", IP1, comment=MARKER, ttl=300, proxied=False)
    api.update_record(zone_id, rec.id, content=IP2, comment=MARKER, ttl=1, proxied=False)
    assert len(fake.requests()) == 5
    assert fake.spec_violations == []
