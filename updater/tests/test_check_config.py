"""`pi-ddns check-config` as the role runs it on the Ansible controller.

The controller has no venv: the role runs the source tree with the system Python,
`python3 -c 'import sys; sys.path.insert(0, SRC); from pi_ddns.cli import run; run()'
check-config --config FILE --token-stdin`. These tests run exactly that, isolated (`-I -S`: no
site-packages, no environment, no user paths), so a stray import of anything outside the
standard library fails here. The paths the config names (token, state, metrics, ntfy token)
live on the Pi and do not exist on the controller.
"""

from __future__ import annotations

import glob
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pi_ddns
from conftest import TOKEN, Env, toml_dumps
from pi_ddns.errors import EX_CONFIG

SRC = str(Path(pi_ddns.__file__).parents[1])
ROLE_FORM = "import sys; sys.path.insert(0, SRC); from pi_ddns.cli import run; run()"
PROBE = ("import sys, json, atexit; sys.path.insert(0, SRC)\n"
         "atexit.register(lambda: sys.stderr.write('MODULES ' + json.dumps(sorted(sys.modules))"
         " + '\\n'))\nfrom pi_ddns.cli import run; run()\n")
PI = "/nonexistent-on-the-controller"


def pi_config(tmp: Path, **changes: object) -> Path:
    """A config as the role renders it: every path one that exists only on the Pi."""
    data: dict[str, object] = {
        "zone": "example.com", "records": ["home.example.com", "nas.example.com"],
        "token_file": f"{PI}/etc/pi-ddns/cloudflare-token",
        "state_file": f"{PI}/var/lib/pi-ddns/state.json",
        "metrics_dir": f"{PI}/run/pi-ddns/metrics",
        "notify": {"ntfy_url": "https://ntfy.sh/topic",
                   "ntfy_token_file": f"{PI}/etc/pi-ddns/ntfy-token"},
    }
    data.update(changes)
    path = tmp / "config.toml"
    path.write_text(toml_dumps(data))
    return path


def controller(config: Path, stdin: str | bytes, *args: str, code: str = ROLE_FORM,
               python: str = sys.executable) -> subprocess.CompletedProcess[bytes]:
    """The role's command line, with the source tree as SRC and nothing else importable."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run(
        [python, "-I", "-S", "-c", code.replace("SRC", repr(SRC)), "check-config", "--config",
         str(config), "--token-stdin", *args],
        input=data, capture_output=True, timeout=60, check=False, cwd=config.parent, env={})


def test_the_roles_exact_command_validates_a_pi_config(tmp_path: Path) -> None:
    config = pi_config(tmp_path)
    done = controller(config, TOKEN + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == (f"{config}: ok: zone example.com, 2 record(s), IPv4 via 2 "
                                    "source(s); token from --token-stdin\n")
    assert done.stderr == b""
    assert TOKEN.encode() not in done.stdout + done.stderr
    assert not Path(PI).exists()


def test_it_imports_only_the_standard_library_and_pi_ddns(tmp_path: Path) -> None:
    done = controller(pi_config(tmp_path), TOKEN, code=PROBE)
    assert done.returncode == 0, done.stderr
    line = done.stderr.decode().splitlines()[-1]
    modules = json.loads(line.removeprefix("MODULES "))
    foreign = [m for m in modules if m.split(".")[0] not in sys.stdlib_module_names
               and m.split(".")[0] not in ("pi_ddns", "__main__")]
    assert foreign == []
    assert "pi_ddns.cfapi" not in modules
    assert "pi_ddns.update" not in modules


def test_an_import_outside_the_stdlib_would_fail_this_isolation(tmp_path: Path) -> None:
    """The test's own guard: under -I -S the SDK of the venv cannot be imported."""
    done = controller(pi_config(tmp_path), TOKEN,
                      code="import sys; sys.path.insert(0, SRC); import cloudflare")
    assert done.returncode == 1
    assert b"ModuleNotFoundError" in done.stderr


def test_a_config_error_is_78_with_the_usual_one_line(tmp_path: Path) -> None:
    config = pi_config(tmp_path, ttl=5)
    done = controller(config, TOKEN)
    assert done.returncode == EX_CONFIG
    assert done.stdout == b""
    assert done.stderr.decode() == (f"pi-ddns: error: {config}: ttl: must be 1 (automatic) or "
                                    "60..86400, not 5 (only Enterprise zones take 30..59, and "
                                    "pi-ddns does not support it)\n")


@pytest.mark.parametrize(("token", "reason"), [
    ("CHANGE_ME", "the token is still a placeholder"),
    ("<your-token>", "the token is still a placeholder"),
    ("", "the token is empty"),
    (f'"{TOKEN}"', "the token is quoted"),
    (f"CLOUDFLARE_API_TOKEN={TOKEN}", "the token looks like a KEY=value line"),
    (f"{TOKEN} {TOKEN}", "the token contains whitespace or control characters"),
    ("short-0123", "this is not an API token"),
    (TOKEN + "!*", "this is not an API token"),
])
def test_a_bad_token_is_78_and_never_shown(tmp_path: Path, token: str, reason: str) -> None:
    done = controller(pi_config(tmp_path), token + "\n")
    assert done.returncode == EX_CONFIG
    assert done.stdout == b""
    err = done.stderr.decode()
    assert err.startswith(f"pi-ddns: error: --token-stdin: {reason}")
    assert len(err.splitlines()) == 1
    if len(token) >= 8:
        assert token not in err


OLD_PYTHONS = [p for p in (*sorted(glob.glob("/root/.pyenv/versions/3.1[0]*/bin/python3")),
                            *sorted(glob.glob("/root/.pyenv/versions/3.9*/bin/python3")),
                            shutil.which("python3.10"), shutil.which("python3.9"))
               if p and "/shims/" not in p]


@pytest.mark.skipif(not OLD_PYTHONS, reason="no Python older than 3.11 on this machine")
def test_an_old_controller_python_gets_one_line_and_69(tmp_path: Path) -> None:
    """ansible-core 2.14 runs on Python 3.9: tomllib is 3.11's; say so, no traceback."""
    done = controller(pi_config(tmp_path), TOKEN, python=OLD_PYTHONS[0])
    assert done.returncode == 69
    assert done.stdout == b""
    assert re.fullmatch(rb"pi-ddns: error: needs Python 3.11 or later \(for tomllib\), not "
                        rb"3\.(9|10)\.\d+\n", done.stderr), done.stderr


def test_a_huge_stdin_is_refused(tmp_path: Path) -> None:
    done = controller(pi_config(tmp_path), b"a" * 100_000)
    assert done.returncode == EX_CONFIG
    assert b"longer than 4096 bytes" in done.stderr


def test_without_token_stdin_it_looks_where_a_run_looks(env: Env) -> None:
    result = env.run(["check-config"])
    assert result.code == 0
    assert f"token from {env.token_path}" in result.out


FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                              HealthCheck.too_slow], deadline=None)


@FIXTURES_OK
@given(raw=st.binary(max_size=60) | st.text(max_size=60).map(str.encode)
       | st.text("0123456789abcdefXYZ_-", min_size=12, max_size=50).map(str.encode)
       | st.sampled_from([b"change-me", b"XXXXXXXXXXXXXXXXXXXXXXXX", b"your-token-here-please",
                          b"null", (TOKEN + "==").encode(), b"Bearer " + TOKEN.encode()]))
def test_property_stdin_token_has_the_rules_and_messages_of_a_run(
        env: Env, monkeypatch: pytest.MonkeyPatch, raw: bytes) -> None:
    """Whatever bytes: check-config --token-stdin refuses exactly what `update` refuses in a
    token file, with the same reason, and never shows the token."""
    env.fake.reset_faults()
    env.token_path.write_bytes(raw)
    env.token_path.chmod(0o600)
    run = env.run(["update", "--dry-run"])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    check = env.run(["check-config", "--token-stdin"])
    if run.code == EX_CONFIG:
        prefix = f"pi-ddns: error: {env.token_path}: "
        assert run.err.startswith(prefix), run.err
        reason = run.err.splitlines()[-1].removeprefix(prefix)
        assert check.code == EX_CONFIG
        assert check.err == f"pi-ddns: error: --token-stdin: {reason}\n"
    else:
        assert check.code == 0, check.err
    text = raw.decode("ascii", "replace").strip()
    if re.fullmatch(r"[0-9a-fXYZ_-]{12,}", text):  # a run no message has of its own
        assert text not in check.out + check.err + run.out + run.err
