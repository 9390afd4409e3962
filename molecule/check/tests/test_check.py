"""After `--check` on a fresh host (which must not fail) and a real converge:
the appliance works as on any fresh host."""

from __future__ import annotations

from appliance_checks import (  # noqa: F401 - shared checks, collected here
    test_service_last_run_succeeded,
    test_status_reports_in_sync,
    test_timer_active,
    test_timer_enabled,
)
from ddns_testlib import FIRST_IPV4, Fake


def test_one_record_at_the_fake(fake: Fake) -> None:
    assert [r["content"] for r in fake.records()] == [FIRST_IPV4]
