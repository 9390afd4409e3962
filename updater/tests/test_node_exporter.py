"""Issue 12, metrics: a real node_exporter (Debian's prometheus-node-exporter) reads the file.

Runs when the binary is on PATH or named by $NODE_EXPORTER, skipped otherwise. Without
installing the package:

    apt-get download prometheus-node-exporter && dpkg -x prometheus-node-exporter_*.deb root
    NODE_EXPORTER=$PWD/root/usr/bin/prometheus-node-exporter pytest tests/test_node_exporter.py

node_exporter listens on loopback only; its textfile collector reports
`node_textfile_scrape_error 1` for a file it cannot parse, and serves our series otherwise.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import IP2, NAME, Env
from pi_ddns.errors import EX_UNAVAILABLE

BINARY = os.environ.get("NODE_EXPORTER") or shutil.which("prometheus-node-exporter") \
    or shutil.which("node_exporter")
pytestmark = pytest.mark.skipif(not BINARY, reason="no node_exporter (set $NODE_EXPORTER)")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    directory = tmp_path / "metrics"
    directory.mkdir()
    port = _free_port()
    assert BINARY
    proc = subprocess.Popen(
        [BINARY, "--collector.disable-defaults", "--collector.textfile",
         f"--collector.textfile.directory={directory}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        for _ in range(100):
            try:
                _OPENER.open(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield url, directory
    finally:
        proc.terminate()
        proc.wait(10)


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with _OPENER.open(url, timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_node_exporter_serves_the_series(env: Env, exporter: tuple[str, Path]) -> None:
    url, directory = exporter
    env.write_config(metrics_dir=str(directory),
                     propagation={"enabled": True, "port": env.fake.ns_port})
    assert env.run(["update"]).code == 0
    env.fake.set_ip(ipv4=IP2)
    assert env.run(["update"]).code == 0
    s = scrape(url)
    assert s[("node_textfile_scrape_error", ())] == 0
    assert s[("pi_ddns_propagation_confirmed", ())] == 1  # the fake's nameserver has it
    assert ("pi_ddns_propagation_seconds", ()) in s
    assert ("pi_ddns_detection_seconds", (("family", "ipv4"), ("source", "http 127.0.0.1"))) in s
    env.fake.set_echo("/ip", status=503)  # a failed detection: no detection series
    assert env.run(["update"]).code == EX_UNAVAILABLE
    s = scrape(url)
    assert s[("node_textfile_scrape_error", ())] == 0
    assert s[("pi_ddns_changes_total", ())] == 2
    assert s[("pi_ddns_failures_total", ())] == 1
    assert s[("pi_ddns_last_exit_code", ())] == EX_UNAVAILABLE
    assert s[("pi_ddns_api_requests_total", ())] == len(env.fake.requests())
    assert ("pi_ddns_address_age_seconds", (("name", NAME), ("type", "A"))) in s
    assert not [k for k in s if k[0] == "pi_ddns_detection_seconds"]
    mtime = [k for k in s if k[0] == "node_textfile_mtime_seconds"]
    assert [dict(k[1])["file"].rsplit("/", 1)[-1] for k in mtime] == ["pi_ddns.prom"]
