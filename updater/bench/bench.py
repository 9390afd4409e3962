"""Benchmark the updater's timer runs against the fake Cloudflare; prints one table.

    updater/.venv/bin/python -m updater.bench.bench [--runs N]     (from the repo root)

Each case runs the installed `pi-ddns` console script (or `python -m pi_ddns`) in a fresh
subprocess N times and reports medians: wall time, CPU time and peak RSS (the child's rusage,
read by a small launcher process), the modules it imported (one extra `-X importtime` run), and
the requests to the IP source and to the API. The baseline
`python -c 'import ssl, http.client, json, tomllib'` runs interleaved with the no-change case, so
both see the same machine load. Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Run as a module from the repo root (`python -m updater.bench.bench`): the root is then on
# sys.path, so the shared `fakes` package and the tests' TLS server import by name.
from fakes.server import FakeCloudflare

TOKEN = "test-token-0123456789abcdef"
NAME = "home.example.com"
IPS = ("81.2.69.160", "81.2.69.161")
IP6 = "2a01:4f8:c0c:1::1"
SDK = ("cloudflare", "httpx", "pydantic")
BASELINE = [sys.executable, "-c", "import ssl, http.client, json, tomllib"]


@dataclass
class Sample:
    wall_ms: float
    cpu_ms: float
    rss_mb: float
    source: int
    api: int
    code: int


@dataclass
class Case:
    name: str
    samples: list[Sample] = field(default_factory=list)
    modules: int = 0
    sdk: list[str] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)


def command() -> list[str]:
    script = Path(sys.executable).parent / "pi-ddns"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pi_ddns"]


# getrusage's peak RSS of a child includes the RSS of the process it was forked from (exec
# keeps the old mm's high-water mark), and this process holds the fake: ~25 MB. So a tiny
# launcher (python -S, ~7 MB) forks and execs each measured run and reports its rusage.
LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as f:
    json.dump([wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, os.waitstatus_to_exitcode(status)], f)
"""


def run(argv: list[str], fake: FakeCloudflare | None, env: dict[str, str],
        source_hits: Callable[[], int] | None = None) -> Sample:
    """One measured run. Source requests: the fake's echo hits, or `source_hits()`."""
    if source_hits is None:
        source_hits = (lambda: sum(fake.echo_hits.values())) if fake else (lambda: 0)
    fake_counts = (source_hits(), len(fake.requests()) if fake else 0)
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        done = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, out.name, *argv], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              check=False)
        wall, cpu, rss_kb, code = json.loads(Path(out.name).read_text())
    if code != 0 or done.returncode != 0:
        sys.stderr.write(f"bench: {' '.join(argv[-2:])} exited {code}: {done.stderr}")
    source = source_hits() - fake_counts[0]
    api = len(fake.requests()) - fake_counts[1] if fake else 0
    return Sample(wall * 1000, cpu * 1000, rss_kb / 1024, source, api, code)


def imports(argv: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    """How many modules the run imports, and which of the SDK's."""
    if argv[0] != sys.executable:
        argv = [sys.executable, *argv]
    argv = [argv[0], "-X", "importtime", *argv[1:]]
    err = subprocess.run(argv, env=env, capture_output=True, text=True, check=False).stderr
    names = [line.rsplit("|", 1)[1].strip() for line in err.splitlines()
             if line.startswith("import time:") and "imported package" not in line]
    return len(names), sorted({n.split(".")[0] for n in names} & set(SDK))


class Bench:
    def __init__(self, fake: FakeCloudflare, tmp: Path) -> None:
        self.fake, self.tmp = fake, tmp
        self.state = tmp / "state.json"
        token = tmp / "token"
        token.write_text(TOKEN + "\n")
        token.chmod(0o600)
        self.config = tmp / "config.toml"
        self.config.write_text(
            f'zone = "example.com"\nrecords = ["{NAME}"]\nstate_file = "{self.state}"\n'
            f'token_file = "{token}"\n\n[cloudflare]\napi_url = "{fake.api_url}"\n'
            f'retries = 0\n\n[ipv4]\nsources = [{{ type = "http", url = "{fake.url}/ip" }}]\n')
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("JOURNAL_STREAM", "CLOUDFLARE_API_TOKEN", "PI_DDNS_CONFIG")}
        self.argv = [*command(), "--config", str(self.config), "update"]
        self.ip = 0

    def update(self) -> Sample:
        return run(self.argv, self.fake, self.env)

    def flip_ip(self) -> None:
        self.ip = 1 - self.ip
        self.fake.set_ip(ipv4=IPS[self.ip])

    def forget(self) -> None:
        self.state.unlink(missing_ok=True)

    def drop_records(self) -> None:
        for r in self.fake.records(name=NAME):
            self.fake.delete_record(r["id"])

    def skew_record(self) -> None:
        """The record exists, with another address: a cold run must PATCH it."""
        for r in self.fake.records(name=NAME):
            self.fake.state.records[r["id"]]["content"] = "81.2.69.162"

    def case(self, name: str, runs: int, before: Callable[[], None]) -> Case:
        case = Case(name)
        for _ in range(runs):
            before()
            case.samples.append(self.update())
        before()
        case.modules, case.sdk = imports(self.argv, self.env)
        self.update()  # keep the state consistent after the import probe
        return case


class MultiZone(Bench):
    """Issue 12's record tables: two zones, per-record settings, an IPv6 host record (IPv4 and
    IPv6 detected: two source requests). Records: A and AAAA at home.example.com and at
    blog.example.org, AAAA at nas.example.com (the detected prefix + ::1234)."""

    NAMES = (NAME, "blog.example.org", "nas.example.com")

    def __init__(self, fake: FakeCloudflare, tmp: Path) -> None:
        super().__init__(fake, tmp)
        fake.add_zone("example.org")
        fake.set_ip(ipv6=IP6)
        self.state = tmp / "state-multi.json"
        self.config = tmp / "config-multi.toml"
        self.config.write_text(
            (tmp / "config.toml").read_text()
            .replace(f'records = ["{NAME}"]',
                     f'records = ["{NAME}", {{ name = "blog.example.org", zone = "example.org", '
                     'ttl = 300, comment = "blog" }, { name = "nas.example.com", '
                     'ipv6_host_id = "::1234" }]')
            .replace(str(tmp / "state.json"), str(self.state))
            + f'\n[ipv6]\nenabled = true\nsources = [{{ type = "http", url = "{fake.url}/ip6" '
              "}]\n")
        self.argv = [*command(), "--config", str(self.config), "update"]

    def drop_records(self) -> None:
        for name in self.NAMES:
            for r in self.fake.records(name=name):
                self.fake.delete_record(r["id"])


class Https:
    """The same warm install, asking a loopback HTTPS trace (throwaway CA in $SSL_CERT_DIR):
    the production hot path with certificate verification. Skipped without `openssl`."""

    def __init__(self, bench: Bench) -> None:
        from updater.tests.tlsserver import TlsEcho, make_ca_dir

        self.server: TlsEcho | None = None
        try:
            cadir, cert, key = make_ca_dir(bench.tmp)
        except (OSError, subprocess.CalledProcessError) as e:
            sys.stderr.write(f"bench: no HTTPS case ({e})\n")
            return
        self.server = TlsEcho(cert, key, lambda: str(bench.fake.addresses["ipv4"]))
        config = bench.tmp / "config-https.toml"
        config.write_text(bench.config.read_text().replace(
            f'{{ type = "http", url = "{bench.fake.url}/ip" }}',
            f'{{ type = "trace", url = "{self.server.url}/cdn-cgi/trace" }}'))
        self.env = {k: v for k, v in bench.env.items() if k != "SSL_CERT_FILE"}
        self.env["SSL_CERT_DIR"] = str(cadir)
        self.argv = [*command(), "--config", str(config), "update"]
        self.fake = bench.fake

    @property
    def ok(self) -> bool:
        return self.server is not None

    def update(self) -> Sample:
        assert self.server is not None
        server = self.server
        return run(self.argv, self.fake, self.env, lambda: server.hits)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs per case (default 9)")
    runs = parser.parse_args().runs
    # An installed wheel has byte code; an editable install may not (PYTHONDONTWRITEBYTECODE).
    import pi_ddns

    compileall.compile_dir(str(Path(pi_ddns.__file__).parent), quiet=1)
    cases: list[Case] = []
    with FakeCloudflare(ipv4=IPS[0]) as fake, tempfile.TemporaryDirectory() as tmp:
        bench = Bench(fake, Path(tmp))
        bench.update()  # warm: record created, state written
        base, hot = Case("baseline: python -c 'import ssl, http.client, json, tomllib'"), \
            Case("no change, warm cache")
        https = Https(bench)
        tls = Case("no change, warm cache, HTTPS trace source")
        # The same run writing the Prometheus textfile (metrics_dir, issue 12)
        (Path(tmp) / "metrics").mkdir()
        prom = Case("no change, warm cache, metrics textfile")
        prom_config = Path(tmp) / "config-metrics.toml"
        prom_config.write_text(bench.config.read_text().replace(
            "\n\n[cloudflare]", f'\nmetrics_dir = "{tmp}/metrics"\n\n[cloudflare]'))
        prom_argv = [*command(), "--config", str(prom_config), "update"]
        for _ in range(runs):  # side by side, same machine load
            base.samples.append(run(BASELINE, None, bench.env))
            hot.samples.append(bench.update())
            if https.ok:
                tls.samples.append(https.update())
            prom.samples.append(run(prom_argv, fake, bench.env))
        base.modules, _ = imports(BASELINE, bench.env)
        hot.modules, hot.sdk = imports(bench.argv, bench.env)
        cases += [base, hot]
        if https.ok:
            tls.modules, tls.sdk = imports(https.argv, https.env)
            cases.append(tls)
        prom.modules, prom.sdk = imports(prom_argv, bench.env)
        cases.append(prom)
        https.stop()
        cases.append(bench.case("IP changed, warm cache", runs, bench.flip_ip))
        cases.append(bench.case("cold cache, record exists",
                                runs, lambda: (bench.forget(), bench.skew_record())))
        cases.append(bench.case("cold cache, record missing",
                                runs, lambda: (bench.forget(), bench.drop_records())))
        multi = MultiZone(fake, Path(tmp))
        multi.update()  # warm
        cases.append(multi.case("no change, warm cache, 2 zones, record tables, host record",
                                runs, lambda: None))
        cases.append(multi.case("IP changed, warm cache, 2 zones", runs, multi.flip_ip))
        cases.append(multi.case("cold cache, 2 zones, 5 records missing",
                                runs, lambda: (multi.forget(), multi.drop_records())))
    return report(cases, runs)


def report(cases: list[Case], runs: int) -> int:
    base_cpu = cases[0].median("cpu_ms")

    def no_change(c: Case, sources: int = 1) -> tuple[bool, str]:
        ratio = c.median("cpu_ms") / base_cpu
        met = (ratio <= 1.5 and c.median("rss_mb") <= 25 and c.median("source") == sources
               and c.median("api") == 0 and not c.sdk)
        asked = "1 source request" if sources == 1 else f"{sources} source requests (IPv4, IPv6)"
        return met, (f"CPU <= 1.5x baseline ({ratio:.2f}x), RSS <= 25 MB, {asked}, "
                     "0 API, no SDK import")

    targets: dict[str, Callable[[Case], tuple[bool, str]]] = {
        "no change, warm cache": no_change,
        "no change, warm cache, HTTPS trace source": no_change,
        "no change, warm cache, metrics textfile": no_change,
        # the name is listed before the write: a cached id is never PATCHed blindly
        "IP changed, warm cache": lambda c: (max(s.api for s in c.samples) == 2,
                                             "exactly 2 API requests (list, PATCH)"),
        "cold cache, record exists": lambda c: (max(s.api for s in c.samples) <= 3,
                                                "<= 3 API requests (zone, list, patch)"),
        "cold cache, record missing": lambda c: (max(s.api for s in c.samples) <= 3,
                                                 "<= 3 API requests (zone, list, create)"),
        "no change, warm cache, 2 zones, record tables, host record":
            lambda c: no_change(c, sources=2),
        # one list per name whose A changed (home, blog) and one PATCH each
        "IP changed, warm cache, 2 zones": lambda c: (max(s.api for s in c.samples) == 4,
                                                      "exactly 4 API requests (2 x list, PATCH)"),
        "cold cache, 2 zones, 5 records missing": lambda c: (
            max(s.api for s in c.samples) == 10,
            "exactly 10 API requests (2 zone lookups, 3 lists, 5 creates)"),
    }
    print(f"pi-ddns benchmark: medians of {runs} runs, {sys.executable} "
          f"(Python {sys.version.split()[0]})\n")
    print("| case | wall ms | CPU ms | peak RSS MB | modules (SDK) | source req | API req "
          "| target | met |")
    print("|---|---:|---:|---:|---|---:|---:|---|---|")
    ok = True
    for c in cases:
        met, what = targets.get(c.name, lambda c: (True, "reference"))(c)
        met = met and all(s.code == 0 for s in c.samples)
        ok = ok and met
        sdk = ", ".join(c.sdk) if c.sdk else "none"
        print(f"| {c.name} | {c.median('wall_ms'):.0f} | {c.median('cpu_ms'):.0f} | "
              f"{c.median('rss_mb'):.1f} | {c.modules} ({sdk}) | {c.median('source'):.0f} | "
              f"{c.median('api'):.0f} | {what} | {'yes' if met else 'NO'} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
