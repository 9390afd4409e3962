"""The locked runtime set: pure wheels only, equal to the pyproject pins, what tests run on."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HERE = Path(__file__).resolve().parent.parent  # updater/
LOCK = HERE / "requirements.lock"
WHEELHOUSE = HERE / ".venv" / "wheelhouse"  # filled by bootstrap-venv.sh
_ENTRY = re.compile(
    r"^# (?P<file>\S+\.whl)\n(?P<name>[a-z0-9-]+)==(?P<version>\S+) \\\n"
    r"    --hash=sha256:(?P<sha>[0-9a-f]{64})$",
    re.MULTILINE,
)
_PURE = re.compile(r"^(?P<dist>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-(py3|py2\.py3)-none-any\.whl$")


@dataclass(frozen=True)
class Entry:
    name: str
    version: str
    sha256: str
    file: str


def lock_entries() -> dict[str, Entry]:
    text = LOCK.read_text()
    entries = {
        m["name"]: Entry(m["name"], m["version"], m["sha"], m["file"])
        for m in _ENTRY.finditer(text)
    }
    # Every requirement line belongs to a parsed entry: nothing slipped past the pattern.
    req_lines = [ln for ln in text.splitlines() if ln and not ln.startswith(("#", " "))]
    assert len(req_lines) == len(entries)
    return entries


def test_lock_holds_only_pure_wheels_with_one_hash_each() -> None:
    entries = lock_entries()
    assert entries
    assert LOCK.read_text().count("--hash=") == len(entries)
    for e in entries.values():
        m = _PURE.match(e.file)
        assert m, f"{e.file} is not a py3-none-any wheel"
        assert canonicalize_name(m["dist"]) == e.name
        assert m["version"] == e.version


def test_lock_has_no_pydantic_core_and_pydantic_1_10() -> None:
    entries = lock_entries()
    assert "pydantic-core" not in entries
    assert entries["pydantic"].version.startswith("1.10.")


def test_pyproject_pins_equal_the_lock() -> None:
    project = tomllib.loads((HERE / "pyproject.toml").read_text())["project"]
    entries = lock_entries()
    for dep in project["dependencies"]:
        req = Requirement(dep)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{dep} is not an exact pin"
        assert entries[canonicalize_name(req.name)].version == spec.version


def test_lock_is_closed_under_dependencies() -> None:
    """Every runtime dependency of every locked package is itself locked (Python 3.11)."""
    entries = lock_entries()
    for name in entries:
        for raw in metadata.requires(name) or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                assert canonicalize_name(req.name) in entries, f"{name} needs {req}"


def test_the_venv_runs_the_locked_versions() -> None:
    """The tests run against exactly the set the Pi gets (bootstrap-venv.sh installs it)."""
    for e in lock_entries().values():
        assert metadata.version(e.name) == e.version, e.name


def test_downloaded_wheels_match_the_lock_hashes() -> None:
    if not WHEELHOUSE.is_dir():
        pytest.skip("no updater/.venv/wheelhouse (run updater/bootstrap-venv.sh)")
    for e in lock_entries().values():
        data = (WHEELHOUSE / e.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e.sha256, e.file


def test_test_requirements_are_pinned() -> None:
    lines = (HERE / "requirements-test.txt").read_text().splitlines()
    reqs = [Requirement(ln) for ln in lines if ln.strip() and not ln.startswith("#")]
    assert reqs
    for req in reqs:
        assert [s.operator for s in req.specifier] == ["=="], str(req)


@pytest.mark.parametrize(
    ("platform", "python"),
    [
        # bookworm (3.11) and trixie (3.13) on every Pi; 3.14 is Debian's next
        ("linux_armv6l", "3.11"),
        ("linux_armv7l", "3.11"),
        ("manylinux2014_x86_64", "3.11"),
        ("linux_armv6l", "3.13"),
        ("linux_armv7l", "3.13"),
        ("manylinux2014_aarch64", "3.13"),
        ("manylinux2014_aarch64", "3.14"),
    ],
)
def test_the_locked_wheels_resolve_offline_for_every_pi(
    platform: str, python: str, tmp_path: Path
) -> None:
    """pip, told it is a Pi 1 (armv6l) etc. with bookworm's or trixie's Python, finds the whole
    locked set in the pure wheelhouse with no index: nothing platform-specific is needed
    anywhere, and no wheel's Requires-Python shuts a shipped Python out."""
    if not WHEELHOUSE.is_dir():
        pytest.skip("no updater/.venv/wheelhouse (run updater/bootstrap-venv.sh)")
    abi = "cp" + python.replace(".", "")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--isolated",
        "--no-index",
        "--find-links",
        str(WHEELHOUSE),
        "--only-binary=:all:",
        "--platform",
        platform,
        "--implementation",
        "cp",
        "--abi",
        abi,
        "--python-version",
        python,
        "--require-hashes",
        "-r",
        str(LOCK),
        "-d",
        str(tmp_path),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        e.file for e in lock_entries().values()
    )
