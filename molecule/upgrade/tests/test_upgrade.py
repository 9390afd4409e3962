"""Upgrades without a gap (side_effect.yml): release N (a venv directory), N+1 (migrated to a
versioned venv behind the /opt/pi-ddns/venv symlink), a broken N+1' and N+2, converged while
pi-ddns.service was started every 0.3 s; then the rollback by hand and N+2 again."""

from __future__ import annotations

import collections
import hashlib
import json
import re
from typing import Any

import pytest
from appliance_checks import (  # noqa: F401 - shared checks, collected here
    test_service_last_run_succeeded,
    test_status_reports_in_sync,
    test_timer_active,
    test_timer_enabled,
)
from ddns_testlib import ephemeral_dir


def step(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((ephemeral_dir() / f"upgrade-{name}.json").read_text())
    return result


def journal_entries(host: Any, unit: str, since: int, until: int) -> list[dict[str, Any]]:
    with host.sudo():
        out = host.check_output(
            f"journalctl --no-pager -o json -u {unit} --since @{since} --until @{until}")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def runs(entries: list[dict[str, Any]]) -> collections.Counter[str]:
    """How the service's start jobs ended (systemd's JOB_RESULT: done, failed, ...)."""
    return collections.Counter(e["JOB_RESULT"] for e in entries
                               if e.get("JOB_TYPE") == "start" and "JOB_RESULT" in e)


def switch(stdout: str) -> dict[str, Any]:
    """The switch task's result (install_venv.yml), from the play's -v output."""
    m = re.search(r'"stdout": "(\{\\"current.*?\})"', stdout)
    assert m, "no switch in this run"
    result: dict[str, Any] = json.loads(json.loads(f'"{m.group(1)}"'))
    return result


def recap_changed(stdout: str) -> int:
    line = next(x for x in stdout.splitlines() if " ok=" in x and "changed=" in x)
    return int(line.split("changed=")[1].split()[0])


def test_release_n_installed_a_venv_directory() -> None:
    legacy = step("legacy")
    assert legacy["rc"] == 0
    assert legacy["link"] == "directory"
    assert not legacy["version"].startswith("pi-ddns 99.")


def test_n_plus_1_migrated_the_directory_and_switched() -> None:
    nxt = step("next")
    assert nxt["rc"] == 0
    assert nxt["version"] == "pi-ddns 99.0.1"
    assert nxt["link"].startswith("venvs/99.0.1-")
    migrated = [v for v in nxt["venvs"] if v.endswith(".migrated")]
    assert len(migrated) == 1, nxt["venvs"]
    assert sorted(nxt["venvs"]) == sorted([migrated[0], nxt["link"].removeprefix("venvs/")])


def test_the_directory_and_the_symlink_swapped_places_atomically() -> None:
    """renameat2(RENAME_EXCHANGE): no moment without /opt/pi-ddns/venv (not two renames)."""
    result = switch(step("next")["stdout"])
    print(f"migration: {result}")
    assert result["switch"] == "exchange"
    assert result["previous"].endswith(".migrated")


def test_the_upgrade_was_tried_before_the_switch() -> None:
    assert "TASK [ddns : Dry-run the updater with the candidate settings]" in step("next")["stdout"]


def test_venv_name_is_the_version_and_the_manifests_hash() -> None:
    """venvs/VERSION-<sha256 of the wheelhouse's requirements.txt, 12 hex>: the manifest pins
    the pi_ddns wheel's hash, so any change of code gives a new directory."""
    builds = ephemeral_dir() / "upgrade" / "wheelhouse.builds"
    names = set()
    for manifest in builds.glob("*/requirements.txt"):
        text = manifest.read_bytes()
        version = next(line.split(b"==")[1].split()[0] for line in text.splitlines()
                       if line.startswith(b"pi-ddns=="))
        names.add(f"venvs/{version.decode()}-{hashlib.sha256(text).hexdigest()[:12]}")
    assert step("next")["link"] in names
    assert step("last")["link"] in names


def test_a_second_run_of_the_same_version_changes_nothing_and_tries_nothing() -> None:
    again = step("next-again")
    assert again["rc"] == 0
    assert recap_changed(again["stdout"]) == 0
    assert "Dry-run the updater" not in again["stdout"]
    assert again["link"] == step("next")["link"]


def test_a_broken_release_fails_the_play_with_the_updaters_message() -> None:
    broken = step("broken")
    assert broken["rc"] != 0
    assert "pi-ddns 99.0.2-" in broken["stdout"]
    assert "failed its trial run" in broken["stdout"]
    assert "broken on purpose" in broken["stdout"]
    assert "The installed version keeps running" in broken["stdout"]


def test_a_broken_release_leaves_the_previous_version_running() -> None:
    broken, nxt = step("broken"), step("next")
    assert broken["link"] == nxt["link"]
    assert broken["version"] == "pi-ddns 99.0.1"


def test_only_the_current_and_the_previous_venv_remain() -> None:
    """After N, N+1, the broken N+1' and N+2: the migrated N and the broken venv are gone."""
    last, nxt = step("last"), step("next")
    assert last["rc"] == 0
    assert last["version"] == "pi-ddns 99.0.3"
    assert sorted(last["venvs"]) == sorted(x.removeprefix("venvs/") for x in (nxt["link"], last["link"]))


@pytest.mark.parametrize("name", ["next", "broken", "last", "forward"])
def test_the_service_ran_during_each_converge(host: Any, name: str) -> None:
    s = step(name)
    ended = runs(journal_entries(host, "pi-ddns.service", s["since"], s["until"]))
    print(f"{name}: {sum(ended.values())} runs in {s['until'] - s['since']} s: {dict(ended)}")
    assert ended["done"] >= 10


def test_no_run_failed_from_release_n_to_the_end(host: Any) -> None:
    since, until = step("legacy")["until"], step("forward")["until"]
    entries = journal_entries(host, "pi-ddns.service", since, until)
    ended = runs(entries)
    print(f"{sum(ended.values())} runs in {until - since} s: {dict(ended)}")
    assert set(ended) == {"done"}
    errors = [e["MESSAGE"] for e in entries
              if e.get("_SYSTEMD_UNIT") == "pi-ddns.service" and int(e.get("PRIORITY", 6)) <= 3]
    assert errors == []


def test_the_runs_saw_each_switch(host: Any) -> None:
    """The loop logs the venv each run is about to use: release N's directory, N+1, N+2, N+1 (the
    rollback), N+2."""
    since, until = step("legacy")["until"] - 1, step("forward")["until"]
    seen = [e["MESSAGE"].removeprefix("hammer: venv -> ")
            for e in journal_entries(host, "pi-ddns-hammer.service", since, until)
            if str(e.get("MESSAGE", "")).startswith("hammer: venv -> ")]
    order = [v for i, v in enumerate(seen) if i == 0 or v != seen[i - 1]]
    nxt, last = step("next")["link"], step("last")["link"]
    assert order == ["directory", nxt, last, nxt, last]


def test_rollback_by_hand_returns_to_the_previous_version() -> None:
    rollback = json.loads((ephemeral_dir() / "upgrade-rollback.json").read_text())
    assert rollback["link"] == step("next")["link"]
    assert rollback["version"] == "pi-ddns 99.0.1"


def test_the_next_run_switches_forward_reusing_the_venv() -> None:
    forward, last = step("forward"), step("last")
    assert forward["rc"] == 0
    assert forward["link"] == last["link"]
    assert forward["version"] == "pi-ddns 99.0.3"
    assert "Dry-run the updater" in forward["stdout"]
    assert "Install the wheelhouse offline" not in forward["stdout"]
    assert switch(forward["stdout"])["removed"] == []


def test_each_venv_on_disk(sudo_host: Any) -> None:
    """A figure: what a kept version costs on the card."""
    print(sudo_host.check_output("du -sk /opt/pi-ddns/venvs/* /opt/pi-ddns/wheelhouse"))
    assert len(sudo_host.file("/opt/pi-ddns/venvs").listdir()) == 2


def test_no_trial_left_its_directory(sudo_host: Any) -> None:
    """Each version's trial (and the broken one's) removed its private directory and token copy."""
    assert sudo_host.run("ls -d /run/pi-ddns-trial.*").stdout == ""
