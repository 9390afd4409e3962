"""The "Pi" a user's own repo converged from the installed collection (converge.yml), then
again from a git install of it (side_effect.yml): the role came from the collection by FQCN, the
Pi got the very wheels the tarball ships, the versions agree, and the record is right."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from appliance_checks import (  # noqa: F401 - shared checks, collected here
    test_service_last_run_succeeded,
    test_status_reports_in_sync,
    test_timer_active,
    test_timer_enabled,
)
from ddns_testlib import FIRST_IPV4, MARKER, Fake, ephemeral_dir

PROJECT = Path(__file__).resolve().parents[3]
VERSION = str(yaml.safe_load((PROJECT / "galaxy.yml").read_text())["version"])
USER_DIR = ephemeral_dir() / "user-repo"
INSTALLED = USER_DIR / "collections" / "ansible_collections" / "pi_ddns" / "appliance"


def _log(name: str) -> str:
    return (USER_DIR / f"run-{name}.log").read_text()


def _task_result(log: str, task: str) -> str:
    """The first result line ("ok:", "changed:", "skipping:") after a task's header."""
    after = log.split(f"TASK [pi_ddns.appliance.ddns : {task}]", 1)[1]
    return next(line.split(":", 1)[0] for line in after.splitlines() if re.match(r"(ok|changed|skipping|fatal):", line))


@pytest.fixture(scope="module")
def tarball() -> Path:
    (path,) = (USER_DIR / "dist").glob("pi_ddns-appliance-*.tar.gz")
    return path


def test_the_tarball_carries_this_version(tarball: Path) -> None:
    assert tarball.name == f"pi_ddns-appliance-{VERSION}.tar.gz"


def test_the_user_playbook_took_the_role_from_the_collection() -> None:
    assert "TASK [pi_ddns.appliance.ddns : " in _log("user-playbook")


def test_the_release_run_built_no_wheelhouse() -> None:
    assert _task_result(_log("user-playbook"), "Build the wheelhouse on the controller") == "skipping"


def test_the_collection_playbook_changed_nothing() -> None:
    log = _log("collection-playbook")
    assert "TASK [pi_ddns.appliance.ddns : " in log
    assert re.findall(r"changed=(\d+)", log) == ["0"]


def test_the_git_install_built_the_wheelhouse_from_source() -> None:
    assert _task_result(_log("git"), "Build the wheelhouse on the controller") in ("ok", "changed")
    assert not (INSTALLED / "roles/ddns/files/wheelhouse").exists()


def test_the_pi_has_the_wheels_the_tarball_ships(sudo_host: Any, tarball: Path) -> None:
    # After the git install's converge too: the wheels built from source are byte-identical.
    with tarfile.open(tarball) as tar:
        shipped = tar.extractfile("roles/ddns/files/wheelhouse/requirements.txt").read().decode()  # type: ignore[union-attr]
    assert sudo_host.file("/opt/pi-ddns/wheelhouse/requirements.txt").content_string == shipped
    assert f"pi-ddns=={VERSION} " in shipped


def test_pi_ddns_version_is_the_collection_version(host: Any) -> None:
    assert host.check_output("/usr/local/bin/pi-ddns --version") == f"pi-ddns {VERSION}"


def test_one_record_on_the_address(fake: Fake) -> None:
    records = fake.records()
    assert [r["content"] for r in records] == [FIRST_IPV4]
    assert MARKER in (records[0].get("comment") or "")
