"""Command line wiring: parse arguments, run one command, map errors to sysexits codes.

`check-config` imports nothing outside the standard library and pi_ddns's own leaf modules,
so the role runs it on the Ansible controller straight from the source tree:
`python3 -c 'import sys; sys.path.insert(0, SRC); from pi_ddns.cli import run; run()'
check-config --config FILE --token-stdin`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple, NoReturn

from pi_ddns import __version__, config, credential, report
from pi_ddns.errors import EX_SOFTWARE, EX_USAGE, DdnsError

USAGE = """\
usage: pi-ddns [--config PATH] [-v] COMMAND [OPTIONS]
       pi-ddns --version

commands:
  update [--dry-run] [--force] [--token-stdin]
                    one check-and-sync cycle (the timer's job)
  status [--json]   detected address, managed records, last run (no API call)
  check-config [--token-stdin]
                    validate the config (and the token's format); reads no other file
                    named in the config when --token-stdin is given
  remove [--dry-run] [--token-stdin]
                    delete the records pi-ddns owns at the configured names (A and AAAA
                    whose comment carries the marker); one `deleted NAME TYPE ID` line each

options:
  --config PATH   config file (default: $PI_DDNS_CONFIG or /etc/pi-ddns/config.toml)
  -v, --verbose   debug output
  --dry-run       update: look up zone and records afresh, print the plan; no write at
                  Cloudflare, no state, no lock, no ping, no notification, no metrics.
                  remove: print `would delete NAME TYPE ID` lines, delete nothing
  --force         update: reconcile with Cloudflare even if the cache says nothing changed
  --token-stdin   read the Cloudflare API token from standard input
  --json          status: one JSON object on stdout
"""

_FLAGS = {"update": ("--dry-run", "--force", "--token-stdin"), "status": ("--json",),
          "check-config": ("--token-stdin",), "remove": ("--dry-run", "--token-stdin")}


class Args(NamedTuple):
    command: str
    config: str | None
    verbose: bool
    flags: frozenset[str]


class UsageError(Exception):
    pass


def parse_args(argv: Sequence[str]) -> Args:
    """The command line (command "help" or "version" for those flags).

    Hand-rolled: argparse (with gettext, shutil, locale) costs ~4 ms on every timer run."""
    command, config_path, verbose, flags = None, None, False, set()
    items = list(argv)
    while items:
        arg = items.pop(0)
        if arg in ("-h", "--help", "--version"):
            name = "version" if arg == "--version" else "help"
            return Args(name, None, False, frozenset())
        if arg in ("-v", "--verbose"):
            verbose = True
        elif arg == "--config" or arg.startswith("--config="):
            value = arg.partition("=")[2] if "=" in arg else (items.pop(0) if items else "")
            if not value:
                raise UsageError("--config needs a path")
            config_path = value
        elif arg.startswith("-"):
            if command is None or arg not in _FLAGS[command]:
                where = f" for {command}" if command else ""
                raise UsageError(f"unknown option {arg}{where}")
            flags.add(arg)
        elif command is None:
            if arg not in _FLAGS:
                raise UsageError(f"unknown command {arg!r}")
            command = arg
        else:
            raise UsageError(f"unexpected argument {arg!r}")
    if command is None:
        raise UsageError("a command is required")
    return Args(command, config_path, verbose, frozenset(flags))


def _config_path(args: Args) -> Path:
    return Path(args.config or os.environ.get("PI_DDNS_CONFIG") or config.DEFAULT_PATH)


def main(argv: Sequence[str] | None = None, *, now: Callable[[], float] = time.time) -> int:
    """Run one command; returns a sysexits code. `now` lets tests fast-forward the clock."""
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        sys.stderr.write(f"pi-ddns: error: {e}\n{USAGE.splitlines()[0]}\n")
        return EX_USAGE
    if args.command in ("help", "version"):
        sys.stdout.write(USAGE if args.command == "help" else f"pi-ddns {__version__}\n")
        return 0
    report.setup(args.verbose)
    try:
        return _dispatch(args, now)
    except DdnsError as e:
        report.error(str(e))
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, code 70
        report.error(f"bug: {type(e).__name__}: {e} (run with -v for the traceback)")
        if report.debug_enabled():
            import traceback

            report.debug(traceback.format_exc())
        return EX_SOFTWARE


def _dispatch(args: Args, now: Callable[[], float]) -> int:
    path = _config_path(args)
    stdin = "--token-stdin" in args.flags
    if args.command == "check-config":
        return check_config(path, token_stdin=stdin)
    cfg = config.load(path)
    if args.command == "status":
        from pi_ddns.status import status

        return status(cfg, as_json="--json" in args.flags)
    if args.command == "remove":
        from pi_ddns.remove import remove

        return remove(cfg, dry_run="--dry-run" in args.flags, token_stdin=stdin)
    from pi_ddns.update import update

    return update(cfg, dry_run="--dry-run" in args.flags, force="--force" in args.flags,
                  now=now, token_stdin=stdin)


def check_config(path: Path, *, token_stdin: bool = False) -> int:
    """Validate the config and the token's format: the token from stdin (then no other file
    the config names is read: they live on the Pi), or the one found where a run looks."""
    cfg = config.load(path)
    if token_stdin:
        credential.cloudflare_token(cfg, stdin=True)
        token = f"token from {credential.STDIN}"
    else:
        found, origin = credential.find(cfg.token_file, os.environ)
        report.hide(found)
        token = f"token from {origin}" if found else "no token found yet (needed by update)"
        credential.ntfy_token(cfg)
    families = ", ".join(f"IPv{f.version} via {len(f.sources)} source(s)" for f in cfg.families)
    zones = f"zone{'s' if len(cfg.zones) > 1 else ''} {', '.join(cfg.zones)}"
    print(f"{path}: ok: {zones}, {len(cfg.records)} record(s), {families}; {token}")
    return 0


def run() -> NoReturn:
    """The console script entry point."""
    sys.exit(main(sys.argv[1:]))
