"""Issue 12, metrics: the node_exporter textfile, read with prometheus_client's parser and a
strict line checker, through a change, no change, a failure and a recovery."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from conftest import IP1, IP2, NAME, Env
from pi_ddns import metrics, report
from pi_ddns.errors import EX_UNAVAILABLE

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(rf'({_NAME})(\{{{_LABEL}(?:,{_LABEL})*\}})? (-?[0-9]+(?:\.[0-9]+)?)\Z')


def strict(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Check the exposition format line by line, then parse it with prometheus_client.

    Returns {(sample name, labels): value}."""
    assert text.endswith("\n")
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    seen: list[str] = []
    for line in text[:-1].split("\n"):  # the format's line end is \n alone
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in helps, f"two HELP lines for {name}"
            helps[name] = line
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in types, line
            assert kind in ("counter", "gauge"), line
            assert name in helps, f"TYPE before HELP for {name}"
            types[name] = kind
            assert kind != "counter" or name.endswith("_total"), name
            assert name.startswith("pi_ddns_"), name
            seen.append(name)
        else:
            m = _SAMPLE.match(line)
            assert m, f"not a sample line (no timestamps allowed): {line!r}"
            assert m.group(1) == seen[-1], f"{line!r} outside its family"
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def read(env: Env) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    path = env.tmp / "metrics" / "pi_ddns.prom"
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in path.parent.iterdir()) == ["pi_ddns.prom"]  # no temp left
    return strict(path.read_text())


def plain(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
    return {name: v for (name, labels), v in samples.items() if not labels}


def test_series_through_change_failure_and_recovery(env: Env) -> None:
    (env.tmp / "metrics").mkdir()
    env.write_config(metrics_dir=str(env.tmp / "metrics"))
    clock = [1_800_000_000.0]
    old = os.umask(0o077)  # the unit's UMask: the file must still be 0644 for node_exporter
    try:
        assert env.run(["update"], now=lambda: clock[0]).code == 0
    finally:
        os.umask(old)
    s = read(env)
    api = len(env.fake.requests())
    assert api >= 2  # the zone lookup, the list, the create
    assert plain(s) == {
        "pi_ddns_last_run_timestamp_seconds": clock[0],
        "pi_ddns_last_success_timestamp_seconds": clock[0],
        "pi_ddns_last_exit_code": 0,
        "pi_ddns_last_run_duration_seconds": plain(s)["pi_ddns_last_run_duration_seconds"],
        "pi_ddns_changes_total": 1, "pi_ddns_failures_total": 0,
        "pi_ddns_api_requests_total": api}
    assert ("pi_ddns_address_age_seconds", (("name", NAME), ("type", "A"))) in s
    detection = [k for k in s if k[0] == "pi_ddns_detection_seconds"]
    assert [k[1] for k in detection] == [(("family", "ipv4"), ("source", "http 127.0.0.1"))]

    # no change, ten minutes later: the age grows, the counters stay, the state is not written
    state_stat = env.state_path.stat()
    clock[0] += 600
    assert env.run(["update"], now=lambda: clock[0]).code == 0
    s = read(env)
    assert s[("pi_ddns_address_age_seconds", (("name", NAME), ("type", "A")))] == 600
    assert plain(s)["pi_ddns_changes_total"] == 1
    assert plain(s)["pi_ddns_api_requests_total"] == api
    assert env.state_path.stat().st_mtime_ns == state_stat.st_mtime_ns

    env.fake.set_ip(ipv4=IP2)
    clock[0] += 60
    assert env.run(["update"], now=lambda: clock[0]).code == 0
    s = read(env)
    assert plain(s)["pi_ddns_changes_total"] == 2
    assert plain(s)["pi_ddns_api_requests_total"] == len(env.fake.requests())
    assert s[("pi_ddns_address_age_seconds", (("name", NAME), ("type", "A")))] == 0
    success = clock[0]

    env.fake.set_echo("/ip", status=503)
    clock[0] += 60
    assert env.run(["update"], now=lambda: clock[0]).code == EX_UNAVAILABLE
    s = plain(read(env))
    assert s["pi_ddns_last_exit_code"] == EX_UNAVAILABLE
    assert s["pi_ddns_last_run_timestamp_seconds"] == clock[0]
    assert s["pi_ddns_last_success_timestamp_seconds"] == success
    assert s["pi_ddns_failures_total"] == 1
    assert env.run(["update"], now=lambda: clock[0]).code == EX_UNAVAILABLE
    assert plain(read(env))["pi_ddns_failures_total"] == 2

    env.fake.clear_echo()
    clock[0] += 60
    assert env.run(["update"], now=lambda: clock[0]).code == 0
    s = plain(read(env))
    assert (s["pi_ddns_last_exit_code"], s["pi_ddns_last_success_timestamp_seconds"]) == \
        (0, clock[0])
    assert (s["pi_ddns_failures_total"], s["pi_ddns_changes_total"]) == (2, 2)
    assert IP1 not in (env.tmp / "metrics" / "pi_ddns.prom").read_text()  # no address in it


def test_a_damaged_previous_file_restarts_the_counters(env: Env) -> None:
    (env.tmp / "metrics").mkdir()
    env.write_config(metrics_dir=str(env.tmp / "metrics"))
    (env.tmp / "metrics" / "pi_ddns.prom").write_bytes(
        b"pi_ddns_changes_total NaN\npi_ddns_failures_total -5\n\xff\x00garbage\n"
        b"pi_ddns_api_requests_total 1e400\n")
    assert env.run(["update"]).code == 0
    s = plain(read(env))
    assert (s["pi_ddns_changes_total"], s["pi_ddns_failures_total"]) == (1, 0)
    assert s["pi_ddns_api_requests_total"] == len(env.fake.requests())


def test_an_unwritable_metrics_dir_is_one_warning(env: Env) -> None:
    env.write_config(metrics_dir=str(env.tmp / "absent"))
    result = env.run(["update"])
    assert result.code == 0
    assert [ln for ln in result.lines if "the metrics" in ln] == [
        f"pi-ddns: warning: {env.tmp}/absent/pi_ddns.prom: cannot write the metrics (No such "
        "file or directory); the update is not affected"]
    assert [r["content"] for r in env.records("A")] == [IP1]


def test_check_config_rejects_a_relative_metrics_dir(env: Env) -> None:
    env.write_config(metrics_dir="run/pi-ddns")
    result = env.run(["check-config"])
    assert result.code == 78
    assert result.err == (f"pi-ddns: error: {env.config_path}: metrics_dir: 'run/pi-ddns' is "
                          "not an absolute path\n")


PROBE = ("import json, sys\nfrom pi_ddns.cli import main\ncode = main(sys.argv[1:])\n"
         "print(json.dumps(sorted(sys.modules)))\nsys.exit(code)\n")


def test_metrics_add_one_module_to_the_no_change_run(env: Env) -> None:
    """The no-change run with metrics on imports pi_ddns.metrics and nothing else new."""
    (env.tmp / "metrics").mkdir()

    def modules() -> set[str]:
        done = subprocess.run([sys.executable, "-c", PROBE, "--config", str(env.config_path),
                               "update"], capture_output=True, text=True, timeout=60,
                              check=True)
        return set(json.loads(done.stdout.splitlines()[-1]))

    modules()  # the first run creates the record
    without = modules()
    env.write_config(metrics_dir=str(env.tmp / "metrics"))
    with_metrics = modules()
    assert with_metrics - without == {"pi_ddns.metrics"}
    assert (env.tmp / "metrics" / "pi_ddns.prom").exists()


label_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@given(name=label_text, source=label_text, age=st.floats(0, 1e9), took=st.floats(0, 1e3))
def test_any_label_value_parses_back(name: str, source: str, age: float, took: float) -> None:
    run = metrics.Run(1.8e9, 0.5, 0, 0, 0, [(6, f"dns {source}", took)], [("AAAA", name, age)])
    s = strict(metrics.render(run, {}))
    name, source = report.safe(name, 200), report.safe(f"dns {source}", 200)
    assert s[("pi_ddns_address_age_seconds", (("name", name), ("type", "AAAA")))] == \
        round(age, 3)
    assert s[("pi_ddns_detection_seconds", (("family", "ipv6"), ("source", source)))] \
        == round(took, 3)


def test_source_urls_lose_their_path_and_query() -> None:
    assert metrics.source_name("http https://ip.example/x?key=secret") == "http ip.example"
    assert metrics.source_name("trace https://[2606:4700:4700::1111]/cdn-cgi/trace") == \
        "trace 2606:4700:4700::1111"
    assert metrics.source_name("interface eth0") == "interface eth0"



def test_propagation_series_follow_the_last_checked_change(env: Env) -> None:
    """pi_ddns_propagation_{seconds,confirmed}: absent before any check, written by a change's
    check, kept through no-change and failed runs, replaced by the next change's."""
    (env.tmp / "metrics").mkdir()
    assert env.fake.ns is not None
    env.write_config(metrics_dir=str(env.tmp / "metrics"),
                     propagation={"enabled": False, "port": env.fake.ns_port})
    assert env.run(["update"]).code == 0
    assert not [k for k in read(env) if k[0].startswith("pi_ddns_propagation")]
    env.write_config(metrics_dir=str(env.tmp / "metrics"),
                     propagation={"enabled": True, "wait": 1.0, "port": env.fake.ns_port})
    env.fake.set_ip(ipv4=IP2)
    assert env.run(["update"]).code == 0
    s = plain(read(env))
    assert s["pi_ddns_propagation_confirmed"] == 1
    assert 0 <= s["pi_ddns_propagation_seconds"] < 1
    assert env.run(["update"]).code == 0  # no change
    env.fake.set_echo("/ip", status=503)
    assert env.run(["update"]).code == EX_UNAVAILABLE
    kept = plain(read(env))
    assert (kept["pi_ddns_propagation_confirmed"], kept["pi_ddns_propagation_seconds"]) == (
        1, s["pi_ddns_propagation_seconds"])
    env.fake.clear_echo()
    env.fake.ns.configure(stale=True)
    env.fake.set_ip(ipv4=IP1)
    assert env.run(["update"]).code == 0
    s = plain(read(env))
    assert s["pi_ddns_propagation_confirmed"] == 0
    assert 0.4 <= s["pi_ddns_propagation_seconds"] <= 1.1  # its last answer came at ~0.5 s
