"""After the SD card died: a fresh instance converged against the same fake
Cloudflare state adopts the record it owned, with no duplicate."""

from __future__ import annotations

import json
from typing import Any

import pytest
from appliance_checks import (  # noqa: F401 - shared checks, collected here
    test_service_last_run_succeeded,
    test_status_reports_in_sync,
    test_timer_active,
    test_timer_enabled,
)
from ddns_testlib import RECORD, Fake, ephemeral_dir


@pytest.fixture(scope="module")
def before(host: Any) -> list[dict[str, Any]]:
    """The records at the fake just before the old instance was destroyed (side_effect.yml)."""
    name = host.backend.get_hostname()
    snap = json.loads((ephemeral_dir() / f"fake-{name}.before.json").read_text())
    return [r for r in snap["records"] if r["name"] == RECORD and r["type"] == "A"]


def test_there_was_one_record_before(before: list[dict[str, Any]]) -> None:
    assert len(before) == 1


def test_one_record_after(fake: Fake) -> None:
    assert len(fake.records()) == 1


def test_no_record_of_another_type_at_the_name(fake: Fake) -> None:
    assert len(fake.call("GET", f"/_fake/records?name={RECORD}")["records"]) == 1


def test_same_record_id(fake: Fake, before: list[dict[str, Any]]) -> None:
    assert fake.records()[0]["id"] == before[0]["id"]


def test_current_content(fake: Fake) -> None:
    assert fake.records()[0]["content"] == fake.ipv4()


def test_fresh_instance_has_its_own_state(sudo_host: Any) -> None:
    assert sudo_host.file("/var/lib/pi-ddns/state.json").exists


def test_new_card_had_new_host_keys_and_the_runbook_step_let_the_play_in(host: Any) -> None:
    """side_effect.yml: the first login to the fresh instance was refused on its changed host
    key, and the play ran again only after the runbook's `ssh-keygen -R`."""
    name = host.backend.get_hostname()
    refused = (ephemeral_dir() / f"host-key-changed-{name}.txt").read_text()
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in refused
