"""IPv6 host records end to end (issue 12): the detected prefix with a host's interface ID.

The real CLI against the fake, IPv6 detected from a static source or the fake's echo. A
combined address that fails the publishing rule (addresses.py) is never written: the run
keeps every other record right and exits 65 naming the record.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import IP1, IP6_1, MARKER, NAME, Env
from pi_ddns import addresses, hostid
from pi_ddns.errors import EX_DATAERR, EX_OK

NAS = "nas.example.com"
PRINTER = "printer.example.com"


def v6(env: Env, source: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"enabled": True, "timeout": 2.0,
            "sources": [source or {"type": "http", "url": env.fake.url + "/ip6"}]}


def aaaa(env: Env, name: str) -> list[str]:
    return [r["content"] for r in env.fake.records(name=name, type="AAAA")]


def test_host_records_follow_the_prefix_and_cost_nothing_when_unchanged(env: Env) -> None:
    env.write_config(records=[NAME, {"name": NAS, "ipv6_host_id": "::1234"},
                              {"name": PRINTER, "ipv6_mac": "00:11:22:33:44:55",
                               "ipv6_prefix_length": 56}], ipv6=v6(env))
    result = env.run(["update"])
    assert result.code == EX_OK, result.err
    assert aaaa(env, NAS) == ["2a01:4f8:c0c:1::1234"]
    # /56: the detected address's first 56 bits, then 0x00 and the EUI-64 of the MAC
    assert aaaa(env, PRINTER) == ["2a01:4f8:c0c:0:211:22ff:fe33:4455"]
    assert env.fake.records(name=NAS, type="A") == []  # a host record is AAAA only
    env.fake.clear_requests()
    assert env.run(["update"]).code == EX_OK
    assert env.fake.requests() == []

    env.fake.set_ip(ipv6="2a02:8071:aa:5b00::77")  # a new prefix from the ISP
    result = env.run(["update"])
    assert result.code == EX_OK, result.err
    assert aaaa(env, NAS) == ["2a02:8071:aa:5b00::1234"]
    assert aaaa(env, PRINTER) == ["2a02:8071:aa:5b00:211:22ff:fe33:4455"]
    assert aaaa(env, NAME) == ["2a02:8071:aa:5b00::77"]
    assert env.calls() == ["GET list", "PATCH record"] * 3
    changes = env.state()["records"][f"AAAA {NAS}"]
    assert (changes["zone"], changes["content"]) == ("example.com", "2a02:8071:aa:5b00::1234")


def test_a_refused_combination_is_not_written_and_the_rest_is_kept_right(env: Env) -> None:
    """2001:4860::/16 prefix + 0:db8::1 = 2001:db8::1, a documentation address."""
    env.write_config(records=[NAME, {"name": NAS, "ipv6_host_id": "0:db8::1",
                                     "ipv6_prefix_length": 16}],
                     ipv6=v6(env, {"type": "static", "address": "2001:4860::8888"}))
    result = env.run(["update"])
    assert result.code == EX_DATAERR
    assert f"AAAA {NAS}: the detected prefix 2001:4860::8888/16 with the record's interface " \
        "ID gives 2001:db8::1 is a documentation address" in result.err
    assert env.fake.records(name=NAS) == []
    assert aaaa(env, NAME) == ["2001:4860::8888"]
    assert [r["content"] for r in env.fake.records(name=NAME, type="A")] == [IP1]
    assert env.state()["last_run"]["exit_code"] == EX_DATAERR
    status = env.run(["status", "--json"])
    assert json.loads(status.out)["exit_code"] == EX_DATAERR
    env.fake.clear_requests()
    again = env.run(["update"])  # the same every timer run, without an API call
    assert again.code == EX_DATAERR
    assert env.fake.requests() == []


def test_an_address_the_rule_refuses_is_refused_even_when_cached_as_written(env: Env) -> None:
    """allow_nonglobal unlocks the lab rows for a host record too, exactly as for a detected
    address; never a row outside them (a 6to4 address)."""
    source = {"type": "static", "address": "2001:db8:1::5"}
    env.write_config(records=[{"name": NAS, "ipv6_host_id": "::7"}],
                     ipv6={**v6(env, source), "allow_nonglobal": True}, ipv4={"enabled": False})
    assert env.run(["update"]).code == EX_OK
    assert aaaa(env, NAS) == ["2001:db8:1::7"]
    env.write_config(records=[{"name": NAS, "ipv6_host_id": "2:0:1::7",
                               "ipv6_prefix_length": 12}],
                     ipv6={**v6(env, source), "allow_nonglobal": True}, ipv4={"enabled": False})
    result = env.run(["update"])  # 2001:db8:1:: /12 + 2:0:1::7 = 2002:0:1::7: 6to4
    assert result.code == EX_DATAERR
    assert "6to4" in result.err
    assert aaaa(env, NAS) == ["2001:db8:1::7"]  # left as it was


# ---- the property: any combined address outside the rule is never written -------------------

V6_ROWS = [r.network for r in addresses.TABLE if r.network.version == 6] + [
    ipaddress.IPv6Network("::/1"), ipaddress.IPv6Network("4000::/2"),  # outside 2000::/3
    ipaddress.IPv6Network("2000::/3")]


def in_network(net: ipaddress.IPv6Network, low: int) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(int(net.network_address) | (low & int(net.hostmask)))


@st.composite
def cases(draw: st.DrawFn) -> tuple[ipaddress.IPv6Address, int, int]:
    """(detected, prefix length, interface ID): either any, or aimed at a row of the table:
    the combination is a chosen address in that row, with the detected address itself
    global (as detection demands)."""
    bits = st.integers(0, (1 << 128) - 1)
    if draw(st.booleans()):
        net = draw(st.sampled_from(V6_ROWS))
        target = in_network(net, draw(bits))
        length = draw(st.integers(1, max(1, net.prefixlen - 1)))
        detected = ipaddress.IPv6Address(
            (int(target) & ~hostid.host_mask(length) & ((1 << 128) - 1))
            | (draw(bits) & hostid.host_mask(length)))
        ident = int(target) & hostid.host_mask(length)
    else:
        detected = in_network(ipaddress.IPv6Network("2000::/3"), draw(bits))
        length = draw(st.integers(1, 127))
        ident = draw(bits) & hostid.host_mask(length)
    assume(ident != 0 and addresses.check(detected, 6) is None)
    return detected, length, ident


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases())
def test_property_a_combined_address_outside_the_rule_is_never_written(
        env: Env, case: tuple[ipaddress.IPv6Address, int, int]) -> None:
    detected, length, ident = case
    with env.fake.lock:
        env.fake.state.records.clear()
    env.state_path.unlink(missing_ok=True)
    env.write_config(records=[NAME, {"name": NAS, "ipv6_host_id": str(ipaddress.IPv6Address(
        ident)), "ipv6_prefix_length": length}],
        ipv6=v6(env, {"type": "static", "address": str(detected)}))
    combined = hostid.combine(detected, length, ident)
    why = addresses.check(combined, 6)

    result = env.run(["update"])
    assert aaaa(env, NAME) == [str(detected)]  # every other record kept right
    assert [r["content"] for r in env.fake.records(name=NAME, type="A")] == [IP1]
    if why is None:
        assert result.code == EX_OK, result.err
        [record] = env.fake.records(name=NAS, type="AAAA")
        assert (record["content"], record["comment"]) == (str(combined), MARKER)
    else:
        assert result.code == EX_DATAERR, result.err
        assert f"AAAA {NAS}: " in result.err
        assert env.fake.records(name=NAS) == []
    assert all(r["content"] != str(combined) or why is None for r in env.fake.records())


def test_the_fakes_ipv6_is_global() -> None:
    assert addresses.check(ipaddress.IPv6Address(IP6_1), 6) is None
