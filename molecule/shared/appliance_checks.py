"""Checks every converged scenario shares: the timer is on, the service's last run succeeded
and the updater reports its records in sync. Scenario test files import them, so that pytest
collects them there."""

from __future__ import annotations

from typing import Any

from ddns_testlib import SERVICE, TIMER


def test_timer_enabled(host: Any) -> None:
    assert host.service(TIMER).is_enabled


def test_timer_active(host: Any) -> None:
    assert host.service(TIMER).is_running


def test_service_last_run_succeeded(host: Any) -> None:
    assert host.service(SERVICE).systemd_properties["Result"] == "success"


def test_status_reports_in_sync(sudo_host: Any) -> None:
    assert sudo_host.run("/usr/local/bin/pi-ddns status").rc == 0
