"""A changed setting reaches Cloudflare when the play ends, and the play fails when it cannot.

Issue 15: proxied, TTL and the comment marker changed through the role's variables are seen
at the fake Cloudflare as soon as ansible-playbook returns (the handler's plain update applies
them: the cache remembers every field the config sets). When Cloudflare does not take a set
field, the role's final verification fails the play.

Needs a converged host and its inventory, like test_bad_input.py (same variables):

    DDNS_BAD_INPUT_INVENTORY=path/to/inventory \\
    DDNS_BAD_INPUT_PLAYBOOK=molecule/shared/converge.yml \\
    pytest roles/ddns/tests/test_settings.py

The fake is found from the converged config's api_url (the controller reaches it there).
Skipped when DDNS_BAD_INPUT_INVENTORY is unset.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
INVENTORY = os.environ.get("DDNS_BAD_INPUT_INVENTORY", "")
PLAYBOOK = os.environ.get("DDNS_BAD_INPUT_PLAYBOOK", str(REPO / "playbooks" / "site.yml"))
# Only the fake on the test veth is contacted: no proxies.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

pytestmark = pytest.mark.skipif(not INVENTORY, reason="DDNS_BAD_INPUT_INVENTORY is not set")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, "ANSIBLE_NOCOLOR": "1"}, cwd=REPO)


def _playbook(extra: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return _run("ansible-playbook", "-i", INVENTORY, "-e", json.dumps(extra), PLAYBOOK)


class _Fake:
    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name  # the record the global settings apply to

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with _OPENER.open(req, timeout=10) as resp:
            return json.load(resp)


@pytest.fixture(scope="module")
def fake() -> _Fake:
    """Converge with the scenario's own settings; the fake behind the config's api_url."""
    r = _playbook({})
    assert r.returncode == 0, r.stdout[-3000:]
    r = _run("ansible", "-i", INVENTORY, "all", "--become", "-m", "ansible.builtin.command",
             "-a", "cat /etc/pi-ddns/config.toml")
    assert r.returncode == 0, r.stdout + r.stderr
    found = re.search(r'^api_url = "(http://[^"]+)/client/v4"', r.stdout, re.MULTILINE)
    assert found, r.stdout
    first = re.search(r'^records = \[\s*"([^"]+)"', r.stdout, re.MULTILINE)
    assert first, f"the scenario's first record is not a plain name: {r.stdout}"
    return _Fake(found[1], first[1])


def _record(fake: _Fake) -> dict[str, Any]:
    """The A record at the fake of the config's first name: a plain name, which follows the
    global settings (records in the dict form, issue 12, may set their own)."""
    records = [r for r in fake.call("GET", "/_fake/state")["records"] if r["type"] == "A"
               and r["name"] == fake.name]
    assert len(records) == 1, records
    return dict(records[0])


# Each step: role variables, and what the one A record must then hold at the fake. Steps run
# in order, each a change from the one before.
STEPS: list[tuple[str, dict[str, object], dict[str, object]]] = [
    ("proxied on", {"ddns_proxied": True}, {"proxied": True}),
    ("proxied off, ttl 300", {"ddns_proxied": False, "ddns_ttl": 300},
     {"proxied": False, "ttl": 300}),
    ("ttl 3600", {"ddns_proxied": False, "ddns_ttl": 3600}, {"ttl": 3600}),
    ("comment marker", {"ddns_comment_marker": "pi-ddns: molecule", "ddns_adopt": True},
     {"comment_has": "pi-ddns: molecule"}),
    # Back to the scenario's marker. A record whose entry sets its own comment (the dict form,
    # issue 12) is written "<marker> <comment>" whole, so the marker change left it without the
    # old marker: taking it back needs adopt, as for any record without the marker.
    ("comment marker back", {"ddns_adopt": True}, {"comment_has": "managed-by: pi-ddns"}),
]


@pytest.mark.parametrize(("extra", "want"), [s[1:] for s in STEPS], ids=[s[0] for s in STEPS])
def test_a_changed_setting_is_at_cloudflare_when_the_play_ends(
        fake: _Fake, extra: dict[str, object], want: dict[str, object]) -> None:
    r = _playbook(extra)
    assert r.returncode == 0, r.stdout[-3000:]
    record = _record(fake)
    for key, value in want.items():
        if key == "comment_has":
            assert str(value) in (record["comment"] or ""), record
        else:
            assert record[key] == value, record


def test_the_verification_fails_when_cloudflare_does_not_take_a_set_field(fake: _Fake) -> None:
    """The fake answers every PATCH as if it was done but keeps the record unproxied: the
    updater does not trust that answer, `status` is not ok, and the play fails saying so."""
    record = _record(fake)
    assert record["proxied"] is False
    answer = {"success": True, "errors": [], "messages": [], "result": record}
    fake.call("POST", "/_fake/faults", {"method": "PATCH", "path": "/dns_records/",
                                        "status": 200, "body": json.dumps(answer),
                                        "content_type": "application/json"})
    try:
        r = _playbook({"ddns_proxied": True, "ddns_ttl": 3600})
    finally:
        fake.call("DELETE", "/_fake/faults")
    assert r.returncode != 0
    out = re.sub(r"\s+", " ", r.stdout)
    assert "pi-ddns is not in sync" in out, r.stdout[-3000:]
    assert "proxied" in out
    assert _record(fake)["proxied"] is False
    # the scenario's own settings again: the play ends green
    r = _playbook({})
    assert r.returncode == 0, r.stdout[-3000:]
