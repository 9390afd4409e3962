"""One error hierarchy; each error carries its sysexits.h exit code."""

from __future__ import annotations

# sysexits.h
EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_TEMPFAIL = 75
EX_NOPERM = 77
EX_CONFIG = 78


class DdnsError(Exception):
    """A known failure: logged once as one line, never as a traceback."""

    exit_code = EX_SOFTWARE


class ConfigError(DdnsError):
    """Bad config or token: names the file, the key and the reason."""

    exit_code = EX_CONFIG


class ZoneNotFound(ConfigError):
    """The configured zone is not visible to the token."""


class DetectionError(DdnsError):
    """No acceptable public address: nothing is changed."""

    exit_code = EX_UNAVAILABLE


class Unavailable(DdnsError):
    """The API cannot be reached as configured (a proxy in the way, a refused request)."""

    exit_code = EX_UNAVAILABLE


class AuthError(DdnsError):
    """The token is invalid or lacks a permission."""

    exit_code = EX_NOPERM


class TransientError(DdnsError):
    """Network trouble, 429 or 5xx: the next timer run retries."""

    exit_code = EX_TEMPFAIL


class ConflictError(DdnsError):
    """Cloudflare holds records a human must sort out (duplicates, CNAME, unowned)."""

    exit_code = EX_DATAERR


class ZoneNotActive(ConfigError):
    """The zone exists but is pending, moved or deactivated: nothing is written to it."""


class WrongRecord(ConflictError):
    """A write's answer is about another record than the one asked for (a stale id, a record
    renamed in the dashboard, a lying server): it is restored and reported, never trusted."""

    def __init__(self, landed: str, message: str) -> None:
        super().__init__(message)
        self.landed = landed  # the id of the record the answer describes


class RunDeadline(TransientError):
    """The run's whole time budget (run_timeout) ran out: stop cleanly, state intact."""


class RecordExists(TransientError):
    """Create answered 81057/81058: the record appeared meanwhile; reconcile again."""


class RecordGone(TransientError):
    """A cached record id no longer exists (deleted in the dashboard)."""


class ZoneGone(TransientError):
    """A cached zone id no longer routes (the zone was deleted or moved): look it up again."""


class RateLimited(TransientError):
    """429: Cloudflare asks to wait `retry_after` seconds (None: no usable Retry-After)."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# Inside one module's work, not a run's outcome: each is caught and turned into one of the
# errors above (or into a warning) by the module that called it.


class SourceError(Exception):
    """One IP source gave no usable answer; the message says why (never the raw answer at
    length). detect.py collects these into a DetectionError."""


class HttpError(Exception):
    """No acceptable HTTP answer (httpclient.py); the message says why in a few words (no raw
    answer text)."""
