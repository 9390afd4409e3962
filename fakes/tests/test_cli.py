"""The command line: run as a process, state file across restarts, SIGTERM, and `ctl`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fakes.tests.conftest import call

ROOT = Path(__file__).resolve().parents[2]
PYTHONS = [sys.executable] + (["/usr/bin/python3"] if shutil.which("/usr/bin/python3") else [])


def start(python: str, *args: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
    proc = subprocess.Popen([python, "-m", "fakes", "--port", "0", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=5)


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "fake-state.json"


@pytest.mark.parametrize("python", PYTHONS)
def test_prints_one_json_line_and_stops_on_sigterm(python: str) -> None:
    proc, info = start(python, "--ipv4", "81.2.69.161")
    try:
        assert set(info) == {"url", "api_url", "dns_port", "ns_port", "name_servers", "pid"}
        assert info["name_servers"] == ["127.0.0.1"]  # IP literals of its own nameserver
        assert info["pid"] == proc.pid
        assert str(info["api_url"]) == f"{info['url']}/client/v4"
        assert call(f"{info['url']}/ip").text == "81.2.69.161"
    finally:
        assert stop(proc) == 0


def test_state_survives_a_restart(state_file: Path) -> None:
    proc, info = start(sys.executable, "--state-file", str(state_file), "--zone", "example.org")
    try:
        zones = call(f"{info['api_url']}/zones").json["result"]
        zid = next(z["id"] for z in zones if z["name"] == "example.org")
        rec = call(f"{info['api_url']}/zones/{zid}/dns_records", "POST",
                   {"type": "A", "name": "home", "content": "81.2.69.160", "ttl": 1}).json["result"]
        call(f"{info['url']}/_fake/ip", "PUT", {"ipv4": "81.2.69.162"}, token=None)
    finally:
        stop(proc)
    assert json.loads(state_file.read_text())["records"][0]["id"] == rec["id"]
    proc, info = start(sys.executable, "--state-file", str(state_file))
    try:
        state = call(f"{info['url']}/_fake/state", token=None).json
        assert [r["id"] for r in state["records"]] == [rec["id"]]
        assert zid in [z["id"] for z in state["zones"]]
        assert state["addresses"]["ipv4"] == "81.2.69.162"
        assert "test-token" not in json.dumps(state)
    finally:
        stop(proc)


def test_ctl_client() -> None:
    proc, info = start(sys.executable, "--no-dns")
    url = str(info["url"])

    def ctl(*args: str) -> object:
        out = subprocess.run([sys.executable, "-m", "fakes", "ctl", url, *args], cwd=ROOT, check=True,
                             capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        return json.loads(out.stdout)

    try:
        assert ctl("set-ip", "81.2.69.161", "--ipv6", "2a01:4f8:c0c:1::2") == {
            "addresses": {"ipv4": "81.2.69.161", "ipv6": "2a01:4f8:c0c:1::2"}}
        ctl("seed", '{"name": "home.example.com", "type": "CNAME", "content": "x.example.net"}')
        ctl("fault", '{"method": "GET", "path": "/zones$", "status": 500, "times": 1}')
        assert call(f"{info['api_url']}/zones").status == 500
        counted = ctl("requests")
        assert isinstance(counted, dict)
        assert counted["count"] == 1
        ctl("clear-requests")
        records = ctl("records")
        assert isinstance(records, dict)
        assert [r["type"] for r in records["records"]] == ["CNAME"]
        assert call(f"{url}/_fake/dns", "PUT", {"mode": "nxdomain"}, token=None).status == 409
    finally:
        stop(proc)


def test_a_corrupt_state_file_is_a_clean_error(state_file: Path) -> None:
    state_file.write_text("{not json")
    out = subprocess.run([sys.executable, "-m", "fakes", "--port", "0", "--state-file", str(state_file)],
                         cwd=ROOT, capture_output=True, text=True, timeout=20, check=False,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 1
    assert out.stderr.startswith("fakes: cannot start: JSONDecodeError")
    assert out.stdout == ""
