"""Notifications of a change, a failure and a recovery: a webhook, ntfy, an Uptime Kuma push.

Imported only when a run has something to tell (update._event): never on the no-change path.

Each channel gets one try, bounded by `[notify] timeout` and by its share of what is left of
run_timeout (at least MIN_BUDGET, so that a run that ran out of time can still say so: the
unit's TimeoutStartSec keeps a minute above run_timeout). A failure to deliver is one warning
naming the channel and the host, never the URL (an ntfy topic or a Kuma push token is a
password); the run's exit code, records and state are the same either way.

Every text that goes out passes report.safe: the Cloudflare token and the ntfy token (both
hidden with report.hide) are scrubbed even from a message that quotes them.

The webhook body (JSON, POST, Content-Type application/json):
    {"event": "change" | "failure" | "recovery", "message": the run's summary,
     "exit_code": 0, "records": [{"name", "type", "old" (null when created), "new"}],
     "host": the Pi's hostname, "version": pi-ddns's version, "time": ISO 8601 UTC}
"""

from __future__ import annotations

import json
import os
import time
from urllib.parse import urlsplit

from pi_ddns import __version__, httpclient, report
from pi_ddns.config import Config
from pi_ddns.errors import HttpError
from pi_ddns.state import Change

MIN_BUDGET = 1.0  # seconds a channel always gets, even with run_timeout spent
MAX_MESSAGE = 1000  # characters of the summary

_TITLES = {"change": "address changed", "failure": "update failed", "recovery": "recovered"}
_PRIORITY = {"change": "3", "failure": "4", "recovery": "3"}  # ntfy: 3 default, 4 high
_TAGS = {"change": "globe_with_meridians", "failure": "warning",
         "recovery": "white_check_mark"}


class Message:
    """One notification, every text already made safe."""

    def __init__(self, event: str, code: int, summary: str, changes: list[Change],
                 when: str) -> None:
        self.event, self.code, self.when = event, code, when
        self.summary = report.safe(summary, MAX_MESSAGE)
        self.records = [{"name": report.safe(name, 300), "type": report.safe(rtype, 10),
                         "old": None if old is None else report.safe(old, 100),
                         "new": report.safe(new, 100)}
                        for name, rtype, _zone, old, new in changes]
        self.host = report.safe(os.uname().nodename, 100)

    @property
    def title(self) -> str:
        words = _TITLES[self.event]
        if self.event == "failure":
            words += f" (exit {self.code})"
        return f"pi-ddns on {self.host}: {words}"

    def text(self) -> str:
        """The human-readable form (ntfy's body, Kuma's msg): the summary, then each record."""
        lines = [self.summary]
        lines += [f"{r['type']} {r['name']}: {r['old'] or '(new)'} -> {r['new']}"
                  for r in self.records]
        return "\n".join(dict.fromkeys(lines))

    def json(self) -> bytes:
        body = {"event": self.event, "message": self.summary, "exit_code": self.code,
                "records": self.records, "host": self.host, "version": __version__,
                "time": self.when}
        return json.dumps(body, ensure_ascii=True).encode("ascii")


def send(cfg: Config, message: Message, deadline: float, ntfy_token: str | None) -> None:
    """Deliver `message` on every configured channel, in turn (`ntfy_token`: the ntfy access
    token, from credential.ntfy_token); never raises."""
    channels = cfg.notify.channels
    for i, (channel, url) in enumerate(channels):
        budget = max(MIN_BUDGET, min(cfg.notify.timeout,
                                     (deadline - time.monotonic()) / (len(channels) - i)))
        try:
            if channel == "webhook":
                _webhook(url, message, budget)
            elif channel == "ntfy":
                _ntfy(url, ntfy_token, message, budget)
            else:
                _kuma(url, message, budget)
        except Exception as e:  # noqa: BLE001 - a notification never fails the run
            host = report.safe(urlsplit(url).hostname or "?", 100)
            report.warning(f"notification via {channel} ({host}): "
                           f"{report.safe(str(e) or type(e).__name__, 200)}; the update is "
                           "not affected")


def _check(resp: httpclient.Response) -> None:
    if resp.status >= 300:
        raise HttpError(f"HTTP {resp.status}")


def _webhook(url: str, message: Message, budget: float) -> None:
    _check(httpclient.request("POST", url, budget, body=message.json(),
                              content_type="application/json", head_only=True))


def _ascii(text: str) -> str:
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _ntfy(url: str, token: str | None, message: Message, budget: float) -> None:
    """ntfy's publish form (docs.ntfy.sh/publish): POST the text to the topic URL, with the
    Title, Priority and Tags headers; an access token as `Authorization: Bearer`."""
    headers = [("Title", _ascii(message.title)), ("Priority", _PRIORITY[message.event]),
               ("Tags", _TAGS[message.event])]
    if token:
        headers.append(("Authorization", f"Bearer {token}"))
    _check(httpclient.request("POST", url, budget,
                              body=message.text().encode("utf-8"),
                              content_type="text/plain; charset=utf-8", head_only=True,
                              headers=tuple(headers)))


def _kuma(url: str, message: Message, budget: float) -> None:
    """Uptime Kuma's push form (healthcheck.kuma_url): status up, or down for a failure."""
    from pi_ddns.healthcheck import kuma_url

    push = kuma_url(url, message.event != "failure", f"{message.title}: {message.summary}")
    _check(httpclient.request("GET", push, budget, head_only=True))
