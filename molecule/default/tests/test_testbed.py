"""The test instance is a card flashed today: the suite of this run, the first user's
groups, sudo only with the password, its own host keys, the journal readable by pi;
and the test bed keeps traffic for the test range off the default route."""

from __future__ import annotations

import errno
import os
import pty
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ddns_testlib import SERVICE, become_password, ephemeral_dir

SUITE = os.environ.get("PI_SUITE", "trixie")
# What each Raspberry Pi OS generation ships: Debian codename -> (Python, systemd).
SHIPS = {"bookworm": ("3.11", "252"), "trixie": ("3.13", "257")}
# Raspberry Pi OS's first user (pi-gen, and Imager's user on a card flashed today).
FIRST_USER_GROUPS = ["adm", "dialout", "cdrom", "sudo", "audio", "video", "plugdev", "games",
                     "users", "input", "render", "netdev", "gpio", "i2c", "spi"]
TEST_RANGE = "10.213.0.0/16"


def address(host: Any) -> str:
    return str(host.backend.get_variables()["ansible_host"])


# --- the suite ---------------------------------------------------------------------------

def test_instance_runs_the_suite_of_this_run(host: Any) -> None:
    assert host.system_info.codename == SUITE


def test_python_of_the_suite(host: Any) -> None:
    assert host.check_output("python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'") == SHIPS[SUITE][0]


def test_systemd_of_the_suite(host: Any) -> None:
    assert host.check_output("systemctl --version").split()[1] == SHIPS[SUITE][1]


# --- the first user --------------------------------------------------------------------------

@pytest.mark.parametrize("group", FIRST_USER_GROUPS)
def test_pi_is_in_the_first_users_group(host: Any, group: str) -> None:
    assert group in host.user("pi").groups


def test_sudo_asks_for_a_password(host: Any) -> None:
    r = host.run("sudo -n true")
    assert r.rc != 0
    assert "password is required" in r.stderr


@pytest.fixture(scope="module")
def inventory_without_password(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This run's inventory without its group_vars: no ansible_become_password."""
    inv = tmp_path_factory.mktemp("inventory") / "hosts.yml"
    shutil.copy(ephemeral_dir() / "inventory" / "ansible_inventory.yml", inv)
    return inv


def ansible_id_u(inventory: Path, *args: str, answer: str | None = None) -> tuple[int, str]:
    """`ansible ddns -b -m command -a 'id -u'` on a terminal, typing `answer` at the
    BECOME password prompt (as a user does with -K); its exit status and output."""
    argv = ["ansible", "ddns", "-i", str(inventory), "-b", "-m", "ansible.builtin.command", "-a", "id -u", *args]
    pid, fd = pty.fork()
    if pid == 0:  # the child: ansible on the terminal (never back into pytest)
        try:
            os.execvpe(argv[0], argv, {**os.environ, "ANSIBLE_NOCOLOR": "1"})
        finally:
            os._exit(127)
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child is gone
            break
        if not chunk:
            break
        out += chunk
        if answer is not None and out.rstrip().endswith(b"BECOME password:"):
            os.write(fd, answer.encode() + b"\n")
            answer = None
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_become_without_the_password_fails(inventory_without_password: Path) -> None:
    rc, out = ansible_id_u(inventory_without_password)
    assert rc != 0
    assert "Missing sudo password" in out, out


def test_ask_become_pass_gives_sudo_the_password(inventory_without_password: Path) -> None:
    """The README's -K (--ask-become-pass): the password typed at the prompt reaches sudo."""
    rc, out = ansible_id_u(inventory_without_password, "--ask-become-pass", answer=become_password())
    assert rc == 0, out
    assert out.rstrip().endswith("0")


def test_a_wrong_password_is_refused(inventory_without_password: Path) -> None:
    rc, out = ansible_id_u(inventory_without_password, "--ask-become-pass", answer="not-" + become_password())
    assert rc != 0
    assert "Incorrect sudo password" in out, out


def test_pi_reads_the_service_journal_without_sudo(host: Any) -> None:
    """The README's check, `journalctl -u pi-ddns.service`, as pi: the same lines as root sees."""
    until = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    cmd = f"journalctl -u {SERVICE} --no-pager -q -o cat --until '{until}'"
    as_pi = host.run(cmd)
    with host.sudo():
        as_root = host.check_output(cmd)
    assert as_pi.rc == 0, as_pi.stderr
    assert as_root.strip() != ""
    assert as_pi.stdout.strip() == as_root.strip()


def test_host_key_is_the_instances_own_and_checked(host: Any) -> None:
    """The instance's ed25519 host key is the one Ansible recorded and checks (known_hosts)."""
    key = host.check_output("cat /etc/ssh/ssh_host_ed25519_key.pub").split()[1]
    known = subprocess.run(["ssh-keygen", "-F", address(host), "-f", str(ephemeral_dir() / "known_hosts")],
                           capture_output=True, text=True, check=False).stdout
    assert key in known


# --- the test range stays off the default route ---------------------------------------------

def route_get(addr: str) -> str:
    return subprocess.run(["ip", "route", "get", addr], capture_output=True, text=True, check=False).stdout + \
        subprocess.run(["ip", "route", "get", addr], capture_output=True, text=True, check=False).stderr


def connect_error(addr: str) -> tuple[int, float]:
    """errno of a TCP connect to addr:22 (0: connected), and how long it took."""
    t0 = time.monotonic()
    with socket.socket() as s:
        s.settimeout(5)
        rc = s.connect_ex((addr, 22))
    return rc, time.monotonic() - t0


def test_test_range_is_unreachable_while_an_instance_exists() -> None:
    out = subprocess.check_output(["ip", "route", "show", "type", "unreachable", TEST_RANGE], text=True)
    assert out.split() == ["unreachable", TEST_RANGE]


def test_instance_is_reached_over_its_own_link(host: Any) -> None:
    addr = address(host)
    assert f"dev pi-h{addr.split('.')[2]} " in route_get(addr)


@pytest.fixture
def link_down(host: Any) -> Iterator[str]:
    """The instance's link (host side of its veth) down, and back up afterwards."""
    addr = address(host)
    dev = f"pi-h{addr.split('.')[2]}"
    subprocess.run(["ip", "link", "set", dev, "down"], check=True)
    try:
        yield addr
    finally:
        subprocess.run(["ip", "link", "set", dev, "up"], check=True)
        deadline = time.monotonic() + 20
        while connect_error(addr)[0] != 0:
            assert time.monotonic() < deadline, f"{addr}:22 unreachable after the link came back"
            time.sleep(0.2)


def test_link_down_traffic_fails_at_once_and_never_takes_the_default_route(link_down: str) -> None:
    route = route_get(link_down)
    rc, took = connect_error(link_down)
    # `ip route get` through the unreachable route: "RTNETLINK answers: No route to host".
    assert "No route to host" in route and " via " not in route, route
    assert rc in (errno.EHOSTUNREACH, errno.ENETUNREACH), errno.errorcode.get(rc, rc)
    assert took < 1.0
