"""After ddns_state: absent: everything the role installed is gone, and the
DNS record is still there (ddns_delete_record is off by default)."""

from __future__ import annotations

from typing import Any

import pytest
from ddns_testlib import FIRST_IPV4, SERVICE, TIMER, Fake


@pytest.mark.parametrize("path", [
    "/etc/pi-ddns",
    "/opt/pi-ddns",
    "/var/lib/pi-ddns",
    "/usr/local/bin/pi-ddns",
    f"/etc/systemd/system/{SERVICE}",
    f"/etc/systemd/system/{TIMER}",
    f"/etc/systemd/system/timers.target.wants/{TIMER}",
])
def test_path_is_gone(sudo_host: Any, path: str) -> None:
    assert not sudo_host.file(path).exists


@pytest.mark.parametrize("unit", [SERVICE, TIMER])
def test_unit_is_unknown_to_systemd(host: Any, unit: str) -> None:
    assert host.service(unit).systemd_properties["LoadState"] == "not-found"


def test_user_is_gone(host: Any) -> None:
    assert not host.user("ddns").exists


def test_group_is_gone(host: Any) -> None:
    assert not host.group("ddns").exists


def test_record_is_still_at_the_fake(fake: Fake) -> None:
    assert [r["content"] for r in fake.records()] == [FIRST_IPV4]
