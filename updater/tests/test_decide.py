"""decide() is pure: records in, one action out (or a ConflictError for a human)."""

from __future__ import annotations

import pytest

from conftest import IP1, IP2, IP6_1, MARKER, NAME
from pi_ddns.decide import Create, Noop, Record, RecordId, Update, Wanted, decide, describe
from pi_ddns.errors import EX_DATAERR, ConflictError


def rec(rid: str = "r1", rtype: str = "A", content: str = IP1, comment: str | None = MARKER,
        ttl: int = 1, proxied: bool = False, name: str = NAME) -> Record:
    return Record(RecordId(rid), name, rtype, content, ttl, proxied, comment, ("team:home",))


def want(content: str = IP2, rtype: str = "A", adopt: bool = False, ttl: int | None = None,
         proxied: bool | None = None) -> Wanted:
    return Wanted(NAME, rtype, content, MARKER, adopt, ttl, proxied)


def test_missing_record_is_created_with_the_marker() -> None:
    action = decide(want(), [])
    assert action == Create(NAME, "A", IP2, MARKER, None, None)
    assert describe(action) == f"created A {NAME} {IP2}"


def test_create_carries_configured_ttl_and_proxied() -> None:
    assert decide(want(ttl=300, proxied=True), []) == Create(NAME, "A", IP2, MARKER, 300, True)


def test_owned_record_with_other_content_is_updated_content_only() -> None:
    r = rec(ttl=120, proxied=True)
    action = decide(want(), [r])
    assert action == Update(r, IP2)
    assert describe(action) == f"updated A {NAME} {IP1} -> {IP2}"


def test_owned_record_in_sync_is_a_noop() -> None:
    r = rec()
    assert decide(want(IP1), [r]) == Noop(r)


def test_ipv6_spellings_compare_as_addresses() -> None:
    r = rec(rtype="AAAA", content="2a01:04f8:0c0c:0001:0000:0000:0000:0001")
    assert decide(want(IP6_1, rtype="AAAA"), [r]) == Noop(r)


def test_configured_ttl_and_proxied_are_applied_when_they_differ() -> None:
    r = rec(ttl=1, proxied=False)
    assert decide(want(IP1, ttl=300), [r]) == Update(r, IP1, None, 300, None)
    assert decide(want(IP1, ttl=300, proxied=True), [r]) == Update(r, IP1, None, None, True)
    same = rec(ttl=300, proxied=False)
    assert decide(want(IP1, ttl=300, proxied=False), [same]) == Noop(same)


def test_ttl_of_a_proxied_record_is_never_chased() -> None:
    proxied = rec(ttl=1, proxied=True)  # Cloudflare pins proxied records to TTL 1 (auto)
    assert decide(want(IP1, ttl=300), [proxied]) == Noop(proxied)
    assert decide(want(IP1, ttl=300, proxied=True), [proxied]) == Noop(proxied)
    assert decide(want(IP1, ttl=300, proxied=False), [proxied]) == Update(proxied, IP1, None,
                                                                          300, False)


def test_unowned_record_is_a_conflict_unless_adopt() -> None:
    r = rec(comment="made by hand")
    with pytest.raises(ConflictError) as err:
        decide(want(), [r])
    assert "r1" in str(err.value)
    assert "adopt = true" in str(err.value)
    assert err.value.exit_code == EX_DATAERR
    action = decide(want(adopt=True), [r])
    assert action == Update(r, IP2, comment=f"made by hand {MARKER}", adopts=True)
    assert describe(action).startswith("adopted A")
    assert decide(want(IP1, adopt=True), [rec(comment=None)]) == Update(rec(comment=None), IP1,
                                                                         comment=MARKER,
                                                                         adopts=True)


def test_two_records_of_the_same_type_name_both_ids() -> None:
    with pytest.raises(ConflictError) as err:
        decide(want(), [rec("aaa"), rec("bbb")])
    assert "aaa" in str(err.value)
    assert "bbb" in str(err.value)


def test_cname_at_the_name_is_a_conflict() -> None:
    cname = rec("c1", rtype="CNAME", content="elsewhere.example.net", comment=None)
    with pytest.raises(ConflictError, match="CNAME record \\(c1\\)"):
        decide(want(), [cname])


def test_records_of_other_types_are_ignored() -> None:
    txt = rec("t1", rtype="TXT", content="hello", comment=None)
    aaaa = rec("q1", rtype="AAAA", content=IP6_1)
    assert decide(want(), [txt, aaaa]) == Create(NAME, "A", IP2, MARKER, None, None)
