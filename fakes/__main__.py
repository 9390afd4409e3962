"""Command line: run the fakes, or poke a running one.

    python3 -m fakes --host 127.0.0.1 --port 0 [--dns-port 0] [--state-file F] [--zone example.com]...
                     [--token TOKEN]... [--ipv4 81.2.69.160] [--ipv6 2a01:4f8:c0c:1::1] [--no-spec]
                     [--ns-port 0] [--ns-address A]... [--ns-name N]... [--no-ns]
    python3 -m fakes ctl URL set-ip 81.2.69.161 [--ipv6 ADDR]
    python3 -m fakes ctl URL state | requests | clear-requests | clear-faults | records
    python3 -m fakes ctl URL dns nxdomain|wrong-name|timeout|ok
    python3 -m fakes ctl URL ns '{"lag": 5}' | '{"stale": true}' | '{"silent": true, "address": "A"}' | '{}'
    python3 -m fakes ctl URL fault '{"method": "PATCH", "path": "dns_records", "status": 500}'
    python3 -m fakes ctl URL call METHOD /_fake/PATH ['JSON']
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from typing import Any

from fakes.cloudflare import DEFAULT_TOKEN
from fakes.server import FakeCloudflare


def serve(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python3 -m fakes", description="Run the fake Cloudflare API, "
                                "IP echo and DNS responder on loopback.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--dns-port", type=int, default=0, help="UDP port for the DNS responder (0 = free)")
    p.add_argument("--no-dns", action="store_true", help="do not start the DNS responder")
    p.add_argument("--state-file", help="load state from here at start, save after every mutation")
    p.add_argument("--zone", action="append", help="zone to create (repeatable; default example.com)")
    p.add_argument("--token", action="append", help=f"token with full rights (default {DEFAULT_TOKEN})")
    p.add_argument("--ipv4", default="81.2.69.160")
    p.add_argument("--ipv6", default=None)
    p.add_argument("--no-spec", action="store_true", help="skip the OpenAPI conformance check")
    p.add_argument("--ns-port", type=int, default=0,
                   help="UDP port of the zones' authoritative nameserver (0 = free)")
    p.add_argument("--ns-address", action="append",
                   help="address the nameserver listens on (repeatable; default --host)")
    p.add_argument("--ns-name", action="append",
                   help="a zone's name_servers entry (repeatable; default the --ns-address values)")
    p.add_argument("--no-ns", action="store_true", help="do not start the nameserver")
    args = p.parse_args(argv)

    try:
        fake = FakeCloudflare(args.host, args.port, dns_port=None if args.no_dns else args.dns_port,
                              zones=tuple(args.zone or ["example.com"]),
                              tokens=tuple(args.token or [DEFAULT_TOKEN]), ipv4=args.ipv4, ipv6=args.ipv6,
                              state_file=args.state_file, check_spec=not args.no_spec,
                              ns_port=None if args.no_ns else args.ns_port,
                              ns_addresses=tuple(args.ns_address or ()) or None,
                              name_servers=tuple(args.ns_name or ()) or None)
        fake.poll = 0.2  # a long-running process: fewer idle wake-ups, still a quick SIGTERM
        fake.start()
    except (OSError, ValueError, KeyError, TypeError) as err:
        sys.stderr.write(f"fakes: cannot start: {type(err).__name__}: {err}\n")
        return 1
    fake.save()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(json.dumps({"url": fake.url, "api_url": fake.api_url, "dns_port": fake.dns_port,
                      "ns_port": fake.ns_port, "name_servers": fake.state.name_servers,
                      "pid": os.getpid()}), flush=True)
    done.wait()
    fake.stop()
    return 0


# The fake lives on loopback or a private veth: never send its control calls through a proxy.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(url: str, method: str, path: str, body: Any = None) -> Any:
    if not url.startswith(("http://", "https://")):
        raise SystemExit(f"not an http URL: {url}")
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url.rstrip("/") + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with _NO_PROXY.open(req, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as err:
        sys.stderr.write(f"{method} {path}: {err.code} {err.read().decode(errors='replace')}\n")
        raise SystemExit(1) from None


def ctl(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write(__doc__ or "")
        return 64
    url, cmd, rest = argv[0], argv[1], argv[2:]
    simple = {"state": ("GET", "/_fake/state"), "requests": ("GET", "/_fake/requests"),
              "clear-requests": ("DELETE", "/_fake/requests"), "clear-faults": ("DELETE", "/_fake/faults"),
              "records": ("GET", "/_fake/records"), "clear-echo": ("DELETE", "/_fake/echo")}
    if cmd in simple:
        out = call(url, *simple[cmd])
    elif cmd == "set-ip":
        body: dict[str, Any] = {}
        for i, arg in enumerate(rest):
            if arg == "--ipv6":
                body["ipv6"] = rest[i + 1]
            elif i == 0:
                body["ipv4"] = arg
        out = call(url, "PUT", "/_fake/ip", body)
    elif cmd == "dns" and rest:
        out = call(url, "PUT", "/_fake/dns", {"mode": rest[0]})
    elif cmd in ("fault", "echo", "seed", "token", "zone", "ns") and rest:
        method, path = {"fault": ("POST", "faults"), "echo": ("PUT", "echo"), "seed": ("POST", "records"),
                        "token": ("POST", "tokens"), "zone": ("POST", "zones"), "ns": ("PUT", "ns")}[cmd]
        out = call(url, method, "/_fake/" + path, json.loads(rest[0]))
    elif cmd == "call" and len(rest) >= 2:
        out = call(url, rest[0].upper(), rest[1], json.loads(rest[2]) if len(rest) > 2 else None)
    else:
        sys.stderr.write(f"unknown ctl command {cmd!r}\n{__doc__}")
        return 64
    print(json.dumps(out, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "ctl":
        return ctl(argv[1:])
    return serve(argv)


if __name__ == "__main__":
    raise SystemExit(main())
