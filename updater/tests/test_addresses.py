"""Fault class 2: only addresses the one rule accepts are ever published.

The rule is addresses.TABLE (IANA's two special-purpose registries) plus "IPv6 only inside
2000::/3" and "never Cloudflare's". The properties check it for any address Hypothesis draws,
against the table and, independently, against Python's own ipaddress classification (which is
not the rule, but must never accept what the rule refuses).
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pi_ddns import addresses, cfranges
from pi_ddns.addresses import GLOBAL_UNICAST_V6, TABLE, check

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Addresses near every row's edges, so the small blocks are hit, not only the big ones.
def _around(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[Address]:
    first, last = int(net.network_address), int(net.broadcast_address)
    top = 2 ** net.max_prefixlen - 1
    make = ipaddress.IPv6Address if net.version == 6 else ipaddress.IPv4Address
    return [make(n) for n in sorted({max(first - 1, 0), first, last, min(last + 1, top)})]


edges = st.sampled_from(TABLE).flatmap(lambda r: st.sampled_from(_around(r.network)))
anywhere = st.ip_addresses() | edges


def python_says_special(a: Address) -> bool:
    """Python's classification: an independent oracle for the obvious kinds."""
    special = (a.is_private or a.is_multicast or a.is_unspecified or a.is_loopback
               or a.is_link_local or a.is_reserved)
    if isinstance(a, ipaddress.IPv6Address):
        special = special or a.is_site_local or a.ipv4_mapped is not None \
            or a.sixtofour is not None or a.teredo is not None
    return special


@given(anywhere)
def test_property_an_accepted_address_is_in_no_row_and_global(a: Address) -> None:
    if check(a, a.version) is not None:
        return
    assert not [r for r in TABLE if a in r.network and r.network.version == a.version]
    assert not python_says_special(a)
    assert a.is_global
    assert not cfranges.contains(a)
    if a.version == 6:
        assert a in GLOBAL_UNICAST_V6


@given(anywhere)
def test_property_allow_nonglobal_unlocks_only_lab_rows(a: Address) -> None:
    if check(a, a.version, allow_nonglobal=True) is not None:
        return
    rows = [r for r in TABLE if a in r.network and r.network.version == a.version]
    assert all(r.lab for r in rows)
    assert not a.is_multicast
    assert not a.is_unspecified
    assert not cfranges.contains(a)
    if a.version == 6 and not rows:
        assert a in GLOBAL_UNICAST_V6
    if isinstance(a, ipaddress.IPv6Address):
        assert a.ipv4_mapped is None
        assert a.sixtofour is None
        assert a.teredo is None


@given(anywhere)
def test_property_a_refusal_names_the_narrowest_row(a: Address) -> None:
    reason = check(a, a.version)
    rows = addresses.matches(a)
    if rows:
        assert reason is not None
        assert str(rows[0].network) in reason
        assert rows[0].source in reason


@given(st.ip_addresses(v=6).filter(lambda a: a not in GLOBAL_UNICAST_V6))
def test_property_ipv6_outside_2000_3_is_never_published(a: ipaddress.IPv6Address) -> None:
    assert check(a, 6) is not None


def test_every_row_quotes_its_registry_entry() -> None:
    for row in TABLE:
        assert row.name, row
        assert row.source.startswith("RFC"), row
    assert len({(r.network, r.name) for r in TABLE}) == len(TABLE)


@pytest.mark.parametrize("embedded", ["2002:5102:45a0::1", "2001:0:5102:45a0::1",
                                      "64:ff9b::5102:45a0", "64:ff9b:1::5102:45a0",
                                      "::5102:45a0", "::ffff:5102:45a0"])
def test_an_address_that_embeds_a_public_ipv4_is_not_the_homes(embedded: str) -> None:
    a = ipaddress.ip_address(embedded)
    assert check(a, 6) is not None
    assert check(a, 6, allow_nonglobal=True) is not None
