"""Command line wiring: parse arguments, run one command, map errors to sysexits codes."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from pi_ddns import __version__, config, report
from pi_ddns.errors import EX_SOFTWARE, EX_USAGE, ConfigError, DdnsError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"pi-ddns: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pi-ddns", description="Keep Cloudflare DNS records on this network's "
                "public IP address.")
    p.add_argument("--version", action="version", version=f"pi-ddns {__version__}")
    p.add_argument("--config", metavar="PATH", help="config file (default: $PI_DDNS_CONFIG or "
                   f"{config.DEFAULT_PATH})")
    p.add_argument("-v", "--verbose", action="store_true", help="debug output")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("update", help="one check-and-sync cycle (the timer's job)")
    up.add_argument("--dry-run", action="store_true", help="decide and print, change nothing")
    up.add_argument("--force", action="store_true", help="reconcile with Cloudflare even if the "
                    "cache says nothing changed")
    st = sub.add_parser("status", help="detected address, managed records, last run")
    st.add_argument("--json", action="store_true", help="one JSON object on stdout")
    cc = sub.add_parser("check-config", help="validate a config file")
    for s in (up, st, cc):
        s.add_argument("--config", dest="sub_config", metavar="PATH", help=argparse.SUPPRESS)
        s.add_argument("-v", "--verbose", dest="sub_verbose", action="store_true",
                       help=argparse.SUPPRESS)
    return p


def _config_path(args: argparse.Namespace) -> Path:
    return Path(args.sub_config or args.config or os.environ.get("PI_DDNS_CONFIG")
                or config.DEFAULT_PATH)


def main(argv: Sequence[str] | None = None, *, now: Callable[[], float] = time.time) -> int:
    """Run one command; returns a sysexits code. `now` lets tests fast-forward the clock."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors
        return e.code if isinstance(e.code, int) else EX_USAGE
    report.setup(args.verbose or args.sub_verbose)
    try:
        path = _config_path(args)
        if args.command == "check-config":
            return check_config(path)
        cfg = config.load(path)
        report.hide(cfg.token)
        if args.command == "status":
            from pi_ddns.status import status

            return status(cfg, as_json=args.json, now=now)
        from pi_ddns.update import update

        return update(cfg, dry_run=args.dry_run, force=args.force, now=now)
    except DdnsError as e:
        report.error(str(e))
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, code 70
        report.error(f"bug: {type(e).__name__}: {e} (run with -v for the traceback)")
        if report.debug_enabled():
            import traceback

            report.debug(traceback.format_exc())
        return EX_SOFTWARE


def check_config(path: Path) -> int:
    """Validate the config (and the token's format, if a token is found)."""
    cfg = config.load(path)
    families = ", ".join(f"IPv{f.version} via {len(f.sources)} source(s)" for f in cfg.families)
    token = (f"token from {cfg.token_origin}" if cfg.token else
             "no token found yet (needed by update)")
    print(f"{path}: ok: zone {cfg.zone}, {len(cfg.records)} record(s), {families}; {token}")
    return 0


def require_token(cfg: config.Config) -> str:
    if not cfg.token:
        raise ConfigError(f"{cfg.path}: no API token: put it in $CREDENTIALS_DIRECTORY/"
                          f"{config.TOKEN_CREDENTIAL}, in the file named by token_file, or in "
                          f"${config.TOKEN_ENV}")
    return cfg.token


def run() -> NoReturn:
    """The console script entry point."""
    sys.exit(main(sys.argv[1:]))
