"""Issue 12, metrics on the appliance: the textfile on tmpfs under /run, written by the timer's
service, readable by node_exporter, and served by a real node_exporter from Debian's package.

The node_exporter check needs the package file on the controller (tests never fetch from the
network): `apt-get download prometheus-node-exporter` (the instance's architecture), then
`PI_DDNS_NODE_EXPORTER_DEB=$PWD/prometheus-node-exporter_*.deb`. Without it, that test is
skipped. The binary is unpacked in the instance (`dpkg -x` into /opt, no install: a
DynamicUser= unit has a private /tmp) and run as a transient unit on 127.0.0.1 of the instance,
with only the textfile collector.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

DIR = "/run/pi-ddns/metrics"
PROM = f"{DIR}/pi_ddns.prom"
DEB = os.environ.get("PI_DDNS_NODE_EXPORTER_DEB", "")
UNPACKED = "/opt/pi-ddns-node-exporter-test"
PORT = 9109


def test_metrics_file_is_readable_by_others_and_owned_by_the_service(sudo_host: Any) -> None:
    f = sudo_host.file(PROM)
    assert (f.user, f.group, f.mode) == ("ddns", "ddns", 0o644)


def test_metrics_directory_is_on_tmpfs(host: Any) -> None:
    assert host.check_output(f"findmnt -no FSTYPE -T {DIR}") == "tmpfs"


def test_metrics_file_reports_the_last_run(host: Any) -> None:
    text = host.file(PROM).content_string
    assert "# TYPE pi_ddns_changes_total counter" in text
    assert "pi_ddns_last_exit_code 0" in text.splitlines()


def test_unit_keeps_the_metrics_directory(host: Any) -> None:
    props = host.service("pi-ddns.service").systemd_properties
    assert props["RuntimeDirectory"] == "pi-ddns/metrics"
    assert props["RuntimeDirectoryPreserve"] == "yes"


@pytest.mark.skipif(not DEB, reason="PI_DDNS_NODE_EXPORTER_DEB is not set")
def test_node_exporter_serves_the_series(host: Any) -> None:
    host.ansible("copy", f"src={DEB} dest=/tmp/node-exporter.deb mode=0644",
                 become=True, check=False)
    with host.sudo():
        host.run_test(f"rm -rf {UNPACKED} && dpkg -x /tmp/node-exporter.deb {UNPACKED}")
        host.run("systemctl stop pi-ddns-ne-test.service")
        host.run_test(
            "systemd-run --unit=pi-ddns-ne-test -p DynamicUser=yes "
            f"{UNPACKED}/usr/bin/prometheus-node-exporter --collector.disable-defaults "
            f"--collector.textfile --collector.textfile.directory={DIR} "
            f"--web.listen-address=127.0.0.1:{PORT}")
    try:
        fetch = ("python3 -c \"import urllib.request as u; print(u.build_opener(u.ProxyHandler({}))"
                 f".open('http://127.0.0.1:{PORT}/metrics', timeout=5).read().decode())\"")
        for _ in range(50):
            served = host.run(fetch)
            if served.rc == 0:
                break
            time.sleep(0.2)
        lines = served.stdout.splitlines()
        if not lines:
            with host.sudo():
                print(host.run("journalctl -u pi-ddns-ne-test.service -n 30 --no-pager").stdout)
        assert "node_textfile_scrape_error 0" in lines
        assert "pi_ddns_last_exit_code 0" in lines
        assert any(ln.startswith("pi_ddns_changes_total ") for ln in lines)
        assert any(ln.startswith("pi_ddns_address_age_seconds{") for ln in lines)
    finally:
        with host.sudo():
            host.run("systemctl stop pi-ddns-ne-test.service")
            host.run(f"rm -rf {UNPACKED} /tmp/node-exporter.deb")
