"""The updater is the one authority on its settings and on Cloudflare.

- Every role variable that becomes a config key defaults either to the updater's own
  default (pi_ddns.settings.SETTINGS, read from this checkout's updater/src) or to null,
  which the template leaves out so that the updater's default applies. The same holds for
  the default documented in meta/argument_specs.yml, and the option's type is the setting's.
- The role's YAML makes no HTTP call of its own: every Cloudflare call goes through pi-ddns.

Run: pytest roles/ddns/tests
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROLE = Path(__file__).resolve().parent.parent
REPO = ROLE.parents[1]
sys.path.insert(0, str(REPO / "updater" / "src"))

from pi_ddns.settings import SETTINGS  # noqa: E402 - from this checkout's updater/src

# Role variable -> the config key it is rendered into (templates/config.toml.j2).
MAPPED = {
    "ddns_zone": "zone",
    "ddns_comment_marker": "comment_marker",
    "ddns_adopt": "adopt",
    "ddns_ttl": "ttl",
    "ddns_proxied": "proxied",
    "ddns_max_cache_age": "max_cache_age",
    "ddns_run_timeout": "run_timeout",
    "ddns_healthcheck_url": "healthcheck_url",
    "ddns_metrics_dir": "metrics_dir",
    "ddns_cloudflare_api_url": "cloudflare.api_url",
    "ddns_cloudflare_allow_http": "cloudflare.allow_http",
    "ddns_cloudflare_api_timeout": "cloudflare.timeout",
    "ddns_cloudflare_api_retries": "cloudflare.retries",
    **{f"ddns_ipv{v}_{k}": f"ipv{v}.{k}" for v in (4, 6)
       for k in ("enabled", "policy", "agree", "allow_nonglobal", "timeout")},
    "ddns_notify_webhook_url": "notify.webhook_url",
    "ddns_notify_ntfy_url": "notify.ntfy_url",
    "ddns_notify_kuma_url": "notify.kuma_url",
    "ddns_notify_timeout": "notify.timeout",
    "ddns_propagation_enabled": "propagation.enabled",
    "ddns_propagation_wait": "propagation.wait",
    "ddns_propagation_port": "propagation.port",
}
# Where the role chooses otherwise than the updater, on purpose (and why).
ROLE_CHOICES = {
    # The updater writes no metrics unless told; the role turns them on, on tmpfs, under
    # the unit's RuntimeDirectory=.
    "ddns_metrics_dir": "/run/pi-ddns/metrics",
}
# Config keys the role sets from its own paths, not from a default; and a key inside each
# entry of ddns_records / ddns_ipv4_sources / ddns_ipv6_sources (SETTINGS holds scalars: the
# lists themselves, records, sources and notify.events, are the role's inputs as given).
ROLE_SET = {"state_file", "token_file", "notify.ntfy_token_file",
            "ipv4.sources[].port", "ipv6.sources[].port", "records[].ipv6_prefix_length"}
# argument_specs type -> the Python types a setting's default may have.
TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (float,), "bool": (bool,), "str": (str,), "list": (list, tuple),
}

DEFAULTS: dict[str, Any] = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
OPTIONS: dict[str, dict[str, Any]] = yaml.safe_load(
    (ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]


def _plain(value: Any) -> Any:
    """A setting's default as YAML would hold it (tuples as lists, mappings as dicts)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _same(role: Any, updater: Any) -> bool:
    """Equal, and of the same kind (86400 is not the float setting's 86400.0)."""
    role, updater = _plain(role), _plain(updater)
    if isinstance(updater, bool) or isinstance(role, bool):
        return role is updater
    return type(role) is type(updater) and role == updater


def test_every_mapped_key_is_a_setting() -> None:
    assert sorted(set(MAPPED.values()) - set(SETTINGS)) == []


def test_every_setting_is_mapped_or_set_by_the_role() -> None:
    assert sorted(set(SETTINGS) - set(MAPPED.values()) - ROLE_SET) == []


@pytest.mark.parametrize("name", sorted(set(MAPPED) - set(ROLE_CHOICES)))
@pytest.mark.parametrize("where", ["defaults/main.yml", "argument_specs"])
def test_role_default_is_the_updaters_or_null(name: str, where: str) -> None:
    role = DEFAULTS[name] if where == "defaults/main.yml" else OPTIONS[name].get("default")
    updater = SETTINGS[MAPPED[name]].default
    assert role is None or _same(role, updater), (
        f"{where}: {name} = {role!r}, but the updater's {MAPPED[name]} defaults to "
        f"{updater!r}: use that value, or null for the updater's default")


@pytest.mark.parametrize("name", sorted(ROLE_CHOICES))
def test_role_choices_are_still_choices(name: str) -> None:
    """The exceptions above hold what the role really sets, and really differ."""
    assert DEFAULTS[name] == OPTIONS[name]["default"] == ROLE_CHOICES[name]
    assert not _same(DEFAULTS[name], SETTINGS[MAPPED[name]].default)


@pytest.mark.parametrize("name", sorted(MAPPED))
def test_option_type_fits_the_setting(name: str) -> None:
    default = SETTINGS[MAPPED[name]].default
    kind = OPTIONS[name]["type"]
    if default is not None:
        why = f"{name} is type {kind} in argument_specs; {MAPPED[name]} defaults to {default!r}"
        assert isinstance(default, TYPES[kind]), why
        assert (kind == "int") == (type(default) is int), why


def test_no_range_in_the_role() -> None:
    """Ranges live in the updater only: no min/max test on a mapped variable in the role."""
    mapped = "|".join(MAPPED)
    pattern = re.compile(rf"\b({mapped})\b(\s*\|\s*(int|float))?\s*(<=?|>=?|==)\s*-?\d")
    found = [f"{p.relative_to(ROLE)}: {m.group(0)}"
             for p in sorted((ROLE / "tasks").glob("*.yml"))
             for m in pattern.finditer(p.read_text())]
    assert found == []


def _role_yaml() -> list[Path]:
    return sorted(p for d in ("tasks", "handlers", "defaults", "vars", "meta")
                  for p in (ROLE / d).rglob("*.yml"))


def _modules(node: Any) -> set[str]:
    """Every key of every mapping in a YAML tree (a task's module is one of them)."""
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _modules(v)}
    if isinstance(node, list):
        return {k for v in node for k in _modules(v)}
    return set()


@pytest.mark.parametrize("path", _role_yaml(), ids=lambda p: str(p.relative_to(ROLE)))
def test_no_http_call_from_the_role(path: Path) -> None:
    """No uri module (or a url lookup) in the role: Cloudflare is the updater's business."""
    modules = _modules(yaml.safe_load(path.read_text()))
    assert sorted(m for m in modules if m.split(".")[-1] in ("uri", "get_url")) == []
    assert not re.search(r"lookup\(\s*['\"](ansible\.builtin\.)?url['\"]", path.read_text())
