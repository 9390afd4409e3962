"""A fresh "Pi" after one converge: files, user, units, hardening, the record
at the fake, and the timer keeping the record on the address."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from appliance_checks import (  # noqa: F401 - shared checks, collected here
    test_service_last_run_succeeded,
    test_status_reports_in_sync,
    test_timer_active,
    test_timer_enabled,
)
from ddns_testlib import FIRST_IPV4, MARKER, SERVICE, TIMER, TOKEN, Fake

NEXT_IPV4 = "81.2.69.161"
INTERVAL = 60  # ddns_interval in ../../shared/converge.yml, in seconds


# --- the service user ----------------------------------------------------------

def test_user_is_a_system_user(host: Any) -> None:
    assert host.user("ddns").uid < 1000


def test_user_cannot_log_in(host: Any) -> None:
    assert host.user("ddns").shell in ("/usr/sbin/nologin", "/sbin/nologin")


def test_user_has_no_home(host: Any) -> None:
    assert not host.file(host.user("ddns").home).exists


# --- files: owner, group, mode ---------------------------------------------------

@pytest.mark.parametrize(("path", "owner", "group", "mode"), [
    ("/etc/pi-ddns", "root", "ddns", 0o750),
    ("/etc/pi-ddns/config.toml", "root", "ddns", 0o640),
    ("/etc/pi-ddns/cloudflare-token", "root", "root", 0o600),
    ("/opt/pi-ddns/venv/", "root", "root", 0o755),   # the current venv, through its symlink
    ("/opt/pi-ddns/venv/bin/pi-ddns", "root", "root", 0o755),
    ("/var/lib/pi-ddns", "ddns", "ddns", 0o700),
    ("/var/lib/pi-ddns/state.json", "ddns", "ddns", 0o600),
])
def test_file_owner_and_mode(sudo_host: Any, path: str, owner: str, group: str, mode: int) -> None:
    f = sudo_host.file(path)
    assert (f.user, f.group, f.mode) == (owner, group, mode)


@pytest.mark.parametrize("path", ["/etc", "/opt", "/var/lib", "/usr/local/bin", "/etc/systemd/system"])
def test_system_directories_still_owned_by_root(host: Any, path: str) -> None:
    f = host.file(path)
    assert (f.user, f.group, f.mode) == ("root", "root", 0o755)


def test_venv_installed_nothing_writable_by_the_service(sudo_host: Any) -> None:
    out = sudo_host.check_output("find /opt/pi-ddns -user ddns -o -perm -0002 -not -type l")
    assert out == ""


# --- the token ---------------------------------------------------------------------

def test_token_file_holds_the_token(sudo_host: Any) -> None:
    assert sudo_host.file("/etc/pi-ddns/cloudflare-token").content_string.strip() == TOKEN


def test_token_in_no_other_file(sudo_host: Any) -> None:
    # Every file of the instance's root, except kernel views and the token file itself;
    # /run/credentials holds systemd's copy only while a run is active. The pattern must
    # not hold the token literally: sudo logs this command line to the journal.
    cmd = ("grep -rlsE --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev "
           f"--exclude-dir=credentials -e '{TOKEN[:-1]}[{TOKEN[-1]}]' / || true")
    found = sudo_host.check_output(cmd).split()
    assert [p for p in found if p != "/etc/pi-ddns/cloudflare-token"] == []


def test_token_not_in_the_journal(sudo_host: Any) -> None:
    assert TOKEN not in sudo_host.check_output("journalctl --no-pager -o cat")


def test_token_not_in_the_units(sudo_host: Any) -> None:
    assert TOKEN not in sudo_host.check_output(f"systemctl cat {SERVICE} {TIMER}")


# --- the units -----------------------------------------------------------------------

@pytest.mark.parametrize("unit", [SERVICE, TIMER])
def test_unit_verifies(sudo_host: Any, unit: str) -> None:
    r = sudo_host.run(f"systemd-analyze verify --man=no /etc/systemd/system/{unit}")
    assert r.rc == 0, r.stderr


@pytest.mark.parametrize(("prop", "value"), [
    ("Type", "oneshot"),
    ("User", "ddns"),
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("CapabilityBoundingSet", ""),
    ("AmbientCapabilities", ""),
    ("MemoryDenyWriteExecute", "yes"),
    ("LockPersonality", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("RestrictNamespaces", "yes"),
    ("UMask", "0077"),
    ("StateDirectory", "pi-ddns"),
])
def test_service_hardening_property(host: Any, prop: str, value: str) -> None:
    assert host.service(SERVICE).systemd_properties.get(prop, "") == value


def test_service_reads_the_token_as_a_credential(host: Any) -> None:
    # systemd 252's `systemctl show` has no LoadCredential property: read the unit.
    unit = host.check_output(f"systemctl cat {SERVICE}").splitlines()
    assert "LoadCredential=cloudflare-token:/etc/pi-ddns/cloudflare-token" in unit


def test_service_exposure_at_most_2(sudo_host: Any) -> None:
    out = sudo_host.run(f"systemd-analyze security --no-pager {SERVICE}").stdout
    level = float(re.findall(r"Overall exposure level for \S+: ([0-9.]+)", out)[-1])
    print(f"systemd-analyze security {SERVICE}: exposure {level}")
    assert level <= 2.0


# --- the effect: the record at the fake ------------------------------------------------

def test_one_record_at_the_fake(fake: Fake) -> None:
    assert len(fake.records()) == 1


def test_record_content_is_the_address(fake: Fake) -> None:
    assert [r["content"] for r in fake.records()] == [FIRST_IPV4]


def test_record_carries_the_ownership_comment(fake: Fake) -> None:
    assert MARKER in (fake.records()[0].get("comment") or "")


# --- the timer at work ----------------------------------------------------------------

@pytest.fixture(scope="module")
def ip_change(fake: Fake) -> tuple[list[dict[str, Any]], float]:
    """Move the fake's public address, then wait (at most ~1.5 intervals) for the record to follow."""
    fake.set_ipv4(NEXT_IPV4)
    recs, took = fake.wait_for_content(NEXT_IPV4, timeout=INTERVAL * 1.5 + 15)
    print(f"IP change -> record at the fake correct after {took:.1f}s (interval {INTERVAL}s)")
    return recs, took


def test_timer_moves_the_record(ip_change: tuple[list[dict[str, Any]], float]) -> None:
    assert [r["content"] for r in ip_change[0]] == [NEXT_IPV4]


def test_timer_moves_the_record_within_one_interval(ip_change: tuple[list[dict[str, Any]], float]) -> None:
    assert ip_change[1] <= INTERVAL + 10  # one interval, plus the run itself and the poll step


@pytest.fixture(scope="module")
def unchanged_run(host: Any, fake: Fake, ip_change: Any) -> dict[str, Any]:
    """One more run through systemd with the address unchanged: the fake's request log after it."""
    # The record moves mid-run: let that run end, or `systemctl start` would join its job.
    deadline = time.time() + 30
    while host.check_output(f"systemctl show -p ActiveState --value {SERVICE}") != "inactive":
        assert time.time() < deadline, "the timer's run never ended"
        time.sleep(0.2)
    fake.clear_requests()
    with host.sudo():
        host.check_output(f"systemctl start {SERVICE}")  # a oneshot: returns when the run ended
    time.sleep(0.2)
    return fake.requests()


def test_unchanged_run_made_no_api_call(unchanged_run: dict[str, Any]) -> None:
    assert unchanged_run["requests"] == []


def test_unchanged_run_did_ask_the_address(unchanged_run: dict[str, Any]) -> None:
    assert unchanged_run["echo_count"] >= 1


# --- the updater spoke the real API ---------------------------------------------------

def test_no_request_broke_the_official_api_spec(fake: Fake) -> None:
    """The fake checks every API call against Cloudflare's OpenAPI description (when
    ../shared/cloudflare/dns-openapi.json is there) and records what does not conform."""
    result = fake.call("GET", "/_fake/spec_violations")
    if not result["spec"]:
        pytest.skip("the fake runs without the OpenAPI description")
    assert result["violations"] == []
