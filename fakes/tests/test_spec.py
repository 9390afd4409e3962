"""The fake checked against the trimmed official OpenAPI description (skipped when it is absent)."""

from __future__ import annotations

import pytest

from fakes.openapi import SpecChecker, find_spec
from fakes.server import FakeCloudflare
from fakes.tests.conftest import call, records_url

SPEC = find_spec()
pytestmark = pytest.mark.skipif(SPEC is None, reason="../shared/cloudflare/dns-openapi.json is absent")


def test_a_full_session_conforms(fake: FakeCloudflare) -> None:
    """Every response the fake sends (successes and errors) matches the spec."""
    url = records_url(fake)
    body = {"type": "A", "name": "home.example.com", "content": "81.2.69.160", "ttl": 1,
            "comment": "managed-by: pi-ddns", "proxied": False, "tags": []}
    rec = call(url, "POST", body).json["result"]
    call(url, "POST", body)  # 81057
    call(f"{url}?name.exact=home.example.com&type=A&per_page=100")
    call(f"{url}?comment.contains=pi-ddns&page=1")
    call(f"{url}/{rec['id']}", "PATCH", {"content": "81.2.69.161"})
    call(f"{url}/{rec['id']}", "PUT", {"type": "A", "name": "home.example.com", "content": "81.2.69.162",
                                       "ttl": 300, "proxied": True})
    call(f"{url}/{rec['id']}")
    call(f"{url}/{rec['id']}", "DELETE")
    call(f"{url}/{rec['id']}", "PATCH", {"content": "81.2.69.161"})  # 81044
    call(f"{fake.api_url}/zones?name=example.com&per_page=50", token="unknown")  # 9109
    assert fake.spec is not None
    assert fake.spec_violations == []


def test_requests_outside_the_spec_are_recorded(fake: FakeCloudflare) -> None:
    url = records_url(fake)
    call(f"{url}?name=home.example.com&colour=blue")
    call(url, "POST", {"type": "A", "name": "home", "content": "81.2.69.160", "ttl": 1, "owner": "me"})
    call(url, "POST", {"type": "A", "content": "81.2.69.160"})
    call(url, "POST", {"type": "A", "name": "x", "content": "81.2.69.160", "created_on": "2026-01-01"})
    problems = [v["problem"] for v in fake.spec_violations]
    assert "query parameter 'colour' is not in the spec" in problems
    assert "body.owner: property not in the spec" in problems
    assert "body: missing required 'name'" in problems
    assert "body.created_on: read-only property sent in a request" in problems
    assert all(v["kind"] == "request" for v in fake.spec_violations)


def test_validator_checks_types_enums_and_formats() -> None:
    assert SPEC is not None
    check = SpecChecker(SPEC)
    schema = {"$ref": "#/components/schemas/dns-records_dns-record-request"}
    good = {"type": "A", "name": "h", "content": "81.2.69.160", "ttl": 1}
    assert check.validate(good, schema, "b", True) == []
    errs = check.validate({"type": "A", "name": "h", "content": "<html>", "ttl": 5}, schema, "b", True)
    assert any("not an ipv4 address" in e for e in errs)
    assert any("ttl" in e for e in errs)
    six = {"type": "AAAA", "name": "h", "content": "2a01:4f8:c0c:1::1"}
    assert check.validate(six, schema, "b", True) == []
    assert check.check_request("GET", "/zones/x/dns_records/y/z", {}, None) != []
    assert check.check_request("POST", "/zones", {}, {}) == ["POST not allowed on /zones"]
