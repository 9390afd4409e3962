"""wheelhouse.sh's build cache: a build is reused exactly when none of its inputs changed.

The real script runs on a copy of the updater's inputs (pyproject.toml, requirements.lock, src/,
wheelhouse.sh). The controller's Python is a stand-in whose `-m pip` logs its arguments and writes
wheels derived from what it was given (the lock, the source tree), so the tests see whether pip
ran, offline; everything else (`-c`) is the real interpreter. pip's version comes from an
importable pip-X.dist-info, which the tests can change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

UPDATER = Path(__file__).resolve().parent.parent

# `python -m pip download|wheel ...` as wheelhouse.sh calls it: log, then write what the real pip
# would write (universal wheels; their bytes depend on the lock and on the source tree).
FAKE_PIP = r'''
import hashlib, os, pathlib, sys
args = sys.argv[1:]
with open(os.environ["FAKE_PIP_LOG"], "a") as log:
    log.write(" ".join(args) + "\n")
cmd = [a for a in args if not a.startswith("-")][0]
out = pathlib.Path(args[args.index("-d" if cmd == "download" else "-w") + 1])
out.mkdir(parents=True, exist_ok=True)
if cmd == "download":
    lock = pathlib.Path(args[args.index("-r") + 1]).read_bytes()
    (out / "dep-1.0-py3-none-any.whl").write_bytes(hashlib.sha256(lock).digest())
else:
    src = pathlib.Path(args[-1])
    h = hashlib.sha256()
    for f in sorted(src.rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(src)).encode() + f.read_bytes())
    (out / "pi_ddns-0.1.0-py3-none-any.whl").write_bytes(h.digest())
'''

INPUTS = ["pyproject.toml", "requirements.lock", "wheelhouse.sh"]


class Controller:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.src = root / "updater"
        self.out = root / "cache" / "wheelhouse"
        self.log = root / "pip.log"
        shutil.copytree(UPDATER / "src", self.src / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in INPUTS:
            shutil.copy2(UPDATER / name, self.src / name)
        fake = root / "fakepy"
        fake.mkdir()
        (fake / "fake_pip.py").write_text(FAKE_PIP)
        self.pip_meta = root / "site"
        self.set_pip_version("24.0")
        self.python = fake / "python"
        self.python.write_text(
            "#!/bin/sh\n"
            'if [ "$1" = -m ] && [ "$2" = pip ]; then shift 2; '
            f'exec {sys.executable} {fake / "fake_pip.py"} "$@"; fi\n'
            f'PYTHONPATH={self.pip_meta} exec {sys.executable} "$@"\n')
        self.python.chmod(0o755)

    def set_pip_version(self, version: str) -> None:
        shutil.rmtree(self.pip_meta, ignore_errors=True)
        meta = self.pip_meta / f"pip-{version}.dist-info"
        meta.mkdir(parents=True)
        (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: pip\nVersion: {version}\n")

    def build(self, *, may_fail: bool = False) -> tuple[list[str], int]:
        """Run wheelhouse.sh; returns its stdout lines and how many times pip ran (-1: the
        script failed, allowed only with `may_fail`)."""
        before = self.log.read_text().count("\n") if self.log.exists() else 0
        env = {**os.environ, "PYTHON": str(self.python), "FAKE_PIP_LOG": str(self.log)}
        done = subprocess.run(["bash", str(self.src / "wheelhouse.sh"), str(self.out)], env=env,
                              capture_output=True, text=True, check=False, timeout=60)
        if may_fail and done.returncode != 0:
            return done.stdout.splitlines(), -1
        assert done.returncode == 0, done.stderr
        after = self.log.read_text().count("\n") if self.log.exists() else 0
        return done.stdout.splitlines(), after - before


@pytest.fixture
def ctl(tmp_path: Path) -> Controller:
    c = Controller(tmp_path)
    lines, pip_runs = c.build()
    assert pip_runs == 2, lines  # the first build downloads and builds
    return c


def input_files(c: Controller) -> list[Path]:
    sources = [p for p in (c.src / "src").rglob("*") if p.is_file()]
    return sorted([c.src / n for n in INPUTS] + sources)


def test_an_unchanged_rerun_runs_no_pip_and_changes_nothing(ctl: Controller) -> None:
    before = {p.name: p.read_bytes() for p in ctl.out.iterdir()}
    lines, pip_runs = ctl.build()
    assert pip_runs == 0
    assert lines[-1].startswith(f"wheelhouse: unchanged {ctl.out} ")
    assert " cached " in lines[-1]
    assert {p.name: p.read_bytes() for p in ctl.out.iterdir()} == before


def test_the_build_directory_holds_what_dir_holds(ctl: Controller) -> None:
    lines, _ = ctl.build()
    build = Path(lines[-2].removeprefix("wheelhouse: build "))
    assert sorted(p.name for p in build.iterdir()) == sorted(p.name for p in ctl.out.iterdir())
    for p in build.iterdir():
        assert p.read_bytes() == (ctl.out / p.name).read_bytes()
    assert "pi-ddns==0.1.0" in (build / "requirements.txt").read_text()


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_byte_of_any_input_rebuilds(ctl: Controller, data: st.DataObject) -> None:
    files = [p for p in input_files(ctl) if p.stat().st_size > 0]
    target = data.draw(st.sampled_from(files), label="file")
    raw = bytearray(target.read_bytes())
    at = data.draw(st.integers(0, len(raw) - 1), label="offset")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != raw[at]), label="byte")
    old = raw[at]
    raw[at] = new
    target.write_bytes(bytes(raw))
    try:
        # A mutated wheelhouse.sh or pyproject.toml may no longer run or parse: a failed build
        # is fine, a build served from the cache is not.
        _, pip_runs = ctl.build(may_fail=True)
        assert pip_runs in {2, -1}, f"{target.relative_to(ctl.src)} byte {at} changed, no rebuild"
    finally:
        raw[at] = old
        target.write_bytes(bytes(raw))
    # Back to the original source: its build is still in the cache.
    _, pip_runs = ctl.build()
    assert pip_runs == 0


def test_a_new_source_file_rebuilds(ctl: Controller) -> None:
    (ctl.src / "src" / "pi_ddns" / "extra.py").write_text("X = 1\n")
    lines, pip_runs = ctl.build()
    assert pip_runs == 2
    assert lines[-1].startswith("wheelhouse: changed ")


def test_a_new_pip_rebuilds(ctl: Controller) -> None:
    ctl.set_pip_version("25.1")
    _, pip_runs = ctl.build()
    assert pip_runs == 2


@pytest.mark.parametrize(
    "path", ["src/pi_ddns/__pycache__/cli.cpython-311.pyc", "tests/test_x.py", "README.md"])
def test_what_does_not_go_into_the_wheel_does_not_rebuild(ctl: Controller, path: str) -> None:
    f = ctl.src / path
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(b"not an input")
    _, pip_runs = ctl.build()
    assert pip_runs == 0


def test_a_failed_build_leaves_no_entry_and_the_next_run_builds(ctl: Controller) -> None:
    (ctl.src / "requirements.lock").write_text("# changed\n")
    env = {**os.environ, "PYTHON": str(ctl.python), "FAKE_PIP_LOG": "/nonexistent/dir/log"}
    done = subprocess.run(["bash", str(ctl.src / "wheelhouse.sh"), str(ctl.out)], env=env,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode != 0
    _, pip_runs = ctl.build()
    assert pip_runs == 2
