"""Log lines on stderr, and the one scrubber for outside text (safe).

A tiny logger instead of `logging` (which costs ~3 ms of imports on every timer run). Under journald
(`$JOURNAL_STREAM` names our stderr) each line is `<N>message`: journald adds the timestamp and
reads the priority. Otherwise lines are `pi-ddns: level: message`.
"""

from __future__ import annotations

import os
import sys

ERROR, WARNING, NOTICE, INFO, DEBUG = 3, 4, 5, 6, 7
LINE_LIMIT = 1000  # characters of one log line after the prefix; see safe()
_NAMES = {ERROR: "error", WARNING: "warning", NOTICE: "notice", INFO: "info", DEBUG: "debug"}


class _Setup:
    journal = False
    level = INFO
    secrets: tuple[str, ...] = ()


def setup(verbose: bool = False, environ: dict[str, str] | None = None) -> None:
    """Configure once per run (main calls it)."""
    env = os.environ if environ is None else environ
    _Setup.level = DEBUG if verbose else INFO
    _Setup.secrets = ()
    _Setup.journal = _stderr_is_journal(env.get("JOURNAL_STREAM", ""))


def _stderr_is_journal(value: str) -> bool:
    # systemd.exec(5): compare device and inode, so a redirected stderr gets plain lines.
    dev, _, ino = value.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return st.st_dev == int(dev) and st.st_ino == int(ino)


def hide(secret: str | None) -> None:
    """Never print this string (the token), whatever message it ends up in."""
    if secret and secret not in _Setup.secrets:
        _Setup.secrets = (*_Setup.secrets, secret)


def scrub(message: str) -> str:
    """The message with every hidden secret, and every piece of one, replaced by `<token>`."""
    for secret in _Setup.secrets:
        message = _scrub_one(message, secret)
    return message


# A run of this many characters of a secret counts as the secret: a token printed in two halves,
# across two lines or cut by a cap still leaves no piece longer than this.
_PIECE = 8


def _scrub_one(text: str, secret: str) -> str:
    k = min(len(secret), _PIECE)
    if len(text) < k:
        return text
    pieces = {secret[i:i + k] for i in range(len(secret) - k + 1)}
    hit = bytearray(len(text) + 1)  # hit[i]: text[i] belongs to a piece of the secret
    for i in range(len(text) - k + 1):
        if text[i:i + k] in pieces:
            hit[i:i + k] = b"\x01" * k
    if not any(hit):
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if hit[i]:
            while hit[i]:
                i += 1
            out.append("<token>")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _escape(c: str) -> str:
    if c.isprintable():
        return c
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def safe(text: str, limit: int = 400) -> str:
    """Outside text made fit to print or store: the token scrubbed (also in pieces), every
    non-printable character escaped (`\\xNN`, `\\uNNNN`; newlines, tabs and escape sequences
    included), and at most `limit` characters, the cut marked with `...(+N)`.

    The result is one printable line. Everything pi-ddns logs, prints or persists that may hold
    outside input goes through here.
    """
    limit = max(limit, 32)
    longest = max((len(s) for s in _Setup.secrets), default=0)
    # Escaping never shortens, so nothing past `limit` input characters can show; keep a
    # secret's length more so that a secret cut by this slice is still recognised whole.
    raw = text[:limit + longest]
    out = "".join(map(_escape, scrub(raw)))
    if len(out) <= limit and len(raw) == len(text):
        return out
    marker = f"...[cut, {len(text)} chars]"
    cut = out[:limit - len(marker)]
    tail = cut.rfind("\\")  # never leave half an escape ("\\u20")
    kind = cut[tail + 1:tail + 2]
    if tail != -1 and len(cut) - tail < {"x": 4, "u": 6, "U": 10, "": 2}.get(kind, 0):
        cut = cut[:tail]
    return cut + marker


def log(priority: int, message: str) -> None:
    if priority > _Setup.level:
        return
    line = safe(message, LINE_LIMIT)  # one line always: an escaped newline forges no entry
    prefix = f"<{priority}>" if _Setup.journal else f"pi-ddns: {_NAMES[priority]}: "
    text = f"{prefix}{line}\n"
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr closed: nothing sensible left to do


def error(message: str) -> None:
    log(ERROR, message)


def warning(message: str) -> None:
    log(WARNING, message)


def notice(message: str) -> None:
    log(NOTICE, message)


def info(message: str) -> None:
    log(INFO, message)


def debug(message: str) -> None:
    log(DEBUG, message)


def debug_enabled() -> bool:
    return _Setup.level >= DEBUG
