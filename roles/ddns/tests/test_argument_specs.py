"""defaults/main.yml and meta/argument_specs.yml must describe the same inputs.

Same keys, same defaults; a required option has no default and appears in
defaults/main.yml only as a commented-out example. Run: pytest roles/ddns/tests
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROLE = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = ROLE / "defaults" / "main.yml"
PREFIX = "ddns_"


def _defaults() -> dict[str, Any]:
    data = yaml.safe_load(DEFAULTS_FILE.read_text())
    assert isinstance(data, dict)
    return data


def _options() -> dict[str, dict[str, Any]]:
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    assert isinstance(options, dict)
    return options


def _commented_out() -> set[str]:
    """Names shown as `# ddns_x: ...` examples in the defaults file."""
    found = re.findall(rf"^#\s*({PREFIX}\w+):", DEFAULTS_FILE.read_text(), re.MULTILINE)
    return set(found)


DEFAULTS = _defaults()
OPTIONS = _options()
REQUIRED = sorted(k for k, v in OPTIONS.items() if v.get("required"))
OPTIONAL = sorted(k for k, v in OPTIONS.items() if not v.get("required"))


def test_every_input_is_prefixed() -> None:
    assert [k for k in [*DEFAULTS, *OPTIONS] if not k.startswith(PREFIX)] == []


def test_same_optional_inputs() -> None:
    assert sorted(DEFAULTS) == OPTIONAL


def test_required_inputs_are_the_documented_ones() -> None:
    # ddns_zone is optional since records may name their zones (issue 12): check-config
    # names a record that has none.
    assert REQUIRED == ["ddns_cloudflare_api_token", "ddns_records"]


@pytest.mark.parametrize("name", REQUIRED)
def test_required_input_is_only_commented_in_defaults(name: str) -> None:
    assert name not in DEFAULTS
    assert name in _commented_out()
    assert "default" not in OPTIONS[name]


@pytest.mark.parametrize("name", OPTIONAL)
def test_same_default(name: str) -> None:
    # A missing default in the spec means null, as Ansible documents it.
    assert OPTIONS[name].get("default") == DEFAULTS[name]


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_option_is_documented(name: str) -> None:
    option = OPTIONS[name]
    assert option.get("description"), f"{name} has no description"
    assert option.get("type"), f"{name} has no type"
    if option["type"] == "list":
        assert option.get("elements"), f"{name} is a list without elements"


@pytest.mark.parametrize("name", OPTIONAL)
def test_choices_hold_the_default(name: str) -> None:
    if "choices" in OPTIONS[name]:
        assert DEFAULTS[name] in OPTIONS[name]["choices"]


def test_only_the_token_is_secret() -> None:
    assert [k for k, v in OPTIONS.items() if v.get("no_log")] == [
        "ddns_cloudflare_api_token", "ddns_notify_ntfy_token"]


SPEC_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "path": str,
    "bool": bool,
    "int": int,
    "float": (float, int),
    "list": list,
    "dict": dict,
}


@pytest.mark.parametrize("name", OPTIONAL)
def test_default_has_the_spec_type(name: str) -> None:
    value = DEFAULTS[name]
    if value is not None:
        assert isinstance(value, SPEC_TYPES[OPTIONS[name]["type"]])
        assert OPTIONS[name]["type"] == "bool" or not isinstance(value, bool)


def _readme_blocks() -> list[str]:
    """The ```yaml blocks of the README's "Role Variables" section, but for examples of an
    inventory file (a block whose first line names one: `# host_vars/PI.yml: ...`)."""
    text = (ROLE / "README.md").read_text()
    section = text.split("## Role Variables", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    return [b for b in blocks if not re.match(r"# (host|group)_vars/", b)]


def test_readme_inventory_examples_use_only_role_inputs() -> None:
    """The examples set only inputs of the role (and no misspelled one)."""
    text = (ROLE / "README.md").read_text()
    section = text.split("## Role Variables", 1)[1].split("\n## ", 1)[0]
    examples = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
                if re.match(r"# (host|group)_vars/", b)]
    assert examples
    assert sorted({k for e in examples for k in e} - set(OPTIONS)) == []


def test_readme_mirrors_the_defaults() -> None:
    shown: dict[str, Any] = {}
    for block in _readme_blocks():
        shown.update(yaml.safe_load(block) or {})
    assert shown == DEFAULTS


def test_readme_shows_the_required_inputs_commented_out() -> None:
    commented = set(re.findall(rf"^#\s*({PREFIX}\w+):", "".join(_readme_blocks()), re.MULTILINE))
    assert commented == set(REQUIRED)
