"""The role's API budget settings for each host of a fleet, rendered by Ansible itself.

Run with the tool venv's Python (it has ansible-core), from the repo root:

    .venv/bin/python tests/fleet/role_settings.py HOSTS RECORDS_PER_HOST [VAR=JSON...]

It loads roles/ddns/defaults/main.yml and vars/main.yml as Ansible does and templates, per
host (pi000, pi001, ...), the values the play applies: `throttle`, the paced argv prefixes
of the run and of the trial, and the rendered max_cache_age. One JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLE = Path(__file__).resolve().parents[2] / "roles" / "ddns"
# The same for every host of a fleet whose hosts have the same records and families.
FLEET = ("__ddns_api_throttle", "__ddns_api_paced_run", "__ddns_api_paced_trial",
         "__ddns_api_exempt", "__ddns_api_run_requests", "__ddns_api_trial_requests",
         "__ddns_api_pace", "ddns_api_budget", "ddns_max_cache_age", "ddns_interval",
         "ddns_timer_randomized_delay", "ddns_timer_accuracy")


def render(hosts: int, records: int, extra: dict[str, Any]) -> dict[str, Any]:
    """{"fleet": {var: value}, "max_cache_age": {host: seconds}} as the play renders them."""
    loader = DataLoader()
    base: dict[str, Any] = {}
    for part in ("defaults", "vars"):
        base.update(loader.load_from_file(str(ROLE / part / "main.yml"), trusted_as_template=True))
    names = [f"pi{i:03d}" for i in range(hosts)]

    def host_vars(name: str) -> dict[str, Any]:
        return {**base, "role_path": str(ROLE), "ansible_playbook_python": sys.executable,
                "inventory_hostname": name, "ansible_play_hosts_all": names,
                "ddns_zone": "example.com",
                "ddns_records": [f"{name}-{r}.example.com" for r in range(records)], **extra}

    templar = Templar(loader=loader, variables=host_vars(names[0]))
    fleet = {k: templar.template(trust_as_template("{{ " + k + " }}")) for k in FLEET}
    ages = {}
    expr = trust_as_template("{{ __ddns_max_cache_age }}")
    for name in names:
        templar.available_variables = host_vars(name)
        ages[name] = int(templar.template(expr))
    return {"fleet": fleet, "max_cache_age": ages}


def main(argv: list[str]) -> int:
    hosts, records = int(argv[0]), int(argv[1])
    extra = {k: json.loads(v) for k, _, v in (a.partition("=") for a in argv[2:])}
    json.dump(render(hosts, records, extra), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
