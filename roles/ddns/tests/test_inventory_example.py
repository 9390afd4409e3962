"""inventory.example as a fleet: every site uncommented, each Pi resolves its own settings.

The example ships one Pi active and more sites (and records in the dict form) commented out.
Here a copy has every commented site (and record) turned on and its vaults filled in (distinct
values, as a user would), and Ansible itself
(`ansible -m debug`, which contacts no host) resolves each Pi's variables: its own records, its
site's zone and token through the vault indirection, the shared become password.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "inventory.example"
# The ansible next to this Python (the tool venv), else the one on PATH.
ANSIBLE = shutil.which("ansible", path=str(Path(sys.executable).parent)) or "ansible"
KEYS = ["ddns_zone", "ddns_records", "ddns_cloudflare_api_token", "ansible_become_password", "group_names"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    inv = tmp_path_factory.mktemp("fleet") / "inventory"
    shutil.copytree(EXAMPLE, inv)
    hosts = inv / "hosts.yml"
    # "#   hosts:" -> "  hosts:": the commented sites, at their indentation.
    text = re.sub(r"(?m)^( {8})# (\S.*:)$", r"\1\2", hosts.read_text())
    text = re.sub(r"(?m)^( {8})#( {2,}\S.*:)$", r"\1\2", text)
    hosts.write_text(text)
    # "  # - name: ..." and its "  #   key: ..." lines: the commented dict-form records.
    for host_vars in inv.glob("host_vars/*.yml"):
        host_vars.write_text(re.sub(r"(?m)^  # (- name: \S+|  [a-z0-9_]+: \S.*)$", r"  \1",
                                    host_vars.read_text()))
    for vault in inv.glob("group_vars/*/vault.yml"):
        site = vault.parent.name
        vault.write_text(re.sub(r"(?m)^(vault_\w+): CHANGE_ME$", rf"\1: {site}-\1", vault.read_text()))
    # Run in the copy's directory, with no ANSIBLE_CONFIG: Ansible's defaults, no ansible.cfg.
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_CONFIG"}
    env |= {"ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "default", "NO_COLOR": "1"}
    msg = "{{ {" + ", ".join(f"'{k}': {k}" for k in KEYS) + "} }}"
    done = subprocess.run([ANSIBLE, "-i", str(inv), "ddns", "-o", "-m", "ansible.builtin.debug", "-a", f"msg={msg}"],
                          capture_output=True, text=True, env=env, cwd=inv.parent, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # One line per host: "NAME | SUCCESS => {...}".
    lines = [line.split(" | SUCCESS => ", 1) for line in done.stdout.splitlines() if " | SUCCESS => " in line]
    return {host: json.loads(result)["msg"] for host, result in lines}


def test_every_site_of_the_example_is_a_pi_of_the_fleet(fleet: dict[str, dict[str, Any]]) -> None:
    assert sorted(fleet) == ["cabin-pi", "club-pi", "ddns-pi"]
    sites = {host: sorted(set(v["group_names"]) - {"ddns"}) for host, v in fleet.items()}
    assert sites == {"cabin-pi": ["cabin"], "club-pi": ["club"], "ddns-pi": ["home"]}


def test_each_pi_has_its_own_records_inside_its_zone(fleet: dict[str, dict[str, Any]]) -> None:
    seen: set[str] = set()
    for host, v in fleet.items():
        assert v["ddns_records"], host
        for entry in v["ddns_records"]:
            # A name, or a dict with its own settings (and maybe its own zone).
            name, zone = ((entry["name"], entry.get("zone", v["ddns_zone"]))
                          if isinstance(entry, dict) else (entry, v["ddns_zone"]))
            assert name == zone or name.endswith("." + zone), (host, name)
            assert name not in seen, f"{name} is kept by two Pis"
            seen.add(name)


def test_the_example_shows_the_dict_form(fleet: dict[str, dict[str, Any]]) -> None:
    dicts = [e for v in fleet.values() for e in v["ddns_records"] if isinstance(e, dict)]
    assert {"zone", "proxied", "ttl", "comment", "ipv6_host_id"} <= {k for e in dicts for k in e}


def test_the_token_comes_from_the_vault_of_the_pis_site(fleet: dict[str, dict[str, Any]]) -> None:
    # Vault values as the fixture filled them in: "<vault file's group>-<vault variable>".
    tokens = {host: v["ddns_cloudflare_api_token"] for host, v in fleet.items()}
    assert tokens == {"ddns-pi": "ddns-vault_ddns_cloudflare_api_token",
                      "cabin-pi": "ddns-vault_ddns_cloudflare_api_token",
                      "club-pi": "club-vault_club_cloudflare_api_token"}
    assert fleet["club-pi"]["ddns_zone"] == "example.org"
    become = {v["ansible_become_password"] for v in fleet.values()}
    assert become == {"ddns-vault_ansible_become_password"}
