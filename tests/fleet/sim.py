"""A fleet of Pis against the fake Cloudflare and its rate limiter, in simulated time.

Run with the updater's venv from the repo root (it prints the figures):

    updater/.venv/bin/python tests/fleet/sim.py [PIS] [ROLE_VAR=JSON...]

Every run is the updater's real `pi_ddns.cli.main(["update"])` with a real config, token and
state file per Pi, talking HTTP over loopback to one `FakeCloudflare` (one zone, a record per
Pi) whose rate limiter is Cloudflare's: 1,200 requests per 300 s. Time is simulated: the fake's
clock, the updater's `now`, `time.monotonic` and `time.sleep` (the SDK's backoff, a 429's
Retry-After) all read or advance one virtual clock, and only one run executes at a time, so a
run that sleeps lets the others go on (see `Clock`). The role's budget settings (throttle, the
holds around each step, each host's max_cache_age) are rendered by Ansible from the role's own
vars (tests/fleet/role_settings.py, run with the tool venv).

Scenarios, one fleet, one timeline:
  converge  the play's first run on every Pi (the "Run pi-ddns once" handler), `throttle`
            slots, each run wrapped in the role's holds; then each timer starts (its first
            run at once).
  day       every Pi's timer (OnUnitActiveSec + RandomizedDelaySec + AccuracySec) until a day
            after the play, with one address change for all Pis; the daily reconciles spread
            by the rendered max_cache_age.
  storm     another address change, and another tool of the same account burns the whole
            limit: Cloudflare blocks every call for 5 minutes; the timers carry on.

Runs that provably make no request are not executed: between two runs of a Pi that touch
the API its state file is unchanged, and a run is on the no-change path when the address is
the cached one and the cache is younger than max_cache_age, which stays true for every
earlier tick once it is true for a later one. So per Pi, the sim executes the tick where an
API call is due, and the tick before it, which must make none (checked: the run would fail
the sim otherwise). Left out: SSH and Ansible's own scheduling (a step's time beyond its
holds is taken as zero, which is the worst case for the rate), the Pis' CPU, IP detection
delays, the trial (a first converge has none), and other tools' traffic except in the storm.
"""

from __future__ import annotations

import hashlib
import heapq
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from fakes.server import FakeCloudflare  # noqa: E402

TOKEN = "test-token-0123456789abcdef"  # noqa: S105 - the fake's default token
ZONE = "example.com"
LIMIT, WINDOW = 1200, 300.0  # Cloudflare: 1,200 requests per 5 minutes per user
EPOCH = 1_800_000_000.0  # the simulated wall clock starts here
IPS = ("81.2.69.160", "81.2.69.161", "81.2.69.162")


class Clock:
    """Virtual time with cooperative threads: one process runs at a time; `sleep` in a process
    hands the turn back and resumes it when the virtual clock reaches its wake-up time."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Callable[[], None] | threading.Event]] = []
        self._seq = 0
        self._back = threading.Event()
        self._real_sleep, self._real_monotonic = time.sleep, time.monotonic
        self.error: BaseException | None = None

    def at(self, when: float, fn: Callable[[], None]) -> None:
        """Start `fn` as a process at virtual time `when`."""
        self._seq += 1
        heapq.heappush(self._heap, (max(when, self.now), self._seq, fn))

    def sleep(self, seconds: float) -> None:  # time.sleep's stand-in
        # Any thread but the scheduler's: a run's process, or the worker thread the updater
        # sends each API call from (the SDK's backoff sleeps there).
        if threading.current_thread() is threading.main_thread():
            self._real_sleep(seconds)
            return
        wake = threading.Event()
        self._seq += 1
        heapq.heappush(self._heap, (self.now + max(0.0, seconds), self._seq, wake))
        self._back.set()
        wake.wait()

    def monotonic(self) -> float:
        return 1e6 + self.now

    def run(self, until: float = float("inf"), stop: Callable[[], bool] = lambda: False) -> None:
        while self._heap and self._heap[0][0] <= until and self.error is None and not stop():
            when, _, item = heapq.heappop(self._heap)
            self.now = when
            self._back.clear()
            if isinstance(item, threading.Event):
                item.set()
            else:
                threading.Thread(target=self._process, args=(item,), daemon=True).start()
            if not self._back.wait(120):
                raise RuntimeError("a simulated process hung")
        if self.error is not None:
            raise self.error

    def _process(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - reported by run()
            self.error = e
        finally:
            self._back.set()

    @contextmanager
    def installed(self) -> Iterator[None]:
        time.sleep, time.monotonic = self.sleep, self.monotonic  # type: ignore[assignment]
        try:
            yield
        finally:
            time.sleep, time.monotonic = self._real_sleep, self._real_monotonic


@dataclass
class Pi:
    name: str
    config: Path
    max_cache_age: float
    rng: random.Random
    token_hash: str  # as the fake logs it
    last_reconcile: float | None = None
    ticks: list[float] = field(default_factory=list)  # the timer's elapses, drawn lazily
    k: int = 0  # the last tick whose run was executed or provably made no request
    gen: int = 0  # bumped to cancel the planned events (a new address was scheduled)
    cached: str | None = None  # the address of the last successful API run
    failed: bool = False
    runs: int = 0


class Fleet:
    def __init__(self, size: int, settings: dict[str, Any], root: Path, fake: FakeCloudflare,  # noqa: PLR0917
                 clock: Clock, seed: int = 14, records: int = 1, ipv6: bool = False) -> None:
        self.fake, self.clock, self.settings = fake, clock, settings
        fleet = settings["fleet"]
        self.interval = _span(fleet["ddns_interval"])
        self.jitter = _span(fleet["ddns_timer_randomized_delay"]) + _span(fleet["ddns_timer_accuracy"])
        self.pis: list[Pi] = []
        for i in range(size):
            name = f"pi{i:03d}"
            d = root / name
            d.mkdir()
            token = f"{name}-token-0123456789abcdef"  # one per Pi: the log tells them apart
            fake.add_token(token)
            (d / "token").write_text(token + "\n")
            (d / "token").chmod(0o600)
            age = settings["max_cache_age"][name]
            names = json.dumps([f"{name}-{r}.{ZONE}" for r in range(records)])
            (d / "config.toml").write_text(
                f'zone = "{ZONE}"\nrecords = {names}\nmax_cache_age = {age}\n'
                f'state_file = "{d}/state.json"\ntoken_file = "{d}/token"\n'
                f'[cloudflare]\napi_url = "{fake.api_url}"\nretries = 1\n'
                f'[ipv4]\nsources = [{{type = "http", url = "{fake.url}/ip"}}]\n'
                f'[ipv6]\nenabled = {str(ipv6).lower()}\n'
                f'sources = [{{type = "http", url = "{fake.url}/ip6"}}]\n')
            rng = random.Random(f"{seed}{name}")  # noqa: S311 - timer jitter, not a secret
            self.pis.append(Pi(name, d / "config.toml", float(age), rng,
                               hashlib.sha256(token.encode()).hexdigest()[:12]))
        self.addresses: list[tuple[float, str]] = [(0.0, IPS[0])]

    # ---- one run of the updater, as the unit runs it --------------------------------------
    def run(self, pi: Pi) -> tuple[int, int]:
        """`pi-ddns update` on this Pi now: (exit code, API requests it sent)."""
        from pi_ddns import cli  # noqa: PLC0415 - after the fakes' path is set

        before = len(self.fake.request_log)
        code = cli.main(["--config", str(pi.config), "update"], now=lambda: EPOCH + self.clock.now)
        # its own: a run that waits (a 429) lets other runs go on meanwhile
        mine = [r for r in self.fake.request_log[before:] if r["token_hash"] == pi.token_hash]
        if any(r["path"].endswith("/zones") and r["status"] == 200 for r in mine) and code == 0:
            pi.last_reconcile = self.clock.now
        pi.runs += 1
        return code, len(mine)

    # ---- the play ---------------------------------------------------------------------------
    def converge(self) -> float:
        """The handler on every Pi: `throttle` slots, each step in the role's holds."""
        fleet = self.settings["fleet"]
        paced = fleet["__ddns_api_paced_run"]
        before, after = (float(paced[4]), float(paced[5])) if paced else (0.0, 0.0)
        queue = list(self.pis)
        done: list[float] = []

        def slot() -> None:
            while queue:
                pi = queue.pop(0)
                self.clock.sleep(before)
                code, _ = self.run(pi)
                pi.failed = code != 0  # counted by the caller (a 429: the fake's log)
                pi.cached = None if pi.failed else self.address_at(self.clock.now)
                self.start_timer(pi)
                self.clock.sleep(after)
            done.append(self.clock.now)

        for _ in range(int(fleet["__ddns_api_throttle"])):
            self.clock.at(self.clock.now, slot)
        slots = int(fleet["__ddns_api_throttle"])
        self.clock.run(stop=lambda: len(done) == slots)
        return max(done)

    # ---- the timers --------------------------------------------------------------------------
    def start_timer(self, pi: Pi) -> None:
        """The timer starts after the handler's run and elapses at once (OnBootSec= is past)."""
        pi.ticks, pi.k = [self.clock.now], 0
        gen = pi.gen
        if pi.failed:  # the timer's first run tries again
            self.clock.at(self.clock.now, lambda: self._real(pi, gen, 0))
        else:
            self.clock.at(self.clock.now, lambda: self._probe(pi, gen, 0, None))

    def _tick(self, pi: Pi, k: int) -> float:
        while len(pi.ticks) <= k:  # OnUnitActiveSec + RandomizedDelaySec + AccuracySec
            pi.ticks.append(pi.ticks[-1] + self.interval + pi.rng.uniform(0, self.jitter))
        return pi.ticks[k]

    def _due(self, pi: Pi, t: float) -> bool:
        """Would the run at `t` call the API? Used only to choose which ticks to execute: each
        executed run is checked against it, and a skipped tick is followed by a probe."""
        return (pi.failed or pi.cached != self.address_at(t) or pi.last_reconcile is None
                or t - pi.last_reconcile >= pi.max_cache_age - 1)  # stamps have 1 s resolution

    def _schedule(self, pi: Pi) -> None:
        """Plan this Pi's next API-calling tick, and a probe of the tick before it."""
        k = pi.k + 1
        while not self._due(pi, self._tick(pi, k)):
            k += 1
        gen = pi.gen
        if k - 1 > pi.k:
            self.clock.at(self._tick(pi, k - 1), lambda: self._probe(pi, gen, k - 1, k))
        else:
            self.clock.at(self._tick(pi, k), lambda: self._real(pi, gen, k))

    def _probe(self, pi: Pi, gen: int, k: int, then: int | None) -> None:
        if gen != pi.gen:
            return
        code, sent = self.run(pi)
        if sent or code:
            raise AssertionError(f"{pi.name}: the run at {self.clock.now:.0f} s sent {sent} "
                                 f"request(s) (exit {code}) where the sim expected none")
        pi.k = k
        if then is None:
            self._schedule(pi)
        else:
            self.clock.at(self._tick(pi, then), lambda: self._real(pi, gen, then))

    def _real(self, pi: Pi, gen: int, k: int) -> None:
        if gen != pi.gen:
            return
        started = self.clock.now
        code, sent = self.run(pi)
        pi.k = k
        while self._tick(pi, pi.k + 1) < self.clock.now:  # a long run (429 waits) skips elapses
            pi.k += 1
        pi.failed = code != 0
        if code == 0 and sent:
            pi.cached = self.address_at(started)
        # code 0 and nothing sent: the cache was younger than the sim's guess (its stamps have
        # 1 s resolution): a run on the no-change path, and the next tick is due instead.
        self._schedule(pi)

    def address_at(self, t: float) -> str:
        return [ip for when, ip in self.addresses if when <= t][-1]

    def change_address(self, when: float, ip: str) -> None:
        """All Pis get a new public address at `when`: their plans are made again."""
        self.addresses.append((when, ip))
        self.clock.at(when, lambda: self.fake.set_ip(ipv4=ip))
        for pi in self.pis:
            if pi.ticks:
                pi.gen += 1
                self._schedule(pi)


def _span(text: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    num = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    return float(num) * units[text[len(num):] or "s"]


def role_settings(size: int, records: int = 1, **extra: Any) -> dict[str, Any]:
    """The role's settings for this fleet, rendered by Ansible (the tool venv has it)."""
    py = REPO / ".venv" / "bin" / "python"
    args = [str(py), str(REPO / "tests" / "fleet" / "role_settings.py"), str(size), str(records)]
    args += [f"{k}={json.dumps(v)}" for k, v in extra.items()]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=300)  # noqa: S603
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@dataclass
class Phase:
    name: str
    start: float
    end: float
    requests: int
    refused: int
    peak: int  # most requests let through in any 300 s window (sliding: covers every edge)
    reconciles: int  # most zone lookups (one per reconcile or first run) in any 300 s window


def phase(fake: FakeCloudflare, name: str, start: float, end: float) -> Phase:
    log = [r for r in fake.requests() if start <= r["time"] < end
           and r["user_agent"] != OTHER_TOOL]
    ok = [r for r in log if r["status"] != 429]
    zones = [r for r in ok if r["path"].endswith("/zones")]
    return Phase(name, start, end, len(log), sum(r["status"] == 429 for r in log),
                 _peak([r["time"] for r in ok]), _peak([r["time"] for r in zones]))


def _peak(times: list[float]) -> int:
    """The most of these instants in any half-open window of WINDOW seconds."""
    times.sort()
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - WINDOW:
            j += 1
        best = max(best, i - j + 1)
    return best


OTHER_TOOL = "another-tool/1.0"


def burn_limit(fake: FakeCloudflare, count: int) -> None:
    """Another tool of the same account sends `count` requests at once."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for _ in range(count):
        req = urllib.request.Request(f"{fake.api_url}/zones", headers={  # noqa: S310 - loopback
            "Authorization": f"Bearer {TOKEN}", "User-Agent": OTHER_TOOL})
        try:
            opener.open(req, timeout=5).read()
        except urllib.error.HTTPError as e:
            e.read()


@dataclass
class Result:
    pis: int
    settings: dict[str, Any]
    phases: list[Phase]
    play_seconds: float
    storm_over: float  # simulated seconds from the storm's start until every record was right
    wrong: list[str]  # records not at the last address at the end
    wall: float
    block_over: float  # simulated seconds from the storm's start until Cloudflare's block ended


def simulate(pis: int = 500, *, settings: dict[str, Any] | None = None, seed: int = 14,
             converge_only: bool = False, limit: int = LIMIT, records: int = 1,
             ipv6: bool = False) -> Result:
    """The three scenarios on one fleet (or only the play's first runs); `limit`: the fake's
    limit per 300 s (Cloudflare's by default; a budget to prove the play keeps under it)."""
    began = time.perf_counter()
    settings = settings or role_settings(pis, records, ddns_ipv6_enabled=ipv6)
    clock = Clock()
    # tmpfs where there is one: the state's fsync() would dominate the wall time otherwise
    shm = "/dev/shm"  # noqa: S108 - a private mkdtemp below it
    shm_ok = os.path.isdir(shm) and os.access(shm, os.W_OK)
    with tempfile.TemporaryDirectory(prefix="pi-ddns-fleet.", dir=shm if shm_ok else None) as tmp, \
            FakeCloudflare(dns_port=None, check_spec=False, ipv4=IPS[0],
                           ipv6="2a01:4f8:c0c:1::1") as fake, _quiet_tls():
        fake.clock = lambda: clock.now
        fake.rate_limit(limit, WINDOW, block=True)
        fleet = Fleet(pis, settings, Path(tmp), fake, clock, seed, records, ipv6)
        with clock.installed(), _quiet():
            play_end = fleet.converge()
            phases = [phase(fake, "converge", 0, play_end + 1e-6)]
            if converge_only:
                return Result(pis, settings, phases, play_end, -1, [], time.perf_counter() - began,
                              -1)
            # a day of timers from the play's end, one address change for every Pi in it
            day_end = play_end + 86400
            fleet.change_address(play_end + 0.6 * 86400, IPS[1])
            clock.run(until=day_end)
            # the storm: a new address; another tool burns the account's limit
            storm, storm_end = day_end + 60, day_end + 3600
            fleet.change_address(storm, IPS[2])
            blocked: list[float] = []

            def burst() -> None:
                burn_limit(fake, LIMIT)
                if fake.limiter is not None and fake.limiter.blocked_until is not None:
                    blocked.append(fake.limiter.blocked_until - storm)

            clock.at(storm + 30, burst)
            clock.run(until=storm_end)
        fixed = [r["time"] for r in fake.requests(method="PATCH") if r["status"] == 200
                 and r["time"] >= storm]
        wrong = [r["name"] for r in fake.records() if r["content"] != IPS[2]]
        phases += [phase(fake, "day", play_end + 1e-6, day_end),
                   phase(fake, "storm", day_end, storm_end)]
        return Result(pis, settings, phases, play_end, (max(fixed) - storm) if fixed else -1,
                      wrong, time.perf_counter() - began, blocked[0] if blocked else -1)


@contextmanager
def _quiet() -> Iterator[None]:
    """The runs' journal lines go nowhere (swapped once: the runs interleave in threads)."""
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = io.StringIO()
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


@contextmanager
def _quiet_tls() -> Iterator[None]:
    """The updater builds a TLS context per API run (unused over http to loopback); parsing
    the system's CA bundle 1,000s of times would dominate the sim's wall time."""
    empty = tempfile.mkdtemp(prefix="pi-ddns-fleet-ca.")
    saved = {k: os.environ.get(k) for k in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    os.environ["SSL_CERT_FILE"] = os.path.join(empty, "none.pem")
    os.environ["SSL_CERT_DIR"] = empty
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        os.rmdir(empty)


def report(r: Result) -> str:
    f = r.settings["fleet"]
    lines = [f"{r.pis} Pis, one zone, a record each; Cloudflare's limit {LIMIT} per {WINDOW:g} s; "
             f"ddns_api_budget {f['ddns_api_budget']}: throttle {f['__ddns_api_throttle']}, "
             f"holds {f['__ddns_api_paced_run'][4:] or 'none'} s around each first run",
             f"{'phase':<9} {'requests':>8} {'429s':>5} {'peak/300s':>9} "
             f"{'reconciles/300s':>15} {'sim time':>9}"]
    for p in r.phases:
        lines.append(f"{p.name:<9} {p.requests:>8} {p.refused:>5} {p.peak:>9} "
                     f"{p.reconciles:>15} {(p.end - p.start) / 60:>7.1f} m")
    lines.append(f"play (API steps): {r.play_seconds / 60:.1f} min; storm: Cloudflare's block "
                 f"lifted after {r.block_over / 60:.1f} min, every record right after "
                 f"{r.storm_over / 60:.1f} min; records wrong at the end: {len(r.wrong)}; "
                 f"wall time {r.wall:.1f} s")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """sim.py [PIS] [ROLE_VAR=JSON...]: e.g. `100 ddns_reconcile_spread=false`."""
    pis = int(argv[0]) if argv else 500
    extra = {k: json.loads(v) for k, _, v in (a.partition("=") for a in argv[1:])}
    print(report(simulate(pis, settings=role_settings(pis, **extra))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
