"""Runs import only what they use (issue 13): a Pi 1 pays ~0.25 s of emulated ARM1176 CPU for
http.client alone, and seconds for the SDK's zone and DNS model modules.

The sources that speak no HTTP, as the timer runs them (a subprocess, warm state): a DNS or a
static source never loads the HTTP stack (http.client, email) nor TLS. (HTTP sources need
http.client, which imports ssl itself: they pay the floor's imports.)
"""

from __future__ import annotations

import json
import os
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


# Records every CA file or directory an SSL context is given, then runs the CLI.
TLS_PROBE = ("import json, ssl, sys\ncalls = []\norig = ssl.SSLContext.load_verify_locations\n"
             "def spy(self, cafile=None, capath=None, cadata=None):\n"
             "    calls.append([str(cafile), str(capath)])\n"
             "    return orig(self, cafile, capath, cadata)\n"
             "ssl.SSLContext.load_verify_locations = spy\n"
             "from pi_ddns.cli import main\ncode = main(sys.argv[1:])\n"
             "print(json.dumps(calls))\nsys.exit(code)\n")


@pytest.mark.parametrize("path", ["cold", "cached PATCH"])
def test_api_runs_parse_no_ca_bundle(dns_fake: FakeCloudflare, tmp_path: Path,
                                     path: str) -> None:
    """The SDK's client gets the lazily-looking-up TLS context of the address sources, never
    httpx's default, which parses certifi's whole bundle (0.65 s per API run on a Pi 1)."""
    import certifi

    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    config = tmp_path / "config.toml"
    config.write_text(toml_dumps({
        "zone": ZONE, "records": ["tls." + ZONE], "state_file": str(tmp_path / "state.json"),
        "token_file": str(token),
        "cloudflare": {"api_url": dns_fake.api_url, "timeout": 5.0, "retries": 0},
        "ipv4": {"timeout": 2.0, "sources": [{"type": "http", "url": dns_fake.url + "/ip"}]},
    }))
    env = {k: v for k, v in os.environ.items()
           if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    argv = [sys.executable, "-c", TLS_PROBE, "--config", str(config), "update"]
    if path == "cached PATCH":
        assert subprocess.run(argv, env=env, capture_output=True, check=False).returncode == 0
        dns_fake.set_ip(ipv4="81.2.69.163")
    dns_fake.clear_requests()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert dns_fake.requests()  # the API was called
    files = [cafile for cafile, _ in json.loads(done.stdout.splitlines()[-1])]
    assert certifi.where() not in files
    dns_fake.set_ip(ipv4=IP1)
