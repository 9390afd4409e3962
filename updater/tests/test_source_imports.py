"""Runs import only what they use (issue 13): a Pi 1 pays ~0.25 s of emulated ARM1176 CPU for
http.client alone, and seconds for the SDK's zone and DNS model modules.

The sources that speak no HTTP, as the timer runs them (a subprocess, warm state): a DNS or a
static source never loads the HTTP stack (http.client, email) nor TLS. (HTTP sources need
http.client, which imports ssl itself: they pay the floor's imports.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.server import FakeCloudflare

from conftest import IP1, NAME, TOKEN, ZONE, toml_dumps

PROBE = ("import json, sys\nfrom pi_ddns.cli import main\ncode = main(sys.argv[1:])\n"
         "print(json.dumps(sorted(sys.modules)))\nsys.exit(code)\n")
HTTP_STACK = {"http.client", "email", "email.parser", "ssl", "_ssl"}


@pytest.fixture(scope="module")
def dns_fake() -> Iterator[FakeCloudflare]:
    server = FakeCloudflare(ipv4=IP1, dns_port=0).start()
    try:
        yield server
    finally:
        server.stop()


def sources(fake: FakeCloudflare) -> dict[str, dict[str, object]]:
    return {
        "dns": {"type": "dns", "preset": "opendns", "server": "127.0.0.1",
                "port": fake.dns_port},
        "static": {"type": "static", "address": IP1},
    }


def probe(config: Path) -> tuple[int, set[str], str]:
    done = subprocess.run([sys.executable, "-c", PROBE, "--config", str(config), "update"],
                          capture_output=True, text=True, timeout=60, check=False)
    modules = set(json.loads(done.stdout.splitlines()[-1])) if done.stdout else set()
    return done.returncode, modules, done.stderr


@pytest.mark.parametrize("kind", ["dns", "static"])
def test_no_change_run_without_http_loads_no_http_stack(
        dns_fake: FakeCloudflare, tmp_path: Path, kind: str) -> None:
    source = sources(dns_fake)[kind]
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    config = tmp_path / "config.toml"
    config.write_text(toml_dumps({
        "zone": ZONE, "records": [NAME], "state_file": str(tmp_path / "state.json"),
        "token_file": str(token),
        "cloudflare": {"api_url": dns_fake.api_url, "timeout": 5.0, "retries": 0},
        "ipv4": {"timeout": 2.0, "sources": [source]},
    }))
    assert probe(config)[0] == 0  # the first run syncs the record and writes the state
    code, modules, err = probe(config)
    assert (code, err) == (0, "pi-ddns: info: no change\n")
    assert not modules & HTTP_STACK, f"{kind}: loaded {sorted(modules & HTTP_STACK)}"


def heavy(modules: set[str]) -> list[str]:
    """The SDK's per-product modules (pydantic models built at import): zones and DNS among them."""
    return sorted(m for m in modules if m.startswith(("cloudflare.resources.",
                                                      "cloudflare.types.dns",
                                                      "cloudflare.types.zones")))


def test_api_runs_load_no_sdk_resource_or_model_modules(dns_fake: FakeCloudflare,
                                                        tmp_path: Path) -> None:
    """Every API path (create, cached PATCH, cold list + PATCH, daily reconcile) goes through
    the SDK's client, never its zone/DNS resource layer: about half a cold run on a Pi 1."""
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    state = tmp_path / "state.json"
    config = tmp_path / "config.toml"
    name = "api." + ZONE
    config.write_text(toml_dumps({
        "zone": ZONE, "records": [name], "state_file": str(state), "token_file": str(token),
        "cloudflare": {"api_url": dns_fake.api_url, "timeout": 5.0, "retries": 0},
        "ipv4": {"timeout": 2.0, "sources": [{"type": "http", "url": dns_fake.url + "/ip"}]},
    }))

    def skew() -> None:
        state.unlink()
        for r in dns_fake.records(name=name):
            dns_fake.state.records[r["id"]]["content"] = "81.2.69.162"

    def age() -> None:
        data = json.loads(state.read_text())
        data["last_reconcile"] = "2000-01-01T00:00:00Z"
        state.write_text(json.dumps(data))

    steps = {"create": lambda: None, "cached PATCH": lambda: dns_fake.set_ip(ipv4="81.2.69.161"),
             "cold list + PATCH": skew, "daily reconcile": age}
    for step, before in steps.items():
        before()
        dns_fake.clear_requests()
        code, modules, err = probe(config)
        assert code == 0, err
        assert dns_fake.requests(), step  # the API was called
        assert "cloudflare" in modules
        assert not heavy(modules), f"{step}: {heavy(modules)[:5]}"
