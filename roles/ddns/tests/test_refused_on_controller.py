"""A wrong value in the inventory is refused on the controller, before the host is touched,
with the updater's own message.

One run of the real playbooks/site.yml over an inventory of many hosts, one generated bad
setting each. Every host is 127.0.0.1 on a port of its own where this test listens and
counts connections: a host the play contacted would show a connection there (and fail as
UNREACHABLE, not with the updater's message). A control host with good settings proves the
listener sees a contact: the play reaches it, past the check, and it fails unreachable.

The bad values are generated from pi_ddns.settings.SETTINGS (every numeric setting the role
maps, below its minimum or above its maximum, at a random distance) and from families of bad
input the updater refuses (records outside the zone, bad zone names, bad URLs in every URL
variable, bad address sources, tokens with a paste mistake, and records in the dict form of
issue 12: unknown or odd keys, an interface ID with bits inside its prefix, a record outside its
own zone, a bad zone, type, TTL or comment, no zone anywhere, each at a random index). A second
control host carries the role README's example of the dict form: it must pass. The seed is printed; set
DDNS_REFUSAL_SEED to replay one. Runs without a Pi: pytest roles/ddns/tests
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import random
import re
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "updater" / "src"))

from test_one_authority import MAPPED  # noqa: E402 - role variable -> config key

from pi_ddns.settings import SETTINGS  # noqa: E402 - from this checkout's updater/src

GOOD: dict[str, Any] = {
    "ddns_zone": "example.com",
    "ddns_records": ["home.example.com"],
    "ddns_cloudflare_api_token": "0123456789abcdefghijABCDEFGHIJ_-klmnopqr",
}


def _readme_example() -> dict[str, Any]:
    """The role README's inventory example of records in the dict form (several zones,
    per-record settings, IPv6 host records)."""
    text = (REPO / "roles" / "ddns" / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(# host_vars/.*?)```", text, re.DOTALL)
    assert len(blocks) == 1
    example: dict[str, Any] = yaml.safe_load(blocks[0])
    assert any(isinstance(e, dict) for e in example["ddns_records"])
    return example


# Hosts with good settings: the play must get past the check and contact them.
CONTROLS: dict[str, dict[str, Any]] = {"control-good": {}, "control-dicts": _readme_example()}
NUMERIC = sorted(n for n, k in MAPPED.items() if SETTINGS[k].kind in (int, float)
                 and SETTINGS[k].minimum is not None)
URL_VARS = ["ddns_cloudflare_api_url", "ddns_healthcheck_url", "ddns_notify_webhook_url",
            "ddns_notify_ntfy_url", "ddns_notify_kuma_url"]
# Settings rendered only when a notification channel is on.
NEEDS_NOTIFY = {"ddns_notify_timeout"}
BAD_URLS: list[Callable[[random.Random], str]] = [
    lambda r: f"ftp://{_label(r)}.example.net/{_label(r)}",
    lambda r: f"https://{_label(r)}:{_label(r)}@{_label(r)}.example.net/",
    lambda r: f"https://{_label(r)}.example.net/#{_label(r)}",
    lambda r: f"https://{_label(r)}.example.net:{r.randint(65536, 10**6)}/",
    lambda r: f"https://[{_label(r)}/",
    lambda r: f"{_label(r)} {_label(r)}",
    lambda r: f"https://{_label(r)}.example.net/{_label(r)} {_label(r)}",
    lambda r: "https:///" + _label(r),
]
BAD_TOKENS: list[Callable[[random.Random], str]] = [
    lambda r: "",
    lambda r: f'"{_token(r)}"',
    lambda r: f"CLOUDFLARE_API_TOKEN={_token(r)}",
    lambda r: f"{_token(r)[:20]} {_token(r)[:20]}",
    lambda r: f"{_token(r)}\n{_token(r)}",
    lambda r: _token(r)[:20] + "\u00e9" + _token(r)[:19],
    lambda r: r.choice(["CHANGE_ME", "change-me", "<your token>", "x" * r.randint(1, 60),
                        "YOUR_TOKEN_HERE", "todo", "placeholder"]),
    lambda r: _token(r)[: r.randint(1, 19)],  # too short for an API token
    lambda r: _token(r)[:20] + r.choice("!$%&*(),;:@[]{}|^") + _token(r)[:19],
]


def _label(r: random.Random) -> str:
    return "".join(r.choice(string.ascii_lowercase) for _ in range(r.randint(1, 12)))


def _token(r: random.Random) -> str:
    return "".join(r.choice(string.ascii_letters + string.digits + "_-") for _ in range(40))


def _outside(r: random.Random, name: str, side: str) -> int | float:
    """A value of the setting's kind below or above its range, near the bound or far."""
    s = SETTINGS[MAPPED[name]]
    assert s.minimum is not None
    assert s.maximum is not None
    step = r.choice([1, 1, 10, 1000, 10**6])
    if s.kind is int:
        if name == "ddns_ttl" and side == "below" and r.random() < 0.5:
            return r.randint(2, int(s.minimum) - 1)  # between "automatic" (1) and the range
        return int(s.minimum) - step if side == "below" else int(s.maximum) + step
    gap = step * r.choice([1.0, 0.001, 0.5])
    return s.minimum - gap if side == "below" else s.maximum + gap


def cases(r: random.Random) -> list[tuple[dict[str, Any], str]]:
    """(role variables, the config key the updater must name) for each host."""
    out: list[tuple[dict[str, Any], str]] = []
    for name in NUMERIC:
        for side in ("below", "above"):
            extra: dict[str, Any] = {name: _outside(r, name, side)}
            if name in NEEDS_NOTIFY:
                extra["ddns_notify_webhook_url"] = "https://hooks.example.net/pi"
            if name.startswith("ddns_ipv6_"):
                extra["ddns_ipv6_enabled"] = r.choice([True, False])
            if name == "ddns_max_cache_age":
                # The spread renders a value between half and all of it, which can fall back
                # into the range: a known gap (see the report), not what this test attacks.
                extra["ddns_reconcile_spread"] = False
            out.append((extra, MAPPED[name]))
    zone = f"{_label(r)}.example.com"
    out.append(({"ddns_zone": zone,
                 "ddns_records": [f"{_label(r)}.{zone}", f"{_label(r)}.{_label(r)}.org"]},
                "records[1]"))
    out.append(({"ddns_records": [f"example.com.{_label(r)}.net"]}, "records[0]"))
    out.append(({"ddns_zone": r.choice([_label(r), f"{_label(r)}..com", "192.0.2.1",
                                        f"*.{_label(r)}.com"])}, "zone"))
    out.extend(record_cases(r))
    for name in URL_VARS:
        out.append(({name: r.choice(BAD_URLS)(r), "ddns_cloudflare_allow_http": False},
                    MAPPED[name]))
    family = r.choice([4, 6])
    out.append(({f"ddns_ipv{family}_enabled": True,
                 f"ddns_ipv{family}_sources": [{"type": "http", "url": r.choice(BAD_URLS)(r)}]},
                f"ipv{family}.sources[0].url"))
    out.append(({"ddns_ipv4_sources": [{"type": _label(r) + "x"}]}, "ipv4.sources[0].type"))
    out.append(({"ddns_ipv4_sources": [{"type": "static", "address": "2001:db8::1"}]},
                "ipv4.sources[0].address"))
    for make in r.sample(BAD_TOKENS, 4):
        out.append(({"ddns_cloudflare_api_token": make(r)}, "token"))
    return out


RECORD_KEYS = {"name", "zone", "type", "ttl", "proxied", "comment", "ipv6_host_id", "ipv6_mac",
               "ipv6_prefix_length"}
MARKER = "managed-by: pi-ddns"


def _bad_key(r: random.Random) -> str:
    """A key no record table takes: a made-up one, a near miss, or one with odd characters."""
    near = ["TTL", "Name", "proxy", "ipv6_hostid", "ipv6-host-id", "prefix_length", "types",
            "comments", "zones", "ipv6_suffix", "hostid6"]
    key = r.choice([_label(r) + "_x", r.choice(near), f"{_label(r)} {_label(r)}",
                    f"{_label(r)}.{_label(r)}"])
    assert key not in RECORD_KEYS
    return key


def _id_with_prefix_bits(r: random.Random) -> tuple[str, int]:
    """An interface ID (as an address) with a bit set inside a random prefix length."""
    length = r.randint(1, 127)
    inside = 1 << (127 - r.randint(0, length - 1))
    host = r.getrandbits(128 - length)
    return str(ipaddress.IPv6Address(inside | host)), length


def record_cases(r: random.Random) -> list[tuple[dict[str, Any], str]]:
    """Records in the dict form (issue 12) that check-config refuses, at a random index among
    good entries: each names the entry and its key, never a Jinja error of the template."""
    zone = f"{_label(r)}.example.com"
    out: list[tuple[dict[str, Any], str]] = []

    def at(bad: Any, key: str, **extra: Any) -> None:
        good = [f"{_label(r)}{i}.{zone}" for i in range(r.randint(0, 2))]
        i = r.randint(0, len(good))
        out.append(({"ddns_zone": zone, "ddns_records": [*good[:i], bad, *good[i:]], **extra},
                    f"records[{i}]{key}"))

    name = f"{_label(r)}.{zone}"
    bad_key = _bad_key(r)
    # A key set to null is left out (else the TOML would not parse): the bad key is named.
    at({"name": name, "proxied": None, bad_key: r.choice([1, True, "x", [1]])}, f".{bad_key}")
    number = r.randint(0, 99)  # a key that YAML reads as an int
    at({"name": name, number: "x"}, f".{number}")
    # A YAML date (an unquoted 2024-01-01) goes through as its text, and the updater names it.
    at({"name": name, "ttl": datetime.date(2000 + r.randint(0, 99), 1, 1)}, ".ttl")
    at(None, "")
    host_id, length = _id_with_prefix_bits(r)
    at({"name": name, "ipv6_host_id": host_id, "ipv6_prefix_length": length},
       ".ipv6_host_id", ddns_ipv6_enabled=True)
    length = r.randint(65, 127)  # the EUI-64 ID fills the last 64 bits: its top bit is set
    mac = ":".join([f"{0x80 | r.getrandbits(7):02x}"] + [f"{r.getrandbits(8):02x}" for _ in range(5)])
    at({"name": name, "ipv6_mac": mac, "ipv6_prefix_length": length}, ".ipv6_mac",
       ddns_ipv6_enabled=True)
    other = f"{_label(r)}.org"
    at({"name": f"{_label(r)}.{_label(r)}.net", "zone": other}, ".name")
    at({"name": f"{_label(r)}.{zone}", "zone": r.choice([_label(r), f"*.{other}", "192.0.2.1"])},
       ".zone")
    at({"name": name, "comment": "c" * r.randint(101 - len(MARKER) - 1, 300)}, ".comment")
    at({"name": name, "ttl": r.choice([0, r.randint(2, 59), 86401, "300", 1.5])}, ".ttl")
    at({"name": name, "type": r.choice(["CNAME", "a", "TXT", "AAAA "])}, ".type")
    at({"name": name, "ipv6_host_id": "::" + f"{r.randint(1, 0xffff):x}", "type": "A"}, ".type",
       ddns_ipv6_enabled=True)
    at({"name": r.choice([{"a": 1}, [name], 7])}, ".name")
    at(r.choice([7, [name], True]), "")
    # A record table with no zone anywhere: the updater names it.
    out.append(({"ddns_zone": None, "ddns_records": [{"name": name}]}, "records[0].zone"))
    out.append(({"ddns_zone": None, "ddns_records": [name]}, "zone"))
    return out


class Listener:
    """A port on 127.0.0.1 that counts the connections made to it (and closes them)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.contacts = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.contacts += 1
            conn.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    seed = int(os.environ.get("DDNS_REFUSAL_SEED", time.time_ns() % 10**9))
    print(f"DDNS_REFUSAL_SEED={seed}")
    batch = cases(random.Random(seed))  # noqa: S311 - test data, replayable by its seed
    hosts: dict[str, dict[str, Any]] = {}
    listeners: dict[str, Listener] = {}
    named = list(CONTROLS.items())
    named += [(f"bad-{i:02d}", extra) for i, (extra, _) in enumerate(batch, start=1)]
    for name, extra in named:
        listeners[name] = Listener()
        hosts[name] = {"ansible_host": "127.0.0.1", "ansible_port": listeners[name].port,
                       **GOOD, **extra}
    inventory = tmp_path_factory.mktemp("refusal") / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"ddns": {"hosts": hosts}}))
    # Ansible's defaults, whatever ansible.cfg the checkout or the user has.
    (inventory.parent / "ansible.cfg").write_text("[defaults]\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(inventory.parent / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_SSH_RETRIES": "0",
           "ANSIBLE_SSH_ARGS": "-o ControlMaster=no -o ConnectTimeout=5",
           "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
    bindir = Path(sys.executable).parent
    before = set(Path(tempfile.gettempdir()).glob("pi-ddns-config.*"))
    started = time.monotonic()
    r = subprocess.run([str(bindir / "ansible-playbook"), "-i", str(inventory),
                        str(REPO / "playbooks" / "site.yml")],
                       capture_output=True, text=True, timeout=900, check=False, env=env,
                       cwd=REPO)
    (inventory.parent / "play.log").write_text(r.stdout + r.stderr)
    print(f"{len(hosts)} hosts in {time.monotonic() - started:.1f} s; {inventory.parent}/play.log")
    fatal = {m[1]: json.loads(m[2]) for m in
             re.finditer(r"^fatal: \[([^\]]+)\]: [A-Z!]+ => (\{.*\})$", r.stdout, re.MULTILINE)}
    recap = dict(re.findall(r"^(\S+)\s+: (ok=.*)$", r.stdout, re.MULTILINE))
    left = set(Path(tempfile.gettempdir()).glob("pi-ddns-config.*")) - before
    yield {"result": r, "batch": batch, "hosts": hosts, "listeners": listeners,
           "fatal": fatal, "recap": recap, "left": left}
    for listener in listeners.values():
        listener.sock.close()


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_the_control_host_is_contacted(run: dict[str, Any], name: str) -> None:
    """The detector works: a host with good settings gets past the check and is contacted
    (control-dicts: the role README's example of records in the dict form is good)."""
    assert run["listeners"][name].contacts > 0, run["result"].stdout[-3000:]
    assert "unreachable=1" in run["recap"][name]


def test_every_bad_host_is_refused_with_the_updaters_message(run: dict[str, Any]) -> None:
    wrong = []
    for i, (extra, key) in enumerate(run["batch"], start=1):
        name = f"bad-{i:02d}"
        msg = str(run["fatal"].get(name, {}).get("msg", ""))
        # The updater's report line (`pi-ddns: error: FILE: KEY: reason`), relayed whole.
        ok = (f"pi-ddns refuses the settings of {name}: pi-ddns: error: " in msg
              and (f"config.toml: {key}: " in msg if key != "token" else "token" in msg)
              and "Nothing was changed on the host." in msg)
        if not ok:
            shown = {k: v for k, v in extra.items() if k != "ddns_cloudflare_api_token"}
            wrong.append(f"{name} {shown or key}: {msg or run['recap'].get(name)}")
    assert wrong == [], "\n".join(wrong)


def test_no_bad_host_was_contacted(run: dict[str, Any]) -> None:
    touched = [n for n, lst in run["listeners"].items() if n not in CONTROLS and lst.contacts]
    unreachable = [n for n, line in run["recap"].items() if "unreachable=0" not in line
                   and n not in CONTROLS]
    assert (touched, unreachable) == ([], [])


def test_the_token_is_not_shown(run: dict[str, Any]) -> None:
    out = run["result"].stdout + run["result"].stderr
    tokens = {h["ddns_cloudflare_api_token"] for h in run["hosts"].values()}
    assert [t for t in tokens if len(t) >= 8 and t in out] == []


def test_the_rendered_configs_are_removed(run: dict[str, Any]) -> None:
    """The controller keeps no copy of a rendered config (private temp directories)."""
    assert run["left"] == set()
