"""After the removal (test_absent.py): the host is fresh again, and the record is still at
the fake. Then, in order:

1. a first install with a token Cloudflare refuses fails the play with the updater's own
   message, and leaves no enabled or running timer behind (no trial runs on a first install);
2. a first install with good settings makes no trial either: its API requests are those of
   the first sync only;
3. ddns_state: absent with ddns_delete_record: true deletes the record through
   `pi-ddns remove` (the role makes no API call of its own);
4. the same again finds no updater, says so, and changes nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import Any

import pytest
from ddns_testlib import FIRST_IPV4, TIMER, Fake

INVENTORY = os.environ["DDNS_LIFECYCLE_INVENTORY"]
PLAYBOOK = os.environ["DDNS_LIFECYCLE_PLAYBOOK"]


def play(**extra: object) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["ansible-playbook", "-i", INVENTORY, "-e", json.dumps(extra), PLAYBOOK],
                       capture_output=True, text=True, timeout=900, check=False,
                       env={**os.environ, "ANSIBLE_NOCOLOR": "1"})
    print(r.stdout[-2500:])
    return r


def timer(sudo_host: Any) -> tuple[str, str]:
    return (sudo_host.run(f"systemctl is-enabled {TIMER}").stdout.strip(),
            sudo_host.run(f"systemctl is-active {TIMER}").stdout.strip())


@pytest.fixture(scope="module")
def refused(sudo_host: Any) -> subprocess.CompletedProcess[str]:
    assert not sudo_host.file("/etc/pi-ddns").exists, "not a fresh host"
    refused_token = "refused-token-0123456789abcdef"  # noqa: S105 - the fake refuses it
    return play(ddns_state="present", ddns_cloudflare_api_token=refused_token)


def test_first_install_with_a_refused_token_fails_with_the_updaters_message(
        refused: subprocess.CompletedProcess[str]) -> None:
    assert refused.returncode != 0
    assert "token was refused" in re.sub(r"\s+", " ", refused.stdout)
    assert "Dry-run the updater with the candidate settings" not in refused.stdout


def test_first_install_that_failed_leaves_no_timer_running(
        refused: subprocess.CompletedProcess[str], sudo_host: Any) -> None:
    assert timer(sudo_host) in [("disabled", "inactive"), ("disabled", "failed")]


@pytest.fixture(scope="module")
def installed(refused: Any, fake: Fake) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    fake.clear_requests()
    r = play(ddns_state="present")
    return r, fake.requests()


def test_first_install_runs_no_trial(installed: tuple[subprocess.CompletedProcess[str], Any],
                                     sudo_host: Any) -> None:
    r, requests = installed
    assert r.returncode == 0
    assert "Dry-run the updater with the candidate settings" not in r.stdout
    assert timer(sudo_host) == ("enabled", "active")
    api = [f"{q['method']} {q['path']}" for q in requests["requests"]
           if q["path"].startswith("/client/v4/")]
    print(f"API requests of the first install: {len(api)}: {api}")
    # The first sync's zone lookup, list (and a write if needed); a trial would add two more.
    assert len(api) <= 3


@pytest.fixture(scope="module")
def removed(installed: Any, fake: Fake) -> subprocess.CompletedProcess[str]:
    assert [r["content"] for r in fake.records()] == [FIRST_IPV4]
    return play(ddns_state="absent", ddns_delete_record=True)


def test_remove_deletes_the_owned_record(removed: subprocess.CompletedProcess[str],
                                         fake: Fake) -> None:
    assert removed.returncode == 0
    assert re.search(r"TASK \[ddns : Run pi-ddns remove\][^\n]*\nchanged: ", removed.stdout)
    assert fake.records() == []


def test_second_remove_notes_and_changes_nothing(removed: Any) -> None:
    r = play(ddns_state="absent", ddns_delete_record=True)
    assert r.returncode == 0
    assert "no records deleted by this run" in r.stdout
    assert re.search(r"\schanged=0\s", r.stdout)
