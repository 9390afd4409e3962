"""Issue 12, notifications: a change, a failure and a recovery reach a webhook, ntfy and an
Uptime Kuma push URL (fakes.notify, in each service's API shape), each exactly once; a
hanging or failing endpoint changes neither the exit code nor the records and costs at most
its bound; no token ever reaches a notification.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.notify import NotifyReceiver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import IP1, IP2, NAME, TOKEN, Env
from pi_ddns import __version__, credential
from pi_ddns.errors import EX_CONFIG, EX_UNAVAILABLE

NTFY_TOKEN = "tk_7eevizlsiwf9yi4uxsrs83r4352o0"
KUMA = "/api/push/Qx81mRtZ5j"
TOPIC = "/pi-ddns-home"


@pytest.fixture
def receiver() -> Iterator[NotifyReceiver]:
    r = NotifyReceiver(ntfy_token=NTFY_TOKEN, kuma_tokens=(KUMA.rsplit("/", 1)[1],)).start()
    yield r
    r.stop()


def configure(env: Env, receiver: NotifyReceiver, **extra: Any) -> None:
    token_file = env.tmp / "ntfy-token"
    token_file.write_text(NTFY_TOKEN + "\n")
    token_file.chmod(0o600)
    notify = {"webhook_url": receiver.url + "/hook", "ntfy_url": receiver.url + TOPIC,
              "ntfy_token_file": str(token_file), "kuma_url": receiver.url + KUMA + "?ping=",
              **extra}
    env.write_config(notify=notify)


def sent(receiver: NotifyReceiver) -> list[tuple[str, Any]]:
    """What arrived since the last call, one (service, what) per request, then forgotten."""
    out: list[tuple[str, Any]] = []
    for r in receiver.got:
        if r["path"] == "/hook":
            out.append(("webhook", json.loads(r["body"])))
        elif r["path"] == KUMA:
            out.append(("kuma", (r["method"], r["query"])))
        else:
            h = r["headers"]
            out.append(("ntfy", (r["method"], r["path"], h.get("title"), h.get("priority"),
                                 h.get("tags"), h.get("authorization"), r["body"].decode())))
    receiver.got.clear()
    return out


def webhook(event: str, message: str, code: int, records: list[dict[str, Any]],
            when: str) -> tuple[str, Any]:
    return ("webhook", {"event": event, "message": message, "exit_code": code,
                        "records": records, "host": socket.gethostname(),
                        "version": __version__, "time": when})


def test_change_failure_recovery_each_notified_once(env: Env, receiver: NotifyReceiver) -> None:
    configure(env, receiver)
    clock = [1_800_000_000.0]
    host = socket.gethostname()
    title = f"pi-ddns on {host}: "

    # 1. the record is created: a change, old null
    assert env.run(["update"], now=lambda: clock[0]).code == 0
    created = f"created A {NAME} {IP1}"
    assert sent(receiver) == [
        webhook("change", created, 0, [{"name": NAME, "type": "A", "old": None, "new": IP1}],
                "2027-01-15T08:00:00+00:00"),
        ("ntfy", ("POST", TOPIC, title + "address changed", "3", "globe_with_meridians",
                  f"Bearer {NTFY_TOKEN}", f"{created}\nA {NAME}: (new) -> {IP1}")),
        ("kuma", ("GET", {"status": "up", "msg": title + "address changed: " + created,
                          "ping": ""})),
    ]
    # 2. nothing changed: nothing sent
    assert env.run(["update"], now=lambda: clock[0]).code == 0
    assert sent(receiver) == []
    # 3. a new address: old and new
    env.fake.set_ip(ipv4=IP2)
    clock[0] += 300
    assert env.run(["update"], now=lambda: clock[0]).code == 0
    updated = f"updated A {NAME} {IP1} -> {IP2}"
    got = sent(receiver)
    assert got[0] == webhook("change", updated, 0,
                             [{"name": NAME, "type": "A", "old": IP1, "new": IP2}],
                             "2027-01-15T08:05:00+00:00")
    assert got[1][1][6] == f"{updated}\nA {NAME}: {IP1} -> {IP2}"
    assert len(got) == 3
    # 4. a failure: once, with its exit code; 5. the same failure again: quiet
    env.fake.set_echo("/ip", status=503)
    failed = env.run(["update"], now=lambda: clock[0])
    assert failed.code == EX_UNAVAILABLE
    got = sent(receiver)
    assert [g[0] for g in got] == ["webhook", "ntfy", "kuma"]
    assert got[0][1]["event"] == "failure"
    assert got[0][1]["exit_code"] == EX_UNAVAILABLE
    assert got[0][1]["records"] == []
    assert got[0][1]["message"].startswith("no acceptable IPv4 address")
    assert got[1][1][2:5] == (title + f"update failed (exit {EX_UNAVAILABLE})", "4", "warning")
    assert got[2][1][1]["status"] == "down"
    assert env.run(["update"], now=lambda: clock[0]).code == EX_UNAVAILABLE
    assert sent(receiver) == []
    # 6. the first success after it: a recovery
    env.fake.clear_echo()
    assert env.run(["update"], now=lambda: clock[0]).code == 0
    got = sent(receiver)
    assert got[0] == webhook("recovery", "no change", 0, [], "2027-01-15T08:05:00+00:00")
    assert got[1][1][2:5] == (title + "recovered", "3", "white_check_mark")
    assert got[2][1][1]["status"] == "up"
    # 7. and then quiet again
    assert env.run(["update"], now=lambda: clock[0]).code == 0
    assert sent(receiver) == []


def test_events_choose_what_is_sent(env: Env, receiver: NotifyReceiver) -> None:
    env.write_config(notify={"webhook_url": receiver.url + "/hook", "events": ["failure"]})
    assert env.run(["update"]).code == 0
    assert sent(receiver) == []
    env.fake.set_echo("/ip", status=503)
    assert env.run(["update"]).code == EX_UNAVAILABLE
    assert [w["event"] for _, w in sent(receiver)] == ["failure"]
    env.fake.clear_echo()
    assert env.run(["update"]).code == 0
    assert sent(receiver) == []


def test_the_ntfy_token_is_not_held_to_the_api_tokens_shape(env: Env,
                                                           receiver: NotifyReceiver) -> None:
    """ntfy's tokens are its own: only the paste mistakes are refused, not a short one."""
    configure(env, receiver)
    (env.tmp / "ntfy-token").write_text("tk_short\n")
    receiver.ntfy_token = "tk_short"
    assert env.run(["update"]).code == 0
    assert [r["headers"].get("authorization") for r in receiver.got
            if r["path"] == TOPIC] == ["Bearer tk_short"]


def test_a_dry_run_notifies_nothing(env: Env, receiver: NotifyReceiver) -> None:
    configure(env, receiver)
    assert env.run(["update", "--dry-run"]).code == 0
    assert sent(receiver) == []


@pytest.mark.parametrize("mode", ["hang", "close", "500", "401"])
@pytest.mark.parametrize("fail", [False, True])
def test_a_bad_endpoint_changes_nothing_and_costs_its_bound(
        env: Env, receiver: NotifyReceiver, mode: str, fail: bool) -> None:
    bound = 1.0
    configure(env, receiver, timeout=bound)
    receiver.mode = mode
    if fail:
        env.fake.set_echo("/ip", status=503)
    began = time.monotonic()
    result = env.run(["update"])
    elapsed = time.monotonic() - began
    assert result.code == (EX_UNAVAILABLE if fail else 0)
    assert [r["content"] for r in env.records("A")] == ([] if fail else [IP1])
    warnings = [ln for ln in result.lines if ln.startswith("pi-ddns: warning: notification")]
    assert [w.split(" ")[4] for w in warnings] == ["webhook", "ntfy", "kuma"]
    assert all("(127.0.0.1)" in w and "the update is not affected" in w for w in warnings)
    assert len(receiver.got) == 3  # one try each
    # three channels, one bound each, plus the run itself (well under a second here)
    assert elapsed < 3 * bound + 1.5
    assert NTFY_TOKEN not in result.err
    assert "Qx81mRtZ5j" not in result.err  # a push URL's token is a password: host only


def test_the_bound_is_a_share_of_what_run_timeout_leaves(env: Env,
                                                         receiver: NotifyReceiver) -> None:
    """run_timeout nearly spent by a slow IP source: each channel gets MIN_BUDGET (1 s), not
    its 5 s cap."""
    configure(env, receiver)
    env.write_config(run_timeout=2.0, notify={"webhook_url": receiver.url + "/hook",
                                              "timeout": 5.0},
                     ipv4={"timeout": 5.0, "sources": [{"type": "http",
                                                        "url": env.fake.url + "/ip"}]})
    env.fake.set_echo("/ip", delay=2.2)
    receiver.mode = "hang"
    began = time.monotonic()
    result = env.run(["update"])
    elapsed = time.monotonic() - began
    assert result.code != 0
    assert len(receiver.got) == 1
    assert elapsed < 2.2 + 1.0 + 1.0


# Token-shaped strings as a paste would give them: no whitespace, no quotes.
tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
                 min_size=20, max_size=60).filter(  # the API token's own rules
                     lambda t: not credential._PLACEHOLDER.match(t))


def pieces(token: str) -> set[str]:
    k = min(8, len(token))
    return {token[i:i + k] for i in range(len(token) - k + 1)}


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                  HealthCheck.too_slow])
@given(cf_token=tokens, ntfy_token=tokens)
def test_no_token_reaches_a_notification(env: Env, receiver: NotifyReceiver, cf_token: str,
                                         ntfy_token: str) -> None:
    """An IP source that quotes both tokens in its error page: the failure notification and
    the log carry the message, never a piece of either token."""
    receiver.ntfy_token = ntfy_token
    configure(env, receiver)
    (env.tmp / "ntfy-token").write_text(ntfy_token)
    env.write_token(cf_token)
    env.state_path.unlink(missing_ok=True)
    env.fake.set_echo("/ip", body=f"denied for {cf_token} / {ntfy_token}: 10.0.0.1")
    receiver.got.clear()
    result = env.run(["update"])
    assert result.code == EX_UNAVAILABLE
    texts = [result.err]
    for r in receiver.got:
        if r["path"] == "/hook":
            body = json.loads(r["body"])
            texts += [body["message"], body["host"], json.dumps(body["records"])]
        elif r["path"] == KUMA:
            texts.append(r["query"]["msg"])
        else:
            assert r["headers"]["authorization"] == f"Bearer {ntfy_token}"  # only here
            texts += [r["body"].decode(), r["headers"]["title"]]
    assert len(receiver.got) == 3
    assert "<token>" in texts[0]  # the log line quoted them, scrubbed
    for text in texts:
        for secret in (cf_token, ntfy_token):
            assert not any(p in text for p in pieces(secret)), (secret, text)


@pytest.mark.parametrize(("notify", "words"), [
    ({"webhook": "x"}, "notify.webhook: unknown key"),
    ({"webhook_url": "ftp://x"}, "notify.webhook_url: 'ftp://x' is not an http"),
    ({"webhook_url": "https://u:p@hook.example/"}, "must not contain credentials"),
    ({"kuma_url": "https://kuma.example/api/push/"}, "is not an Uptime Kuma push URL"),
    ({"kuma_url": "https://kuma.example/push/abc"}, "is not an Uptime Kuma push URL"),
    ({"ntfy_token_file": "/etc/pi-ddns/ntfy-token"}, "is set but ntfy_url is not"),
    ({"ntfy_url": "https://ntfy.sh/t", "ntfy_token_file": "/etc/"}, "does not name a token"),
    ({"timeout": 0}, "notify.timeout: must be between 0.1 and 30"),
    ({"timeout": 31}, "notify.timeout: must be between 0.1 and 30"),
    ({"events": ["changes"]}, "unknown event 'changes'"),
    ({"events": "change"}, "notify.events: must be an array"),
])
def test_check_config_rejects_bad_notify_settings(env: Env, notify: dict[str, Any],
                                                  words: str) -> None:
    env.write_config(notify=notify)
    result = env.run(["check-config"])
    assert result.code == EX_CONFIG
    assert words in result.err
    assert len(result.lines) == 1


def test_an_ntfy_token_is_never_sent_unencrypted(env: Env, tmp_path: Path) -> None:
    token_file = tmp_path / "ntfy-token"
    token_file.write_text(NTFY_TOKEN)
    env.write_config(notify={"ntfy_url": "http://ntfy.example/t",
                             "ntfy_token_file": str(token_file)})
    result = env.run(["check-config"])
    assert result.code == EX_CONFIG
    assert "would send the ntfy token unencrypted" in result.err
    assert NTFY_TOKEN not in result.err


def test_the_ntfy_token_comes_from_the_credential_first(env: Env, receiver: NotifyReceiver,
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "ntfy-token").write_text(NTFY_TOKEN + "\n")
    (creds / "cloudflare-token").write_text(TOKEN + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    env.write_config(notify={"ntfy_url": receiver.url + TOPIC,
                             "ntfy_token_file": str(tmp_path / "absent")})
    assert env.run(["update"]).code == 0
    assert [r["headers"]["authorization"] for r in receiver.got] == [f"Bearer {NTFY_TOKEN}"]
    (creds / "ntfy-token").write_text("'quoted'\n")
    result = env.run(["check-config"])
    assert result.code == EX_CONFIG
    assert "ntfy-token: the token is quoted" in result.err
