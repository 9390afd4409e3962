"""Bad input fails the play early, with a message that names the problem, and
leaves a working installation as it was (config, token, timer).

Needs a host where the role has converged, and an inventory (plus playbook)
that converges it again:

    DDNS_BAD_INPUT_INVENTORY=path/to/inventory \\
    DDNS_BAD_INPUT_PLAYBOOK=playbooks/site.yml \\
    pytest roles/ddns/tests/test_bad_input.py

The playbook defaults to playbooks/site.yml; Molecule can pass its converge
playbook and inventory. Skipped when DDNS_BAD_INPUT_INVENTORY is unset.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
INVENTORY = os.environ.get("DDNS_BAD_INPUT_INVENTORY", "")
PLAYBOOK = os.environ.get("DDNS_BAD_INPUT_PLAYBOOK", str(REPO / "playbooks" / "site.yml"))
FINGERPRINT = (
    "sha256sum /etc/pi-ddns/config.toml /etc/pi-ddns/cloudflare-token"
    " /etc/systemd/system/pi-ddns.service /etc/systemd/system/pi-ddns.timer;"
    " systemctl is-enabled pi-ddns.timer; systemctl is-active pi-ddns.timer"
)

pytestmark = pytest.mark.skipif(not INVENTORY, reason="DDNS_BAD_INPUT_INVENTORY is not set")

# (case, extra vars, environment, what the failure message must say)
CASES: list[tuple[str, dict[str, object], dict[str, str], str]] = [
    # Refused on the controller by the updater's check-config (test_refused_on_controller.py
    # attacks that class); here: and the installed host keeps working as it was.
    ("quoted token", {"ddns_cloudflare_api_token": '"abcdefghijklmnopqrstuvwxyz"'}, {},
     "the token is quoted"),
    ("empty token", {"ddns_cloudflare_api_token": ""}, {}, "the token is empty"),
    (
        "token with KEY=value",
        {"ddns_cloudflare_api_token": "CLOUDFLARE_API_TOKEN=abcdefghijklmnopqrstuvwxyz"},
        {},
        "looks like a KEY=value line",
    ),
    (
        "record outside the zone",
        {"ddns_records": ["home.example.org"]},
        {},
        "records[0]: 'home.example.org' is not inside the zone 'example.com'",
    ),
    # Refused by Cloudflare in the trial (a dry run with the new settings).
    (
        "zone typo",
        {"ddns_zone": "exmaple.com", "ddns_records": ["home.exmaple.com"]},
        {},
        "zone exmaple.com: not found",
    ),
    (
        "token the API refuses",
        {"ddns_cloudflare_api_token": "refused-token-0123456789abcdef"},
        {},
        "token was refused",
    ),
    ("interval below a minute", {"ddns_interval": "30s"}, {}, "use at least 1min"),
    (
        "no updater source",
        {"ddns_updater_src": "/nonexistent"},
        {},
        "not the pi-ddns updater's source tree",
    ),
    (
        "package index unreachable",
        # A cold wheelhouse cache: a cached build needs no index (wheelhouse.sh).
        {"ddns_wheelhouse_cache_dir": tempfile.mkdtemp(prefix="pi-ddns-cold-wheelhouse.")},
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
            "PIP_NO_CACHE_DIR": "1",
            "PIP_RETRIES": "0",
        },
        "Building the wheelhouse on the controller failed",
    ),
]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", **(env or {})},
        cwd=REPO,
    )


def _playbook(
    extra: dict[str, object], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return _run("ansible-playbook", "-i", INVENTORY, "-e", json.dumps(extra), PLAYBOOK, env=env)


def _fingerprint() -> str:
    r = _run(
        "ansible",
        "-i",
        INVENTORY,
        "all",
        "--become",
        "-m",
        "ansible.builtin.shell",
        "-a",
        FINGERPRINT,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def working() -> str:
    """Converge once with the good settings; the fingerprint of that installation."""
    r = _playbook({})
    assert r.returncode == 0, r.stdout[-3000:]
    return _fingerprint()


@pytest.mark.parametrize(
    ("extra", "env", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_fails_early_and_keeps_the_install(
    working: str, extra: dict[str, object], env: dict[str, str], message: str
) -> None:
    r = _playbook(extra, env)
    assert r.returncode != 0
    assert message in re.sub(r"\s+", " ", r.stdout)
    assert _fingerprint() == working


def test_good_input_afterwards_changes_nothing(working: str) -> None:
    r = _playbook({})
    assert r.returncode == 0, r.stdout[-3000:]
    assert re.search(r"\schanged=0\s", r.stdout), r.stdout[-1500:]
