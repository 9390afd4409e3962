"""The collection pi_ddns.appliance: one version, its changelog, and what its tarball holds.

Run: .venv/bin/python -m pytest tests (scripts/test.sh unit). Needs ansible-galaxy and
antsibull-changelog on PATH (requirements-dev.txt).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
# Semantic Versioning 2.0.0's own pattern, as Galaxy requires.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not on PATH (requirements-dev.txt; scripts/bootstrap.sh installs it)")
    return path


def _updater_version() -> str:
    """__version__ as written in the updater's source (read, not imported)."""
    tree = ast.parse((ROOT / "updater/src/pi_ddns/__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__version__" for t in node.targets):
            value = ast.literal_eval(node.value)
            assert isinstance(value, str)
            return value
    raise AssertionError("updater/src/pi_ddns/__init__.py has no __version__")


def test_galaxy_version_is_semantic() -> None:
    assert SEMVER.match(str(GALAXY["version"])), GALAXY["version"]


def test_collection_and_updater_carry_one_version() -> None:
    assert str(GALAXY["version"]) == _updater_version()


def test_the_wheel_takes_its_version_from_the_same_file() -> None:
    # hatchling reads the wheel's version from this file (updater/pyproject.toml).
    project = tomllib.loads((ROOT / "updater/pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["hatch"]["version"]["path"] == "src/pi_ddns/__init__.py"


def test_pi_ddns_version_prints_the_collection_version() -> None:
    # The CLI from this tree's source; its --version path needs only the standard library.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "updater/src")}
    out = subprocess.run(
        [sys.executable, "-m", "pi_ddns", "--version"], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout == f"pi-ddns {GALAXY['version']}\n"


def test_galaxy_names_follow_galaxy_rules() -> None:
    # Lowercase letters, digits and single underscores; no leading digit or underscore.
    for key in ("namespace", "name"):
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", GALAXY[key]), key
    assert (ROOT / "roles/ddns/meta/main.yml").read_text().count(f"namespace: {GALAXY['namespace']}") == 1


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The collection as ansible-galaxy builds it from this tree (as a git install does)."""
    out = tmp_path_factory.mktemp("build")
    subprocess.run(
        [_tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (tarball,) = out.glob("*.tar.gz")
    with tarfile.open(tarball) as tar:
        return tar.getnames()


@pytest.mark.parametrize(
    "path",
    [
        "roles/ddns/tasks/main.yml",
        "roles/ddns/meta/argument_specs.yml",
        "playbooks/site.yml",
        "playbooks/remove.yml",
        "playbooks/rotate_token.yml",
        "playbooks/roles",
        "meta/runtime.yml",
        "changelogs/changelog.yaml",
        "README.md",
        "docs/collection.md",
        "updater/wheelhouse.sh",
        "updater/requirements.lock",
        "updater/pyproject.toml",
        "updater/src/pi_ddns/cli.py",
    ],
)
def test_the_collection_holds_what_a_user_needs(built: list[str], path: str) -> None:
    assert path in built


# Every entry's first path component; anything else is development or test material.
SHIPPED_TOP = {
    "MANIFEST.json", "FILES.json", "README.md", "CHANGELOG.md",
    "roles", "playbooks", "meta", "docs", "changelogs", "updater", "inventory.example",
}  # fmt: skip
LEFT_OUT = re.compile(
    r"(^|/)(tests?|molecule|fakes|bench|fragments|__pycache__|\.venv|\.cache|\.[a-z_]+_cache)(/|$)|\.pyc$|\.egg-info"
)


def test_the_collection_holds_nothing_for_development(built: list[str]) -> None:
    assert {n.split("/", 1)[0] for n in built} <= SHIPPED_TOP
    assert [n for n in built if LEFT_OUT.search(n)] == []


def test_playbook_names_are_valid_collection_resource_names() -> None:
    # ansible-playbook NS.NAME.PLAYBOOK takes Python identifiers only (no '-').
    for playbook in (ROOT / "playbooks").glob("*.yml"):
        assert playbook.stem.isidentifier(), playbook.name


def test_fragments_become_the_release_changelog(tmp_path: Path) -> None:
    """antsibull-changelog turns every fragment into an entry of this version's release."""
    shutil.copytree(ROOT / "changelogs", tmp_path / "changelogs", ignore=shutil.ignore_patterns(".plugin-cache.yaml"))
    shutil.copy(ROOT / "galaxy.yml", tmp_path)
    entries = []
    for fragment in sorted((ROOT / "changelogs/fragments").glob("*.yml")):
        for section, items in (yaml.safe_load(fragment.read_text()) or {}).items():
            entries += [(section, item) for item in ([items] if isinstance(items, str) else items)]
    version = str(GALAXY["version"])
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    subprocess.run([_tool("antsibull-changelog"), "lint"], cwd=tmp_path, env=env, check=True)
    subprocess.run(
        [_tool("antsibull-changelog"), "release", "--version", version, "--date", "2026-01-01"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    release = yaml.safe_load((tmp_path / "changelogs/changelog.yaml").read_text())["releases"][version]
    changes = release.get("changes", {})
    for section, item in entries:
        if section == "release_summary":
            assert changes[section] == item
        else:
            assert item in changes[section], (section, item)
    assert not list((tmp_path / "changelogs/fragments").glob("*.yml"))
    assert f"v{version}".replace(".", "\\.") in (tmp_path / "CHANGELOG.md").read_text()


def test_release_manifest_repack_is_self_consistent(tmp_path: Path) -> None:
    """scripts/repack.py keeps MANIFEST.json's checksum of FILES.json true (ansible-galaxy checks it)."""
    out = tmp_path / "build"
    subprocess.run(
        [_tool("ansible-galaxy"), "collection", "build", "--output-path", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (tarball,) = out.glob("*.tar.gz")
    repacked = tmp_path / tarball.name
    subprocess.run(
        [sys.executable, str(ROOT / "scripts/repack.py"), "1700000000", str(tarball), str(repacked)], check=True
    )
    with tarfile.open(repacked) as tar:
        names = tar.getnames()
        assert names[:2] == ["MANIFEST.json", "FILES.json"]
        assert names[2:] == sorted(names[2:])
        assert {m.mtime for m in tar.getmembers()} == {1700000000}
        manifest = json.loads(tar.extractfile("MANIFEST.json").read())  # type: ignore[union-attr]
        files_json = tar.extractfile("FILES.json").read()  # type: ignore[union-attr]

    assert manifest["file_manifest_file"]["chksum_sha256"] == hashlib.sha256(files_json).hexdigest()
    installed = tmp_path / "installed"
    subprocess.run(
        [_tool("ansible-galaxy"), "collection", "install", "--force", "-p", str(installed), str(repacked)],
        check=True,
        capture_output=True,
    )
    assert (installed / "ansible_collections/pi_ddns/appliance/roles/ddns/tasks/main.yml").is_file()


def test_the_release_ships_the_wheels_once(tmp_path: Path) -> None:
    """make release: the wheels only inside roles/ddns/files/wheelhouse.tar (the role unpacks that
    on the Pi), beside it the manifest alone, which the role reads and hashes."""
    subprocess.run([str(ROOT / "scripts/release.sh"), str(tmp_path)], check=True, capture_output=True)
    (tarball,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        inner = tar.extractfile("roles/ddns/files/wheelhouse.tar")
        assert inner is not None
        with tarfile.open(fileobj=inner) as wheelhouse:
            shipped = wheelhouse.getnames()
    assert [n for n in names if n.endswith(".whl")] == []
    assert [n for n in names if n.startswith("roles/ddns/files/wheelhouse/")] == [
        "roles/ddns/files/wheelhouse/requirements.txt"]
    assert "requirements.txt" in shipped
    assert any(n.startswith("pi_ddns-") and n.endswith(".whl") for n in shipped)
