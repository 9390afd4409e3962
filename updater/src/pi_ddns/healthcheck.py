"""The healthcheck ping after a run, in the monitoring service's own form.

The form follows the URL's shape (no setting to get wrong):

- a path with an `/api/push/<token>` part is an Uptime Kuma push monitor: GET the URL with its
  query's `status` set to `up` or `down` and `msg` to the summary; every other parameter
  (`ping=`...) is kept. (Uptime Kuma's push URL is `.../api/push/<token>?status=up&msg=OK&ping=`.)
- anything else is Healthchecks (healthchecks.io or self-hosted): POST the summary to the URL
  for success, to `<url>/<exit-code>` for a failure (Healthchecks reads 0 as success and 1..255
  as failure), and `start()` POSTs to `<url>/start`. The suffix goes on the path; the query
  (`?rid=...`, `?create=1`) is kept after it.

A ping never changes the run's outcome: a failure to deliver it is one warning.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pi_ddns import httpclient, report
from pi_ddns.config import is_kuma
from pi_ddns.errors import HttpError

MAX_MESSAGE = 1000  # characters of the summary sent along


def healthchecks_url(url: str, suffix: str) -> str:
    """`url` with `/suffix` appended to its path (`fail`, `start`, an exit code), query kept."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/") + "/" + quote(suffix, safe="")
    return urlunsplit(parts._replace(path=path))


def kuma_url(url: str, up: bool, message: str) -> str:
    """The push URL with status and msg set, every other query parameter kept in order."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in ("status", "msg")]
    query = [("status", "up" if up else "down"), ("msg", message), *query]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def ping(url: str, exit_code: int, message: str, timeout: float = 5.0) -> None:
    """Tell the monitor how the run ended: exit_code 0 is success, anything else a failure."""
    text = report.safe(message, MAX_MESSAGE)
    if is_kuma(url):
        _send("GET", kuma_url(url, exit_code == 0, text), None, timeout)
    else:
        target = url if exit_code == 0 else healthchecks_url(url, str(exit_code & 0xFF or 1))
        _send("POST", target, text.encode("utf-8"), timeout)


def start(url: str, timeout: float = 5.0) -> None:
    """Healthchecks' start signal (it then measures the run's duration); none for Uptime Kuma."""
    if not is_kuma(url):
        _send("POST", healthchecks_url(url, "start"), b"", timeout)


def _send(method: str, url: str, body: bytes | None, timeout: float) -> None:
    host = report.safe(urlsplit(url).hostname or "?", 100)
    try:
        resp = httpclient.request(method, url, timeout, body=body, head_only=True)
    except HttpError as e:
        report.warning(f"healthcheck ping {host}: {e}")
        return
    if resp.status >= 300:
        report.warning(f"healthcheck ping {host}: HTTP {resp.status}")
