"""Issue 12 on the appliance: records in the dict form in two zones of the fake, with their own
TTL, proxied flag and comment; the AAAA record of a host behind the Pi on the detected IPv6
prefix; and the proof of propagation against the fake's authoritative nameserver, which the Pi
reaches at the controller's address on the lab network (the zones' `name_servers`).

The settings: ../../shared/inventory/group_vars/several_zones/vars.yml and ../../shared/vars.yml.
"""

from __future__ import annotations

import ipaddress
import json
import time
from typing import Any

import pytest
from ddns_testlib import MARKER, SERVICE, SETTINGS, Fake

ZONE, ZONE2 = SETTINGS["fake_zone"], SETTINGS["fake_zone2"]
RECORD, RECORD2 = SETTINGS["fake_record"], SETTINGS["fake_record2"]
HOST_RECORD, HOST_ID = SETTINGS["fake_host_record"], SETTINGS["fake_host_id"]
FIRST_IPV6 = SETTINGS["fake_ipv6"]
NEXT_IPV6 = "2a01:4f8:c0c:2::1"  # the home's new prefix: 2a01:4f8:c0c:2::/64
THIRD_IPV4 = "81.2.69.162"  # and a new IPv4 address (test_default.py moved it to .161)


def _host_address(address: str) -> str:
    """The host record's content for a detected address: its /64, then the host's ID."""
    prefix = int(ipaddress.IPv6Address(address)) & ~((1 << 64) - 1)
    return str(ipaddress.IPv6Address(prefix | int(ipaddress.IPv6Address(HOST_ID))))


def _contents(fake: Fake, name: str, rtype: str) -> list[str]:
    return [r["content"] for r in fake.records(name, rtype)]


def _fake_host(host: Any) -> str:
    """The controller's end of the instance's veth: the fake's address."""
    return str(host.backend.get_variables()["ansible_host"]).rsplit(".", 1)[0] + ".1"


# --- two zones, settings per record --------------------------------------------------------

def test_the_fake_holds_both_zones(fake: Fake) -> None:
    zones = {z["name"] for z in fake.call("GET", "/_fake/state")["zones"]}
    assert {ZONE, ZONE2} <= zones


def test_record_in_the_second_zone_has_its_own_settings(fake: Fake) -> None:
    [record] = fake.records(RECORD2, "A")
    assert (record["zone_name"], record["proxied"], record["ttl"], record["comment"]) == (
        ZONE2, True, 1, f"{MARKER} blog")


def test_record_of_a_dict_with_a_type_has_only_that_type(fake: Fake) -> None:
    assert fake.records(RECORD2, "AAAA") == []


def test_plain_name_keeps_both_families(fake: Fake) -> None:
    """The simple form, unchanged: with IPv6 on, the plain name gets A and AAAA (the marker in
    the comment; test_settings.py may have added a second one)."""
    [aaaa] = fake.records(RECORD, "AAAA")
    assert aaaa["content"] == fake.call("GET", "/_fake/state")["addresses"]["ipv6"]
    assert aaaa["comment"].split(" pi-ddns: molecule")[0] == MARKER


# --- the host behind the Pi ----------------------------------------------------------------

def test_host_record_is_the_prefix_plus_the_host_id(fake: Fake) -> None:
    ipv6 = fake.call("GET", "/_fake/state")["addresses"]["ipv6"]
    [record] = fake.records(HOST_RECORD, "AAAA")
    assert (record["content"], record["ttl"], record["comment"]) == (
        _host_address(ipv6), 300, f"{MARKER} nas")


def test_host_record_has_no_a_record(fake: Fake) -> None:
    assert fake.records(HOST_RECORD, "A") == []


def test_state_caches_each_zone_with_its_nameservers(sudo_host: Any) -> None:
    state = json.loads(sudo_host.file("/var/lib/pi-ddns/state.json").content_string)
    servers = {name: zone["name_servers"] for name, zone in state["zones"].items()}
    assert servers == {ZONE: [_fake_host(sudo_host)], ZONE2: [_fake_host(sudo_host)]}


def test_the_zones_nameservers_are_the_fakes_address(host: Any, fake: Fake) -> None:
    """The Pi asks the controller's address on the lab network, never a real nameserver."""
    zones = [z for z in fake.call("GET", "/_fake/state")["zones"] if z["name"] in (ZONE, ZONE2)]
    assert [z["name_servers"] for z in zones] == [[_fake_host(host)]] * 2


# --- new addresses: the host record follows, and the change is proven at the nameserver -------

def _run_once(host: Any) -> None:
    """One run through systemd (a oneshot: `start` returns when it ended). A timer run in
    progress is let finish first, or `start` would join its job."""
    deadline = time.time() + 60
    while host.check_output(f"systemctl show -p ActiveState --value {SERVICE}") != "inactive":
        assert time.time() < deadline, "the timer's run never ended"
        time.sleep(0.2)
    with host.sudo():
        host.check_output(f"systemctl start {SERVICE}")


@pytest.fixture(scope="module")
def address_change(host: Any, fake: Fake) -> dict[str, Any]:
    """The home gets a new IPv6 prefix and IPv4 address; one run follows them (the timer's or
    ours). What the fake's nameserver was asked, and what the journal says, from then on."""
    since = int(host.check_output("date +%s")) - 1
    fake.clear_requests()
    fake.call("PUT", "/_fake/ip", {"ipv4": THIRD_IPV4, "ipv6": NEXT_IPV6})
    _run_once(host)
    with host.sudo():
        journal = host.check_output(f"journalctl --no-pager -o cat -u {SERVICE} --since @{since}")
    return {"requests": fake.requests(), "journal": journal}


def test_host_record_follows_the_new_prefix(fake: Fake, address_change: dict[str, Any]) -> None:
    assert _contents(fake, HOST_RECORD, "AAAA") == [_host_address(NEXT_IPV6)]


def test_plain_aaaa_follows_the_new_address(fake: Fake, address_change: dict[str, Any]) -> None:
    assert _contents(fake, RECORD, "AAAA") == [NEXT_IPV6]


def test_proxied_record_follows_the_new_address(fake: Fake, address_change: dict[str, Any]) -> None:
    assert _contents(fake, RECORD2, "A") == [THIRD_IPV4]


CHECKED = [(HOST_RECORD, "AAAA"), (RECORD, "AAAA"), (RECORD, "A")]


@pytest.mark.parametrize(("name", "rtype"), CHECKED)
def test_journal_says_the_change_propagated(address_change: dict[str, Any], name: str,
                                            rtype: str) -> None:
    assert f"propagated {name} {rtype} to 1/1 nameservers in " in address_change["journal"]


@pytest.mark.parametrize(("name", "rtype"), CHECKED)
def test_the_nameserver_was_asked_by_the_pi(host: Any, address_change: dict[str, Any], name: str,
                                            rtype: str) -> None:
    asked = [q for q in address_change["requests"]["ns_queries"]
             if (q["name"], q["type"]) == (name, rtype)]
    address = str(host.backend.get_variables()["ansible_host"])
    assert asked
    assert {(q["server"], q["client"][0], q["rd"]) for q in asked} == {
        (_fake_host(host), address, False)}


def test_proxied_record_is_not_checked(address_change: dict[str, Any]) -> None:
    """Cloudflare's nameservers answer a proxied record with Cloudflare's own addresses."""
    assert f"{RECORD2} A: propagation not checked: a proxied record" in address_change["journal"]
    assert RECORD2 not in {q["name"] for q in address_change["requests"]["ns_queries"]}


def test_metrics_record_the_propagation(host: Any, address_change: dict[str, Any]) -> None:
    lines = host.file("/run/pi-ddns/metrics/pi_ddns.prom").content_string.splitlines()
    assert "pi_ddns_propagation_confirmed 1" in lines
    assert any(ln.startswith("pi_ddns_propagation_seconds ") for ln in lines)


def test_a_run_without_change_asks_no_nameserver(host: Any, fake: Fake,
                                                 address_change: dict[str, Any]) -> None:
    fake.clear_requests()
    _run_once(host)
    assert fake.requests()["ns_hits"] == 0
