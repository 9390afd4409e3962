"""After `--check` on a fresh host (which must not fail) and a real converge:
the appliance works as on any fresh host."""

from __future__ import annotations

from typing import Any

from ddns_testlib import FIRST_IPV4, SERVICE, TIMER, Fake


def test_timer_enabled(host: Any) -> None:
    assert host.service(TIMER).is_enabled


def test_timer_active(host: Any) -> None:
    assert host.service(TIMER).is_running


def test_service_last_run_succeeded(host: Any) -> None:
    assert host.service(SERVICE).systemd_properties["Result"] == "success"


def test_one_record_at_the_fake(fake: Fake) -> None:
    assert [r["content"] for r in fake.records()] == [FIRST_IPV4]
