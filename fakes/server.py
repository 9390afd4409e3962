"""FakeCloudflare: one loopback HTTP server (API, echo, control) plus optional UDP DNS servers: a
responder for the DNS IP sources, and the zones' authoritative nameserver (fakes.authdns).

    with FakeCloudflare() as fake:                 # starts on free ports
        fake.api_url, fake.url, fake.dns_port
        fake.set_ip(ipv4="81.2.69.161")
        fake.add_fault(method="PATCH", path="/dns_records/", status=500, times=2)
        fake.requests(method="PATCH")              # the API request log
        fake.ns_port, fake.ns.configure(lag=2)     # the zones' nameserver, and its faults
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from fakes import echo
from fakes.authdns import NameServer
from fakes.cloudflare import ALL_PERMISSIONS, DEFAULT_TOKEN, CloudflareState, Json
from fakes.dns import DnsResponder
from fakes.faults import Fault, RateLimiter, fault_from_json
from fakes.handler import Handler
from fakes.openapi import SpecChecker, find_spec

_UNSET: Any = object()


class _Http6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class FakeCloudflare:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, dns_port: int | None = 0,
                 zones: tuple[str, ...] = ("example.com",), tokens: tuple[str, ...] = (DEFAULT_TOKEN,),
                 ipv4: str | None = "81.2.69.160", ipv6: str | None = None,
                 state_file: str | os.PathLike[str] | None = None, check_spec: bool = True,
                 ns_port: int | None = 0, ns_addresses: tuple[str, ...] | None = None,
                 name_servers: tuple[str, ...] | None = None) -> None:
        """ns_port: the authoritative nameserver's UDP port (0: a free one; None: none);
        ns_addresses: where it listens (default: `host`); name_servers: what the zones list as
        their `name_servers` (default: those addresses, as IP literals)."""
        self.host, self.port, self._dns_port_wanted = host, port, dns_port
        self._ns_port_wanted = ns_port
        self.ns_addresses = tuple(ns_addresses or (host,))
        self.lock = threading.RLock()
        self.state = CloudflareState()
        self.state.name_servers = list(name_servers or self.ns_addresses)
        self.addresses: dict[str, str | None] = {"ipv4": ipv4, "ipv6": ipv6}
        self.state_file = Path(state_file) if state_file else None
        if self.state_file and self.state_file.exists():
            self._load()
            for zone in self.state.zones.values():  # never the names an older file holds
                zone["name_servers"] = list(self.state.name_servers)
        for z in zones:
            self.state.add_zone(z)
        for t in tokens:
            if t not in self.state.tokens:
                self.state.add_token(t, ALL_PERMISSIONS)
        self.faults: list[Fault] = []
        self._fault_seq = 0
        self.echo_overrides: dict[str, echo.EchoAnswer] = {}
        self.echo_hits: dict[str, int] = dict.fromkeys(echo.ENDPOINTS, 0)
        self.request_log: list[Json] = []
        self.spec_violations: list[Json] = []
        spec = find_spec() if check_spec else None
        self.spec: SpecChecker | None = SpecChecker(spec) if spec else None
        self.clock: Callable[[], float] = time.monotonic
        self._clock_offset = 0.0
        self.limiter: RateLimiter | None = None
        self.stopping = threading.Event()
        self.dns: DnsResponder | None = None
        self.ns: NameServer | None = None
        self.httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.poll = 0.02  # serve_forever's poll interval: stop() waits up to this long; the CLI uses 0.2

    # ---- life cycle ---------------------------------------------------------------------
    def start(self) -> Self:
        server_cls = _Http6 if ":" in self.host else ThreadingHTTPServer  # an IPv6 literal
        self.httpd = server_cls((self.host, self.port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.fake = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(self.poll,), name="fake-http",
                                        daemon=True)
        self._thread.start()
        if self._dns_port_wanted is not None:
            self.dns = DnsResponder(self, self.host, self._dns_port_wanted).start(self.poll)
        if self._ns_port_wanted is not None:
            self.ns = NameServer(self, self.ns_addresses, self._ns_port_wanted).start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes handlers sleeping in a delay
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        if self.dns is not None:
            self.dns.stop()
            self.dns = None
        if self.ns is not None:
            self.ns.stop()
            self.ns = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/client/v4"

    @property
    def dns_port(self) -> int | None:
        return self.dns.port if self.dns is not None else None

    @property
    def ns_port(self) -> int | None:
        """The UDP port of the zones' authoritative nameserver (on each of ns_addresses)."""
        return self.ns.port if self.ns is not None else None

    @property
    def ns_hits(self) -> int:
        return self.ns.hits if self.ns is not None else 0

    def now(self) -> float:
        return self.clock() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Fast-forward the rate limiter's clock (also usable across processes via /_fake/clock)."""
        self._clock_offset += seconds

    def sleep(self, seconds: float) -> None:
        """A delay that ends early when the fake stops."""
        if seconds > 0:
            self.stopping.wait(seconds)

    # ---- addresses and echo -------------------------------------------------------------
    def set_ip(self, ipv4: str | None = _UNSET, ipv6: str | None = _UNSET) -> None:
        """Set the address the echo, trace and DNS answer; clears hostile overrides of that family."""
        with self.lock:
            for family, value in (("ipv4", ipv4), ("ipv6", ipv6)):
                if value is not _UNSET:
                    self.addresses[family] = value
                    for path in echo.endpoints_for(family):
                        self.echo_overrides.pop(path, None)
            self.save()

    def set_echo(self, endpoint: str = "*", **answer: Any) -> None:
        """Override echo endpoint(s): set_echo("/ip", body="<html>..", status=200, headers={...},
        delay=.., redirect="http://127.0.0.2:1/", times=..).  endpoint: a path, ipv4, ipv6 or *."""
        with self.lock:
            for path in echo.endpoints_for(endpoint):
                self.echo_overrides[path] = echo.answer_from_json(answer)

    def clear_echo(self) -> None:
        with self.lock:
            self.echo_overrides.clear()

    # ---- faults and rate limit ----------------------------------------------------------
    def add_fault(self, mutate: Callable[[int, Json], Any] | None = None, **rule: Any) -> Fault:
        """A fault rule (see fakes.faults.Fault). In-process only: `mutate(status, payload)`
        gets the real answer of a matching request (after it was applied) and returns the
        answer to send instead: a JSON value, bytes sent as they are, or (status, either)."""
        fault = fault_from_json(rule)
        fault.mutate = mutate
        with self.lock:
            self._fault_seq += 1
            fault.id = self._fault_seq
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def rate_limit(self, limit: int | None, window: float = 300.0, *, block: bool = False) -> None:
        """Enable (limit requests per window seconds) or disable (None) the rate limiter;
        `block`: refuse every call for a whole window after the first refusal."""
        with self.lock:
            self.limiter = RateLimiter(limit, window, self.now, block) if limit else None

    def reset_faults(self) -> None:
        """Back to a well-behaved fake: no faults, echo overrides, rate limit or DNS fault mode,
        an empty log.  Zones, records, tokens and addresses stay."""
        with self.lock:
            self.faults.clear()
            self.echo_overrides.clear()
            self.limiter = None
            self._clock_offset = 0.0
            if self.dns is not None:
                self.dns.mode = "ok"
            if self.ns is not None:
                self.ns.clear()
        self.clear_requests()
        self.spec_violations.clear()

    # ---- log ----------------------------------------------------------------------------
    def requests(self, method: str | None = None, path: str | None = None) -> list[Json]:
        """The API request log, optionally filtered by method and a path regex."""
        with self.lock:
            return [dict(r) for r in self.request_log
                    if (method is None or r["method"] == method.upper())
                    and (path is None or re.search(path, r["path"]))]

    def clear_requests(self) -> None:
        with self.lock:
            self.request_log.clear()
            self.echo_hits = dict.fromkeys(echo.ENDPOINTS, 0)
            if self.dns is not None:
                self.dns.hits = 0
            if self.ns is not None:
                self.ns.hits = 0
                self.ns.queries.clear()

    @property
    def dns_hits(self) -> int:
        return self.dns.hits if self.dns is not None else 0

    # ---- zones, records, tokens ---------------------------------------------------------
    def records(self, zone: str | None = None, name: str | None = None, type: str | None = None
                ) -> list[Json]:
        with self.lock:
            out = [dict(r) for r in self.state.records.values()
                   if (zone is None or r["zone_name"] == zone) and (name is None or r["name"] == name)
                   and (type is None or r["type"] == type)]
        return sorted(out, key=lambda r: (r["name"], r["type"], r["created_on"]))

    def seed_record(self, name: str, type: str, content: str, zone: str | None = None,
                    **kw: Any) -> Json:
        """Insert a record as if made by hand in the dashboard (no duplicate checks)."""
        with self.lock:
            if zone is None:
                zone = next((z["name"] for z in self.state.zones.values()
                             if name == z["name"] or name.endswith("." + z["name"])), None)
                if zone is None:
                    raise KeyError(f"no zone for {name!r}")
            rec = self.state.seed_record(zone, name, type, content, **kw)
            self.save()
            return dict(rec)

    def delete_record(self, record_id: str) -> None:
        with self.lock:
            del self.state.records[record_id]
            self.save()

    def add_zone(self, name: str, zone_id: str | None = None, min_ttl: int = 60,
                 status: str = "active") -> Json:
        """A zone; `status` "pending", "moved", "deactivated"... adds one beside any active
        zone of that name (as Cloudflare lists a re-added zone next to the old one)."""
        with self.lock:
            zone = self.state.add_zone(name, zone_id, min_ttl, status)
            self.save()
            return self.state.public_zone(zone)

    def add_token(self, token: str, permissions: Any = ALL_PERMISSIONS,
                  zones: list[str] | None = None) -> None:
        """Register a token; permissions from zone:read, dns:read, dns:edit; zones limits it."""
        with self.lock:
            self.state.add_token(token, permissions, zones)
            self.save()

    def remove_token(self, token: str) -> None:
        with self.lock:
            self.state.tokens.pop(token, None)
            self.save()

    def snapshot(self) -> Json:
        with self.lock:
            return {"zones": [self.state.public_zone(z) for z in self.state.zones.values()],
                    "records": self.records(), "addresses": dict(self.addresses),
                    "tokens": [dict(v) for v in self.state.tokens.values()],
                    "dns_mode": self.dns.mode if self.dns is not None else None,
                    "ns": self.ns.settings() if self.ns is not None else None}

    # ---- persistence --------------------------------------------------------------------
    def _load(self) -> None:
        data = json.loads(Path(str(self.state_file)).read_text())
        self.state.load_json(data)
        self.addresses.update(data.get("addresses", {}))

    def save(self) -> None:
        """After every change: the nameserver notes the records (for its lag and stale faults);
        the state file is written atomically (temp file, fsync, rename) when one is set."""
        if self.ns is not None:
            self.ns.observe()
        if self.state_file is None:
            return
        with self.lock:
            data = {"version": 1, **self.state.to_json(), "addresses": self.addresses}
            fd, tmp = tempfile.mkstemp(dir=self.state_file.parent, prefix=".fake-state.")
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.state_file)
