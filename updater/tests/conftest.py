"""Shared fixtures: the fake Cloudflare + IP sources in-process, a config writer, CLI runners.

Everything talks to real loopback servers (`fakes.server.FakeCloudflare`); nothing of pi_ddns is
mocked. `Env.run([...])` calls `pi_ddns.cli.main` in-process; `Env.spawn([...])` runs
`python -m pi_ddns` in a subprocess (for import checks, journald and exit codes end to end).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fakes.server import FakeCloudflare  # the repo root's package: `pythonpath` in ../../pyproject.toml
from hypothesis import HealthCheck, settings

from pi_ddns import cli, report

# Property tests judge inputs, not speed: on 2 shared cores (CI runs Molecule beside nothing,
# but developers do) Hypothesis's timing checks fail runs that found no bug.
settings.register_profile(
    "pi-ddns", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("pi-ddns")

REPO = Path(__file__).resolve().parents[2]

TOKEN = "test-token-0123456789abcdef"
IP1, IP2, IP3 = "81.2.69.160", "81.2.69.161", "81.2.69.162"
IP6_1, IP6_2 = "2a01:4f8:c0c:1::1", "2a01:4f8:c0c:1::2"
ZONE = "example.com"
NAME = "home.example.com"
MARKER = "managed-by: pi-ddns"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def toml_dumps(data: dict[str, Any]) -> str:
    """Just enough TOML for configs: scalars and arrays first, then one level of tables."""
    lines = [f"{k} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, table in data.items():
        if isinstance(table, dict):
            lines.append(f"\n[{key}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.err.splitlines()


@dataclass
class Env:
    """One test's world: the fake, a config file, a token file, a state path."""

    fake: FakeCloudflare
    tmp: Path
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch
    config_path: Path = field(init=False)
    token_path: Path = field(init=False)
    state_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.config_path = self.tmp / "config.toml"
        self.token_path = self.tmp / "cloudflare-token"
        self.state_path = self.tmp / "state" / "state.json"
        self.state_path.parent.mkdir()
        self.write_token(TOKEN + "\n")
        for var in ("CREDENTIALS_DIRECTORY", "CLOUDFLARE_API_TOKEN", "JOURNAL_STREAM",
                    "PI_DDNS_CONFIG", "CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL"):
            self.monkeypatch.delenv(var, raising=False)
        self.write_config()

    def write_token(self, text: str, mode: int = 0o600) -> None:
        self.token_path.write_text(text)
        self.token_path.chmod(mode)

    def base_config(self) -> dict[str, Any]:
        return {
            "zone": ZONE,
            "records": [NAME],
            "state_file": str(self.state_path),
            "token_file": str(self.token_path),
            "cloudflare": {"api_url": self.fake.api_url, "timeout": 5.0, "retries": 0},
            "ipv4": {"timeout": 2.0, "sources": [{"type": "http", "url": self.fake.url + "/ip"}]},
            # Off here: test_propagate.py turns it on against the fake's nameserver (on, each
            # change would add a line that other tests' exact output does not expect).
            "propagation": {"enabled": False},
        }

    def write_config(self, text: str | None = None, **changes: Any) -> Path:
        """Write the base config with top-level keys replaced (None deletes), or raw text."""
        if text is None:
            data = self.base_config()
            for key, value in changes.items():
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            text = toml_dumps(data)
        self.config_path.write_text(text)
        return self.config_path

    def run(self, args: list[str], *, now: Callable[[], float] | None = None) -> Result:
        """`pi-ddns --config CONFIG ARGS...` in-process through cli.main."""
        self.capsys.readouterr()
        argv = ["--config", str(self.config_path), *args]
        code = cli.main(argv) if now is None else cli.main(argv, now=now)
        out, err = self.capsys.readouterr()
        return Result(code, out, err)

    def spawn(self, args: list[str], *, env: dict[str, str] | None = None,
              python_args: tuple[str, ...] = (), stderr_path: Path | None = None,
              timeout: float = 60, input_text: str | None = None) -> Result:
        """`python -m pi_ddns --config CONFIG ARGS...` in a subprocess (`input_text` on its
        stdin)."""
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("JOURNAL_STREAM", "CLOUDFLARE_API_TOKEN")}
        full_env.update(env or {})
        cmd = [sys.executable, *python_args, "-m", "pi_ddns", "--config", str(self.config_path),
               *args]
        if stderr_path is None:
            done = subprocess.run(cmd, capture_output=True, text=True, env=full_env,
                                  timeout=timeout, check=False, input=input_text)
            return Result(done.returncode, done.stdout, done.stderr)
        with stderr_path.open("w") as err:
            done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                  env=full_env, timeout=timeout, check=False, input=input_text)
        return Result(done.returncode, done.stdout, stderr_path.read_text())

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state_path.read_text())
        return data

    def api_calls(self) -> list[str]:
        """The API request log as "METHOD path" strings."""
        return [f"{r['method']} {r['path']}" for r in self.fake.requests()]

    def calls(self) -> list[str]:
        """The API request log as "METHOD what", what being zones, list or record."""
        out = []
        for r in self.fake.requests():
            path = r["path"].removeprefix("/client/v4")
            what = ("zones" if path == "/zones" else "list" if path.endswith("/dns_records")
                    else "record")
            out.append(f"{r['method']} {what}")
        return out

    def records(self, type: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.fake.records(name=NAME, type=type)
        return found


@pytest.fixture
def fake() -> Iterator[FakeCloudflare]:
    server = FakeCloudflare(ipv4=IP1, ipv6=IP6_1).start()
    try:
        yield server
    finally:
        server.stop()
    # Every request the updater sent, and every answer, matched Cloudflare's OpenAPI spec
    # (../shared/cloudflare/dns-openapi.json; the list stays empty when the file is absent).
    assert server.spec_violations == []


@pytest.fixture
def env(fake: FakeCloudflare, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Env:
    return Env(fake, tmp_path, capsys, monkeypatch)


@pytest.fixture(autouse=True)
def _reset_report() -> Iterator[None]:
    """main() configures the reporter once per run; keep runs independent."""
    yield
    report._Setup.secrets = ()
    report._Setup.journal = False
    report._Setup.level = report.INFO


# Runs main() and prints the imported module names on stdout.
PROBE = ("import json, sys\nfrom pi_ddns.cli import main\ncode = main(sys.argv[1:])\n"
         "print(json.dumps(sorted(sys.modules)))\nsys.exit(code)\n")


def probe(env: Env, *args: str) -> tuple[int, set[str], str]:
    done = subprocess.run([sys.executable, "-c", PROBE, "--config", str(env.config_path), *args],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"})
    modules = set(json.loads(done.stdout.splitlines()[-1])) if done.stdout else set()
    return done.returncode, modules, done.stderr
