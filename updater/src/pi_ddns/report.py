"""Log lines on stderr, the healthcheck ping.

A tiny logger instead of `logging` (which costs ~3 ms of imports on every timer run). Under journald
(`$JOURNAL_STREAM` names our stderr) each line is `<N>message`: journald adds the timestamp and
reads the priority. Otherwise lines are `pi-ddns: level: message`.
"""

from __future__ import annotations

import os
import sys

ERROR, WARNING, NOTICE, INFO, DEBUG = 3, 4, 5, 6, 7
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
    for secret in _Setup.secrets:
        message = message.replace(secret, "<token>")
    return message


def log(priority: int, message: str) -> None:
    if priority > _Setup.level:
        return
    lines = scrub(message).splitlines() or [""]
    if _Setup.journal:
        text = "".join(f"<{priority}>{line}\n" for line in lines)
    else:
        name = _NAMES[priority]
        text = "".join(f"pi-ddns: {name}: {line}\n" for line in lines)
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


def ping(url: str, ok: bool, message: str, timeout: float = 5.0) -> None:
    """Healthchecks-style ping: POST the summary to url (or url/fail); failures are only logged."""
    import http.client
    from urllib.parse import urlsplit

    from pi_ddns.detect import connection

    if not ok:
        url = url.rstrip("/") + "/fail"
    host = urlsplit(url).hostname
    try:
        conn, path = connection(url, timeout)
        body = scrub(message).encode("utf-8", "replace")[:10000]
        conn.request("POST", path, body=body, headers={"User-Agent": "pi-ddns",
                                                       "Content-Type": "text/plain"})
        status = conn.getresponse().status
        conn.close()
        if status >= 300:
            warning(f"healthcheck ping {host}: HTTP {status}")
    except (OSError, http.client.HTTPException) as e:
        warning(f"healthcheck ping {host}: {e}")
