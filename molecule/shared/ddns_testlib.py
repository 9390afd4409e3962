"""What the scenarios' testinfra tests share: the fake's control API, the
scenario settings (vars.yml), and the unit journal printed on a failure.

Each scenario's tests/conftest.py imports the fixtures and the hook from here
(the verifier puts this directory on PYTHONPATH).
"""

from __future__ import annotations

import json
import os
import pathlib
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

SHARED = pathlib.Path(__file__).resolve().parent
SETTINGS: dict[str, Any] = yaml.safe_load((SHARED / "vars.yml").read_text())
VAULT = SHARED / "inventory" / "group_vars" / "ddns" / "vault.yml"
VAULT_PASSWORD = SHARED / "vault-password"
ZONE = SETTINGS["fake_zone"]
RECORD = SETTINGS["fake_record"]
TOKEN = SETTINGS["fake_token"]
FIRST_IPV4 = SETTINGS["fake_ipv4"]
MARKER = "managed-by: pi-ddns"

SERVICE = "pi-ddns.service"
TIMER = "pi-ddns.timer"

# Only the fake on the host side of the test veth is ever contacted: no proxies.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Fake:
    """The fake Cloudflare's control endpoints (/_fake/...), over HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with _OPENER.open(req, timeout=10) as resp:
            return json.load(resp)

    def records(self, name: str = RECORD, rtype: str = "A") -> list[dict[str, Any]]:
        return list(self.call("GET", f"/_fake/records?name={name}&type={rtype}")["records"])

    def set_ipv4(self, address: str) -> None:
        self.call("PUT", "/_fake/ip", {"ipv4": address})

    def ipv4(self) -> str:
        return str(self.call("GET", "/_fake/state")["addresses"]["ipv4"])

    def requests(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "/_fake/requests")
        return result

    def clear_requests(self) -> None:
        self.call("DELETE", "/_fake/requests")

    def wait_for_content(self, content: str, timeout: float) -> tuple[list[dict[str, Any]], float]:
        """Poll until the one record holds `content`; return the records and the seconds it took."""
        t0 = time.monotonic()
        while True:
            recs = self.records()
            if [r["content"] for r in recs] == [content] or time.monotonic() - t0 > timeout:
                return recs, time.monotonic() - t0
            time.sleep(0.5)


def ephemeral_dir() -> pathlib.Path:
    return pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])


def fake_for(host: Any) -> Fake:
    """The fake serving this instance; its ready line was saved by create.yml."""
    name = host.backend.get_hostname()
    ready = json.loads((ephemeral_dir() / f"fake-{name}.json").read_text().splitlines()[0])
    return Fake(ready["url"])


@pytest.fixture(scope="module")
def fake(host: Any) -> Fake:
    return fake_for(host)


def become_password() -> str:
    """pi's sudo password, decrypted from the scenarios' vault as Ansible does."""
    from ansible.constants import DEFAULT_VAULT_ID_MATCH
    from ansible.parsing.vault import VaultLib, VaultSecret

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]
    data = yaml.load(VAULT.read_text(), Loader=Loader)  # noqa: S506 - SafeLoader plus one tag
    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(VAULT_PASSWORD.read_bytes().strip()))])
    return vault.decrypt(data["vault_ansible_become_password"]).decode()


@pytest.fixture(scope="module", autouse=True)
def sudo_with_the_password(host: Any) -> None:
    """Make testinfra's `host.sudo()` type pi's password, as a user's sudo does: the
    instances have no passwordless sudo (a card flashed today). The password goes to
    `sudo -S` on stdin, through the remote shell's printf. Before any `host.sudo()` is
    entered: the context captures the backend's sudo command when it starts."""
    backend = host.backend
    if getattr(backend, "pi_password_sudo", False):
        return
    password = become_password()

    def get_sudo_command(command: str, sudo_user: str | None) -> str:
        user = "" if sudo_user is None else backend.quote("-u %s ", sudo_user)
        return str(backend.quote("printf '%%s\\n' %s | sudo -S -p '' " + user.replace("%", "%%")
                                 + "/bin/sh -c %s", password, command))

    backend.get_sudo_command = get_sudo_command
    backend.pi_password_sudo = True


@pytest.fixture(scope="module")
def sudo_host(host: Any, sudo_with_the_password: None) -> Iterator[Any]:
    """The host with every command run through sudo (paths under 0700/0750 dirs)."""
    with host.sudo():
        yield host


def journal(host: Any, unit: str = SERVICE, lines: int = 80) -> str:
    with host.sudo():
        return str(host.run(f"journalctl --no-pager -n {lines} -u {unit} -u {TIMER}").stdout)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure, attach the units' journal to the report, so CI logs show why."""
    outcome = yield
    report = outcome.get_result()
    host = getattr(item, "funcargs", {}).get("host")
    if report.failed and host is not None:
        try:
            report.sections.append((f"journal of {SERVICE}", journal(host)))
        except Exception as err:  # the instance may be the reason; never hide the failure
            report.sections.append((f"journal of {SERVICE}", f"unavailable: {err}"))
