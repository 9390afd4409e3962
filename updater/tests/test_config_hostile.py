"""Fault classes 6 (config part), 7 and 10 (api_url): a hostile or careless config is 78.

- any TOML document built from the real keys with arbitrary values, and any bytes at all as the
  config file: `check-config` exits 0 or 78, never 70, never a traceback;
- deep nesting, NUL bytes in paths, state_file "." or a directory name, huge files: 78;
- a config, token_file or state that is a FIFO, a device or a directory is refused at once with
  its own message (a FIFO used to hang the run forever), and nothing is read unbounded;
- TTL is 1 or 60..86400 (Cloudflare's rule), the zone a real domain name;
- an http:// api_url is refused unless it is loopback or allow_http is set.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Env, toml_dumps, toml_value
from pi_ddns import config, files
from pi_ddns.errors import EX_CONFIG, ConfigError

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.booleans(), st.integers(), st.floats(), st.text(max_size=40),
                    st.sampled_from(["", ".", "/", "..", "a\x00b", "http://10.0.0.1/",
                                     "*.example.com", "https://[::1", "/dev/zero", "1e999",
                                     "\x1b[2J", "ftp://x/", "example.com."]))
values: Any = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=8)
TOP = ["zone", "records", "ttl", "proxied", "adopt", "comment_marker", "state_file",
       "max_cache_age", "token_file", "healthcheck_url"]
NESTED = {"cloudflare": ["api_url", "timeout", "retries", "allow_http"],
          "ipv4": ["enabled", "policy", "agree", "allow_nonglobal", "timeout", "sources"],
          "ipv6": ["enabled", "policy", "agree", "allow_nonglobal", "timeout", "sources"]}
SOURCE_KEYS = ["url", "server", "name", "rrtype", "rrclass", "port", "preset", "argv", "address"]
source_tables = st.fixed_dictionaries(
    {"type": st.sampled_from(["trace", "http", "dns", "interface", "command", "static", "x"])},
    optional=dict.fromkeys(SOURCE_KEYS, values))


def check_config(env: Env) -> tuple[int, str]:
    result = env.run(["check-config"])
    return result.code, result.err


def assert_78_or_0(code: int, err: str) -> None:
    assert code in (0, EX_CONFIG), err
    assert "Traceback" not in err
    assert "bug:" not in err


@fixture_ok
@given(st.dictionaries(st.sampled_from(TOP), values, max_size=4),
       st.sampled_from(sorted(NESTED)), st.data())
def test_property_any_config_values_give_0_or_78(env: Env, top: dict[str, Any], table: str,
                                                 data: st.DataObject) -> None:
    doc = env.base_config()
    doc.update(top)
    key = data.draw(st.sampled_from(NESTED[table]))
    value = data.draw(st.lists(source_tables, max_size=3) if key == "sources" else values)
    doc.setdefault(table, {})[key] = value
    try:
        text = toml_dumps(doc)
    except TypeError:
        return
    env.write_config(text)
    assert_78_or_0(*check_config(env))


@fixture_ok
@given(st.binary(max_size=2000))
def test_property_any_bytes_as_the_config_give_0_or_78(env: Env, raw: bytes) -> None:
    env.config_path.write_bytes(raw)
    code, err = check_config(env)
    assert code == EX_CONFIG  # random bytes never make a zone and records
    assert "Traceback" not in err
    assert all(line.isprintable() for line in err.splitlines())


@fixture_ok
@given(st.integers(-(2 ** 70), 2 ** 70) | st.integers(0, 100))
def test_property_ttl_is_1_or_60_to_86400(env: Env, ttl: int) -> None:
    env.write_config(ttl=ttl)
    code, err = check_config(env)
    assert code == (0 if ttl == 1 or 60 <= ttl <= 86400 else EX_CONFIG), err


NESTING = 20_000


@pytest.mark.parametrize(("name", "text", "why"), [
    ("arrays nested 20,000 deep", "zone = \"example.com\"\nx = " + "[" * NESTING
     + "]" * NESTING + "\n", "nested too deeply"),
    ("inline tables nested deep", "x = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n",
     "nested too deeply"),
    ("NUL byte in state_file", None, "state_file: contains a NUL byte"),
    ("state_file is .", None, "state_file: '.' does not name a state file"),
    ("state_file ends in /", None, "does not name a state file"),
    ("NUL byte in token_file", None, "token_file: contains a NUL byte"),
    ("wildcard zone", None, "zone: '*.example.com' is not a domain name"),
    ("one-label zone", None, "zone: 'com' is not a domain name"),
    ("zone with underscore", None, "is not a domain name"),
    ("numeric zone", None, "is not a domain name"),
    ("TTL 30 (Enterprise only)", None, "only Enterprise zones take 30..59"),
    ("non-ASCII healthcheck URL", None, "must be ASCII"),
])
def test_config_attacks_are_78(env: Env, name: str, text: str | None, why: str) -> None:
    changes: dict[str, Any] = {
        "NUL byte in state_file": {"state_file": "/var/lib/a\x00b"},
        "state_file is .": {"state_file": "."},
        "state_file ends in /": {"state_file": str(env.tmp) + "/"},
        "NUL byte in token_file": {"token_file": "/etc/a\x00b"},
        "wildcard zone": {"zone": "*.example.com", "records": ["a.example.com"]},
        "one-label zone": {"zone": "com", "records": ["a.com"]},
        "zone with underscore": {"zone": "ex_ample.com", "records": ["ex_ample.com"]},
        "numeric zone": {"zone": "1.2.3.4", "records": ["1.2.3.4"]},
        "TTL 30 (Enterprise only)": {"ttl": 30},
        "non-ASCII healthcheck URL": {"healthcheck_url": "https://hc.example/\u00e9"},
    }.get(name, {})
    if text is None:
        env.write_config(**changes)
    else:
        env.write_config(text)
    code, err = check_config(env)
    assert code == EX_CONFIG
    assert why in err
    assert len(err.splitlines()) == 1


# ---- files that are not regular files (class 7) ---------------------------------------------

def spawn(env: Env, *args: str, config_path: str | None = None) -> subprocess.CompletedProcess[str]:
    """python -m pi_ddns in a subprocess, under 512 MB of address space and a 20 s watchdog."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))

    cmd = [sys.executable, "-m", "pi_ddns", "--config", config_path or str(env.config_path),
           *args]
    environ = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM",)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False,
                          preexec_fn=limit, env=environ)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("command", ["check-config", "update", "status"])
@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "directory"])
def test_a_config_that_is_not_a_regular_file_is_refused_at_once(
        env: Env, fifo: Path, command: str, target: str) -> None:
    path = {"fifo": str(fifo), "directory": str(env.tmp)}.get(target, target)
    done = spawn(env, command, config_path=path)
    assert done.returncode == EX_CONFIG, done.stderr
    assert "refusing the config" in done.stderr
    assert "not a regular file" in done.stderr


@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "directory"])
def test_a_token_file_that_is_not_a_regular_file_is_refused_at_once(
        env: Env, fifo: Path, target: str) -> None:
    path = {"fifo": str(fifo), "directory": str(env.tmp / "tokdir")}.get(target, target)
    if target == "directory":
        Path(path).mkdir()
    env.write_config(token_file=path)
    done = spawn(env, "update")
    assert done.returncode == EX_CONFIG, done.stderr
    assert "refusing the token file" in done.stderr


def test_a_huge_config_is_refused_without_reading_it_all(env: Env) -> None:
    with env.config_path.open("a") as f:
        f.write("# " + "x" * (4 << 20) + "\n")
    done = spawn(env, "check-config")
    assert done.returncode == EX_CONFIG
    assert f"larger than {config.MAX_CONFIG} bytes" in done.stderr


def test_read_regular_never_blocks_and_is_bounded(tmp_path: Path, fifo: Path) -> None:
    for path in (fifo, Path("/dev/zero"), Path("/dev/null"), tmp_path):
        with pytest.raises(files.FileRefused):
            files.read_regular(path, 10)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 11)
    with pytest.raises(files.FileRefused, match="larger than 10"):
        files.read_regular(big, 10)
    assert files.read_regular(big, 11) == b"x" * 11
    with pytest.raises(FileNotFoundError):
        files.read_regular(tmp_path / "absent", 10)


# ---- http:// api_url (class 10) ---------------------------------------------------------------

@pytest.mark.parametrize(("url", "allow", "code", "said"), [
    ("http://10.213.0.1:8080/client/v4", False, EX_CONFIG, "would send the token unencrypted"),
    ("http://api.example.net/client/v4", False, EX_CONFIG, "set [cloudflare] allow_http"),
    ("http://10.213.0.1:8080/client/v4", True, 0, "the token crosses the network unencrypted"),
    ("http://127.0.0.1:8080/client/v4", False, 0, ""),
    ("http://[::1]:8080/client/v4", False, 0, ""),
    ("http://localhost:8080/client/v4", False, 0, ""),
    ("https://api.cloudflare.com/client/v4", False, 0, ""),
])
def test_an_http_api_url_needs_loopback_or_allow_http(env: Env, url: str, allow: bool,
                                                      code: int, said: str) -> None:
    cf: dict[str, Any] = {"api_url": url}
    if allow:
        cf["allow_http"] = True
    env.write_config(cloudflare=cf)
    got, err = check_config(env)
    assert got == code, err
    assert said in err
    if not said:
        assert err == ""


def test_toml_value_round_trips_a_nul() -> None:
    """The helper writes NUL as \\u0000, which TOML reads back as a NUL character."""
    with pytest.raises(ConfigError, match="NUL"):
        config.parse(f"zone = \"example.com\"\nrecords = [\"example.com\"]\n"
                     f"state_file = {toml_value('a' + chr(0))}\n", Path("c.toml"))
