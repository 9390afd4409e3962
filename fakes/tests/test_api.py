"""The fake Cloudflare API: zones, records, envelopes, validation, auth."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest

from fakes.server import FakeCloudflare
from fakes.tests.conftest import call, records_url, zone_id

OWNED = "managed-by: pi-ddns"


def create(fake: FakeCloudflare, **fields: object) -> dict[str, Any]:
    body = {"type": "A", "name": "home.example.com", "content": "81.2.69.160", "ttl": 1, **fields}
    resp = call(records_url(fake), "POST", body)
    assert resp.status == 200, resp.text
    return resp.json["result"]  # type: ignore[no-any-return]


def test_zone_lookup_by_name(fake: FakeCloudflare) -> None:
    body = call(f"{fake.api_url}/zones?name=example.com&per_page=50").json
    assert body["success"] is True
    assert body["errors"] == []
    assert body["messages"] == []
    assert [z["name"] for z in body["result"]] == ["example.com"]
    assert re.fullmatch(r"[0-9a-f]{32}", body["result"][0]["id"])
    assert body["result_info"] == {"page": 1, "per_page": 50, "count": 1, "total_count": 1, "total_pages": 1}


def test_unknown_zone_name_is_an_empty_list(fake: FakeCloudflare) -> None:
    body = call(f"{fake.api_url}/zones?name=exmaple.com").json
    assert body["success"] is True
    assert body["result"] == []
    assert body["result_info"]["total_count"] == 0


def test_get_zone_by_id(fake: FakeCloudflare) -> None:
    zid = zone_id(fake)
    assert call(f"{fake.api_url}/zones/{zid}").json["result"]["name"] == "example.com"


def test_bad_zone_id_is_a_routing_error(fake: FakeCloudflare) -> None:
    resp = call(f"{fake.api_url}/zones/example.com/dns_records")
    assert resp.status == 400
    assert [e["code"] for e in resp.json["errors"]] == [7003, 7000]
    assert resp.json["result"] is None
    assert resp.json["success"] is False


def test_create_returns_a_realistic_record(fake: FakeCloudflare) -> None:
    rec = create(fake, comment=OWNED)
    assert re.fullmatch(r"[0-9a-f]{32}", rec["id"])
    assert rec["zone_id"] == zone_id(fake)
    assert rec["zone_name"] == "example.com"
    assert (rec["name"], rec["type"]) == ("home.example.com", "A")
    assert (rec["content"], rec["ttl"]) == ("81.2.69.160", 1)
    assert rec["proxiable"] is True
    assert rec["proxied"] is False
    assert rec["comment"] == OWNED
    assert rec["tags"] == []
    assert rec["created_on"].endswith("Z")
    assert "meta" in rec
    assert "settings" in rec
    assert fake.records()[0]["id"] == rec["id"]


def test_relative_and_apex_names_are_expanded(fake: FakeCloudflare) -> None:
    assert create(fake, name="home")["name"] == "home.example.com"
    assert create(fake, name="@")["name"] == "example.com"


def test_list_filters_by_exact_name_and_type(fake: FakeCloudflare) -> None:
    a = create(fake)
    create(fake, type="AAAA", content="2a01:4f8:c0c:1::1")
    create(fake, name="other.example.com")
    url = records_url(fake)
    for query in ("name=home.example.com&type=A", "name.exact=home.example.com&type=A"):
        body = call(f"{url}?{query}").json
        assert [r["id"] for r in body["result"]] == [a["id"]], query
    assert len(call(f"{url}?name.exact=home.example.com").json["result"]) == 2
    assert len(call(f"{url}?comment.contains=pi-ddns").json["result"]) == 0


def test_list_comment_contains_is_case_insensitive(fake: FakeCloudflare) -> None:
    create(fake, comment="Managed-By: PI-DDNS since 2026")
    assert len(call(f"{records_url(fake)}?comment.contains=managed-by:%20pi-ddns").json["result"]) == 1


def test_pagination(fake: FakeCloudflare) -> None:
    for i in range(7):
        fake.seed_record(f"h{i}.example.com", "A", f"81.2.69.{i + 1}")
    body = call(f"{records_url(fake)}?per_page=3&page=3").json
    assert len(body["result"]) == 1
    assert body["result_info"] == {"page": 3, "per_page": 3, "count": 1, "total_count": 7, "total_pages": 3}


def test_patch_changes_only_given_fields(fake: FakeCloudflare) -> None:
    rec = create(fake, comment=OWNED, ttl=300, tags=["team:home"])
    resp = call(f"{records_url(fake)}/{rec['id']}", "PATCH", {"content": "81.2.69.161"})
    out = resp.json["result"]
    assert out["content"] == "81.2.69.161"
    assert out["id"] == rec["id"]
    assert (out["ttl"], out["proxied"], out["tags"], out["comment"]) == (300, False, ["team:home"], OWNED)
    assert out["modified_on"] >= rec["modified_on"]


def test_put_overwrites_the_record(fake: FakeCloudflare) -> None:
    rec = create(fake, comment=OWNED, ttl=300)
    out = call(f"{records_url(fake)}/{rec['id']}", "PUT",
               {"type": "A", "name": "home.example.com", "content": "81.2.69.162"}).json["result"]
    assert (out["content"], out["ttl"], out["comment"]) == ("81.2.69.162", 1, None)


def test_get_and_delete_one(fake: FakeCloudflare) -> None:
    rec = create(fake)
    url = f"{records_url(fake)}/{rec['id']}"
    assert call(url).json["result"]["id"] == rec["id"]
    assert call(url, "DELETE").json["result"] == {"id": rec["id"]}
    assert fake.records() == []


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_missing_record_is_81044(fake: FakeCloudflare, method: str) -> None:
    body = {"type": "A", "name": "home", "content": "81.2.69.160"}
    resp = call(f"{records_url(fake)}/{'0' * 32}", method, None if method in ("GET", "DELETE") else body)
    assert resp.status == 404
    assert resp.json["errors"] == [{"code": 81044, "message": "Record does not exist."}]


def test_identical_record_is_81057(fake: FakeCloudflare) -> None:
    create(fake)
    resp = call(records_url(fake), "POST", {"type": "A", "name": "home", "content": "81.2.69.160"})
    assert resp.status == 400
    assert resp.json["errors"][0]["code"] == 81057


def test_identical_record_code_can_be_81058(fake: FakeCloudflare) -> None:
    fake.state.duplicate_code = 81058
    create(fake)
    resp = call(records_url(fake), "POST", {"type": "A", "name": "home", "content": "81.2.69.160"})
    assert resp.json["errors"] == [{"code": 81058, "message": "An identical record already exists."}]


def test_same_name_other_content_is_allowed(fake: FakeCloudflare) -> None:
    create(fake)
    create(fake, content="81.2.69.161")
    assert len(fake.records(type="A")) == 2


def test_a_next_to_cname_is_81054(fake: FakeCloudflare) -> None:
    fake.seed_record("home.example.com", "CNAME", "elsewhere.example.net")
    resp = call(records_url(fake), "POST", {"type": "A", "name": "home", "content": "81.2.69.160"})
    assert resp.status == 400
    assert resp.json["errors"][0]["code"] == 81054


def test_cname_next_to_a_is_81053(fake: FakeCloudflare) -> None:
    create(fake)
    resp = call(records_url(fake), "POST", {"type": "CNAME", "name": "home", "content": "x.example.net"})
    assert resp.status == 400
    assert resp.json["errors"][0]["code"] == 81053


@pytest.mark.parametrize(("rtype", "content"), [
    ("A", "<html>oops</html>"), ("A", "2a01:4f8:c0c:1::1"), ("A", "81.2.69.160\n81.2.69.161"),
    ("AAAA", "81.2.69.160"), ("A", ""),
])
def test_bad_address_content_is_rejected(fake: FakeCloudflare, rtype: str, content: str) -> None:
    resp = call(records_url(fake), "POST", {"type": rtype, "name": "home", "content": content})
    assert resp.status == 400
    assert resp.json["success"] is False
    assert fake.records() == []


@pytest.mark.parametrize(("ttl", "ok"), [(1, True), (60, True), (86400, True), (30, False),
                                         (0, False), (86401, False), ("300", False)])
def test_ttl_range(fake: FakeCloudflare, ttl: object, ok: bool) -> None:
    body = {"type": "A", "name": "home", "content": "81.2.69.160", "ttl": ttl}
    resp = call(records_url(fake), "POST", body)
    assert (resp.status == 200) is ok, resp.text
    if not ok:
        assert resp.json["errors"][0]["error_chain"][0]["code"] == 9021


def test_enterprise_zone_allows_ttl_30(fake: FakeCloudflare) -> None:
    fake.add_zone("example.org", min_ttl=30)
    resp = call(records_url(fake, "example.org"), "POST",
                {"type": "A", "name": "home", "content": "81.2.69.160", "ttl": 30})
    assert resp.status == 200


def test_invalid_json_body_is_rejected(fake: FakeCloudflare) -> None:
    resp = call(records_url(fake), "POST", raw=b"{not json")
    assert resp.status == 400
    assert resp.json["success"] is False


def test_missing_token_is_9106(fake: FakeCloudflare) -> None:
    resp = call(f"{fake.api_url}/zones?name=example.com", token=None)
    assert resp.status == 400
    assert resp.json["errors"][0]["code"] == 9106


def test_unknown_token_is_9109(fake: FakeCloudflare) -> None:
    resp = call(f"{fake.api_url}/zones?name=example.com", token="wrongtoken123")
    assert resp.status == 403
    assert resp.json["errors"] == [{"code": 9109, "message": "Invalid access token"}]


def test_malformed_authorization_is_6003(fake: FakeCloudflare) -> None:
    resp = call(f"{fake.api_url}/zones", token='"quoted token"')
    assert resp.status == 400
    assert resp.json["errors"][0]["code"] == 6003


def test_token_without_dns_edit_cannot_write(fake: FakeCloudflare) -> None:
    fake.add_token("readonly-token", ["zone:read", "dns:read"])
    url = records_url(fake)
    assert call(url, token="readonly-token").status == 200
    resp = call(url, "POST", {"type": "A", "name": "home", "content": "81.2.69.160"}, token="readonly-token")
    assert resp.status == 403
    assert resp.json["errors"] == [{"code": 10000, "message": "Authentication error"}]


def test_token_without_zone_read_cannot_list_zones(fake: FakeCloudflare) -> None:
    fake.add_token("dns-only", ["dns:edit"])
    resp = call(f"{fake.api_url}/zones?name=example.com", token="dns-only")
    assert resp.status == 403
    assert resp.json["errors"][0]["code"] == 10000


def test_token_limited_to_one_zone(fake: FakeCloudflare) -> None:
    fake.add_zone("example.org")
    other = records_url(fake, "example.org")
    fake.add_token("scoped", ["zone:read", "dns:edit"], zones=["example.com"])
    names = [z["name"] for z in call(f"{fake.api_url}/zones", token="scoped").json["result"]]
    assert names == ["example.com"]
    assert call(other, token="scoped").json["errors"][0]["code"] == 10000


def test_unknown_api_route(fake: FakeCloudflare) -> None:
    resp = call(f"{fake.api_url}/accounts")
    assert resp.status == 400
    assert resp.json["errors"][0]["code"] == 7003


def test_request_log_counts_and_redacts(fake: FakeCloudflare) -> None:
    create(fake, comment=OWNED)
    log = fake.requests()
    assert [r["method"] for r in log] == ["GET", "POST"]
    post = fake.requests(method="POST")[0]
    assert post["status"] == 200
    assert post["body"]["comment"] == OWNED
    assert post["token"] == "<redacted>"
    assert post["token_known"] is True
    assert "test-token" not in repr(log)
    assert fake.requests(path=r"/zones$")[0]["query"] == {"name": "example.com"}
    fake.clear_requests()
    assert fake.requests() == []


def test_a_stray_global_api_key_breaks_auth(fake: FakeCloudflare) -> None:
    """The SDK adds X-Auth-Key/X-Auth-Email when CLOUDFLARE_API_KEY/EMAIL are set."""
    req = urllib.request.Request(f"{fake.api_url}/zones", headers={
        "Authorization": "Bearer test-token-0123456789abcdef", "X-Auth-Key": "k", "X-Auth-Email": "e@x"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=5)
    assert exc.value.code == 400
    assert json.loads(exc.value.read())["errors"][0]["code"] == 6003
    assert fake.requests()[0]["auth_headers"] == ["Authorization", "X-Auth-Key", "X-Auth-Email"]


def test_proxied_records_have_automatic_ttl(fake: FakeCloudflare) -> None:
    rec = create(fake, ttl=300, proxied=True)
    assert rec["ttl"] == 1
    rec = create(fake, name="other", ttl=300)
    out = call(f"{records_url(fake)}/{rec['id']}", "PATCH", {"proxied": True}).json["result"]
    assert (out["ttl"], out["proxied"]) == (1, True)


def test_serves_on_ipv6_loopback() -> None:
    try:
        fake = FakeCloudflare("::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        assert fake.url.startswith("http://[::1]:")
        assert call(f"{fake.url}/ip").text == "81.2.69.160"
        assert fake.dns_port
    finally:
        fake.stop()
