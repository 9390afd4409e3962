"""The CLI as the timer runs it: subprocesses, imports, journald lines, status, exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import IP1, IP2, NAME, TOKEN, Env, probe
from pi_ddns import __version__, cli
from pi_ddns.errors import EX_NOPERM, EX_SOFTWARE, EX_TEMPFAIL, EX_UNAVAILABLE, EX_USAGE

SDK = ("cloudflare", "httpx", "pydantic")


def test_no_change_run_imports_no_sdk_and_makes_no_api_call(env: Env) -> None:
    code, modules, _ = probe(env, "update")
    assert code == 0
    assert {"cloudflare", "httpx", "pydantic"} <= modules  # the first run needed the API
    env.fake.clear_requests()
    code, modules, err = probe(env, "update")
    assert (code, err) == (0, "pi-ddns: info: no change\n")
    imported = {m.split(".")[0] for m in modules}
    assert not imported & set(SDK)
    assert not {"pi_ddns.cfapi", "pi_ddns.remove", "pi_ddns.decide", "urllib.request",
                "logging", "argparse", "dataclasses", "subprocess"} & modules
    # pi-ddns's own modules on this path, exactly (settings: the table config validates with)
    assert {m for m in modules if m.startswith("pi_ddns")} == {
        "pi_ddns", "pi_ddns.addresses", "pi_ddns.cfranges", "pi_ddns.cli", "pi_ddns.config",
        "pi_ddns.credential", "pi_ddns.detect", "pi_ddns.errors", "pi_ddns.files",
        "pi_ddns.httpclient", "pi_ddns.report", "pi_ddns.settings", "pi_ddns.state",
        "pi_ddns.update"}
    assert env.fake.requests() == []
    assert env.fake.echo_hits["/ip"] == 1


def test_subprocess_exit_codes_and_summary(env: Env) -> None:
    first = env.spawn(["update"])
    assert first.code == 0
    assert first.err.splitlines()[-1] == f"pi-ddns: notice: created A {NAME} {IP1}"
    env.fake.set_ip(ipv4=IP2)
    assert env.spawn(["update"]).err == f"pi-ddns: notice: updated A {NAME} {IP1} -> {IP2}\n"
    env.fake.set_echo("/ip", body="10.0.0.1")
    failed = env.spawn(["update"])
    assert failed.code == EX_UNAVAILABLE
    assert "10.0.0.1 is a private address" in failed.err
    assert "Traceback" not in failed.err


def test_journald_lines_have_priorities_and_no_timestamps(env: Env, tmp_path: Path) -> None:
    err_file = tmp_path / "stderr"
    err_file.touch()
    st = err_file.stat()
    stream = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
    result = env.spawn(["update"], env=stream, stderr_path=err_file)
    assert result.code == 0
    assert result.err.splitlines() == [
        f"<6>{env.state_path}: no state yet; reconciling with Cloudflare",
        f"<5>created A {NAME} {IP1}",
    ]
    env.fake.set_echo("/ip", status=503)
    result = env.spawn(["update"], env=stream, stderr_path=err_file)
    assert result.err.startswith("<3>no acceptable IPv4 address")


def test_journal_stream_of_another_file_gives_plain_lines(env: Env) -> None:
    result = env.spawn(["update"], env={"JOURNAL_STREAM": "1:2"})
    assert result.err.splitlines()[-1] == f"pi-ddns: notice: created A {NAME} {IP1}"


def test_token_from_credentials_directory(env: Env, tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "cloudflare-token").write_text(TOKEN)
    env.token_path.unlink()
    result = env.spawn(["-v", "update"], env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert result.code == 0
    assert TOKEN not in result.out + result.err


def test_wrong_token_is_77_and_never_printed(env: Env) -> None:
    env.write_token("not-the-right-token-000")
    result = env.spawn(["update"])
    assert result.code == EX_NOPERM
    assert "DNS > Edit" in result.err
    assert "not-the-right-token-000" not in result.err + result.out


# ---- status ----------------------------------------------------------------------------------

def status_json(env: Env) -> tuple[int, dict[str, object]]:
    result = env.run(["status", "--json"])
    data: dict[str, object] = json.loads(result.out)
    assert data["exit_code"] == result.code
    return result.code, data


def test_status_before_any_run(env: Env) -> None:
    code, data = status_json(env)
    assert code == EX_TEMPFAIL
    assert data["message"] == "no update has run yet"
    assert data["detected"] == {"A": IP1}


def test_status_in_sync_makes_no_api_call_and_writes_nothing(env: Env) -> None:
    assert env.run(["update"]).code == 0
    env.fake.clear_requests()
    before = env.state_path.read_bytes()
    code, data = status_json(env)
    assert code == 0
    assert (data["ok"], data["message"]) == (True, "in sync")
    records = data["records"]
    assert isinstance(records, list)
    [record] = records
    assert record["name"] == NAME
    assert record["content"] == IP1
    assert len(record["id"]) == 32
    assert data["last_run"]["message"] == f"created A {NAME} {IP1}"  # type: ignore[index]
    assert env.fake.requests() == []
    assert env.state_path.read_bytes() == before
    human = env.run(["status"])
    assert human.code == 0
    assert "status      ok: in sync" in human.out


def test_status_out_of_sync_and_after_failures(env: Env) -> None:
    assert env.run(["update"]).code == 0
    env.fake.set_ip(ipv4=IP2)
    code, data = status_json(env)
    assert code == EX_TEMPFAIL
    assert data["message"] == f"out of sync: A {NAME} is {IP1}, detected {IP2}"
    env.write_token("revoked-token-0123456789")
    assert env.run(["update"]).code == EX_NOPERM
    code, data = status_json(env)
    assert code == EX_NOPERM
    assert "the API token was refused" in str(data["message"])
    env.fake.set_echo("/ip", body="")
    env.write_token(TOKEN)
    assert env.run(["update"]).code == EX_UNAVAILABLE
    code, data = status_json(env)
    assert code == EX_UNAVAILABLE
    assert data["detected"] == {}


def test_status_needs_no_token(env: Env) -> None:
    assert env.run(["update"]).code == 0
    env.token_path.unlink()
    assert env.run(["status"]).code == 0


# ---- usage, version, bugs --------------------------------------------------------------------

@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["update", "--json"], ["status", "extra"],
                                  ["--config"], ["update", "--bogus"]])
def test_usage_errors_are_64(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == EX_USAGE
    err = capsys.readouterr().err
    assert err.startswith("pi-ddns: error: ")
    assert "usage: pi-ddns" in err


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    assert "check-config" in capsys.readouterr().out
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"pi-ddns {__version__}\n"


def test_console_script() -> None:
    script = shutil.which("pi-ddns", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("pi-ddns is not installed in this venv")
    done = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (0, f"pi-ddns {__version__}\n")


def test_config_options_anywhere(env: Env) -> None:
    path = str(env.config_path)
    assert cli.main(["check-config", "--config", path]) == 0
    assert cli.main([f"--config={path}", "check-config"]) == 0


def test_an_unexpected_exception_is_one_line_and_70(env: Env) -> None:
    result = env.run(["update"], now=lambda: float("nan"))  # a broken clock
    assert result.code == EX_SOFTWARE
    assert result.lines[-1] == ("pi-ddns: error: bug: ValueError: Invalid value NaN (not a "
                                "number) (run with -v for the traceback)")
    assert "Traceback" not in result.err
    verbose = env.run(["-v", "update"], now=lambda: float("nan"))
    assert "pi-ddns: debug: Traceback (most recent call last):" in verbose.err


@pytest.mark.parametrize("warm", [True, False], ids=["patch", "create"])
def test_killed_between_api_write_and_state_write_converges(env: Env, warm: bool) -> None:
    key = f"A {NAME}"
    if warm:
        assert env.run(["update"]).code == 0
        env.fake.set_ip(ipv4=IP2)
    method = "PATCH" if warm else "POST"
    env.fake.add_fault(method=method, path="/dns_records", delay=30, after_apply=True, times=1)
    proc = subprocess.Popen([sys.executable, "-m", "pi_ddns", "--config", str(env.config_path),
                             "update"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        want = IP2 if warm else IP1
        while not any(r["content"] == want for r in env.records()):
            assert time.monotonic() < deadline, "the write never reached the fake"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    cached = json.loads(env.state_path.read_text())["records"] if env.state_path.exists() else {}
    assert cached.get(key, {}).get("content") == (IP1 if warm else None)  # state not written
    env.fake.clear_faults()
    env.fake.clear_requests()
    result = env.run(["update"])
    assert result.code == 0
    assert len(env.records()) == 1
    assert env.state()["records"][key]["content"] == env.records()[0]["content"]
    methods = [r["method"] for r in env.fake.requests()]
    assert "POST" not in methods  # never a duplicate
