"""A Pi without python3-venv (and, second, without python3-apt too) and without a
reachable package index: the play fails in preflight with a message that names the
package and the command that fixes it, and the host keeps nothing of pi-ddns. A Python
outside the tested range (3.11-3.13) is refused the same way."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ddns_testlib import SERVICE, TIMER

TASK = "Check that the host can get python3-venv"
LEFTOVERS = [
    "/opt/pi-ddns",
    "/etc/pi-ddns",
    "/var/lib/pi-ddns",
    "/usr/local/bin/pi-ddns",
    f"/etc/systemd/system/{SERVICE}",
    f"/etc/systemd/system/{TIMER}",
]


def run_play(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["PREFLIGHT_INVENTORY"], *args, os.environ["PREFLIGHT_PLAYBOOK"]],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )


def assert_nothing_created(sudo_host: Any) -> None:
    assert not sudo_host.user("ddns").exists
    assert [p for p in LEFTOVERS if sudo_host.file(p).exists] == []


@pytest.mark.parametrize(("version", "advice"), [
    ("3.10", "Reflash the card with a current Raspberry Pi OS."),
    ("3.14", "Use Raspberry Pi OS trixie (Python 3.13) until pi-ddns is tested on this Python."),
])
def test_python_outside_the_tested_range_is_refused(
    sudo_host: Any, version: str, advice: str, tmp_path: Path
) -> None:
    """side_effect.yml's /usr/local/bin/python-as-X.Y: the system's Python, reporting X.Y.

    Set for the Pi alone, as a host var in a second inventory: an extra var (-e) would also
    replace the controller's Python of the role's controller-side check."""
    inventory = json.loads(subprocess.run(
        ["ansible-inventory", "-i", os.environ["PREFLIGHT_INVENTORY"], "--list"],
        capture_output=True, text=True, timeout=60, check=True).stdout)
    pis = [h for h in inventory["_meta"]["hostvars"] if h != "localhost"]
    overlay = tmp_path / "python.yml"
    overlay.write_text(json.dumps({"all": {"hosts": {
        pi: {"ansible_python_interpreter": f"/usr/local/bin/python-as-{version}"} for pi in pis}}}))
    r = run_play("-i", str(overlay))
    print(r.stdout[-800:])
    assert r.returncode != 0
    tested = "pi-ddns is tested on Python 3.11 to 3.13 (Raspberry Pi OS bookworm and trixie)"
    assert f"{tested}; this host has {version}.0." in r.stdout
    assert advice in r.stdout
    assert_nothing_created(sudo_host)


@pytest.fixture(scope="module")
def without_venv(sudo_host: Any) -> subprocess.CompletedProcess[str]:
    assert sudo_host.run("/usr/bin/python3 -c 'import ensurepip'").rc != 0, "side effect did not remove it"
    return run_play()


@pytest.fixture(scope="module")
def without_venv_and_apt(sudo_host: Any, without_venv: Any) -> subprocess.CompletedProcess[str]:
    sudo_host.check_output("dpkg --purge python3-apt")
    return run_play()


def test_play_fails_in_preflight(without_venv: subprocess.CompletedProcess[str]) -> None:
    print(without_venv.stdout[-1500:])
    assert without_venv.returncode != 0
    assert f"TASK [ddns : {TASK}]" in without_venv.stdout
    assert "fatal:" in without_venv.stdout.split(f"TASK [ddns : {TASK}]")[1]


def test_message_names_the_package_and_the_fix(without_venv: subprocess.CompletedProcess[str]) -> None:
    assert "Debian package python3-venv" in without_venv.stdout
    assert "run: sudo apt install python3-venv -- then" in without_venv.stdout


def test_nothing_was_created(without_venv: Any, sudo_host: Any) -> None:
    assert_nothing_created(sudo_host)


def test_without_python3_apt_the_fix_names_it_too(without_venv_and_apt: subprocess.CompletedProcess[str]) -> None:
    print(without_venv_and_apt.stdout[-800:])
    assert without_venv_and_apt.returncode != 0
    assert "nor python3-apt" in without_venv_and_apt.stdout
    assert "run: sudo apt install python3-venv python3-apt -- then" in without_venv_and_apt.stdout


def test_nothing_was_created_without_python3_apt(without_venv_and_apt: Any, sudo_host: Any) -> None:
    assert_nothing_created(sudo_host)
