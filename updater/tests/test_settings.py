"""settings.SETTINGS is the one place of defaults and ranges: config.parse follows it exactly.

Every key is checked: an unset key gets the table's default, the bounds themselves are
accepted, and a value just past either bound is refused naming the key. So a default or range
written anywhere else in config.py would make one of these fail.
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pi_ddns import config, settings
from pi_ddns.errors import ConfigError
from pi_ddns.settings import AUTOMATIC_TTL, SETTINGS

F = Path("/etc/pi-ddns/config.toml")
ZONE = 'zone = "example.com"\nrecords = ["home.example.com"]\n'
DNS = '{ type = "dns", name = "myip.opendns.com", server = "192.0.2.53" }'


def host_record(extra: str = "") -> str:
    """A config with one host record (its table's keys are `records[].KEY` in SETTINGS)."""
    return ('zone = "example.com"\nrecords = [{ name = "nas.example.com", ipv6_host_id = "::1"'
            f'{extra} }}]\n[ipv6]\nenabled = true\n')


def value_in(cfg: config.Config, key: str) -> Any:
    """The parsed value of a SETTINGS key (a Path as str)."""
    if key.startswith("records[]."):
        return getattr(cfg.records[0], key.removeprefix("records[].ipv6_"))
    if key.endswith("sources[].port"):
        family = cfg.ipv4 if key.startswith("ipv4") else cfg.ipv6
        source = family.sources[0]
        assert isinstance(source, config.DnsSource)
        return source.port
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return str(obj) if isinstance(obj, Path) else obj


def render(key: str, value: Any) -> str:
    """A minimal config that sets `key` to `value` (TOML)."""
    text = repr(value).lower() if isinstance(value, bool) else (
        f'"{value}"' if isinstance(value, str) else repr(value))
    if key.startswith("records[]."):
        return host_record(f", {key.removeprefix('records[].')} = {text}")
    if key.endswith("sources[].port"):
        table = key.split(".", maxsplit=1)[0]
        source = DNS.replace(" }", f", port = {text} }}")
        return ZONE + f"[{table}]\nenabled = true\nsources = [{source}]\n"
    table, _, name = key.rpartition(".")
    return ZONE + (f"[{table}]\n" if table else "") + f"{name} = {text}\n"


def parse(text: str) -> config.Config:
    return config.parse(text, F)


def test_table_shape() -> None:
    assert SETTINGS
    for key, s in SETTINGS.items():
        assert s._fields == ("kind", "default", "minimum", "maximum")
        assert s.kind in (int, float, bool, str), key
        assert s.default is None or type(s.default) is s.kind, key
        if s.kind in (int, float) and s.default is not None:
            assert s.minimum is not None
            assert s.maximum is not None
            assert s.minimum <= s.default <= s.maximum, key
        if s.kind is bool:
            assert (s.minimum, s.maximum) == (None, None), key


def test_settings_is_a_stdlib_leaf() -> None:
    """The role's test imports it from updater/src: nothing but the standard library."""
    tree = ast.parse(Path(settings.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "typing"}


@pytest.mark.parametrize("key", sorted(SETTINGS))
def test_unset_key_gets_the_tables_default(key: str) -> None:
    if key == "zone":
        return  # required
    text = host_record() if key.startswith("records[].") else ZONE
    if key.endswith("sources[].port"):
        table = key.split(".", maxsplit=1)[0]
        text = ZONE + f"[{table}]\nenabled = true\nsources = [{DNS}]\n"
    assert value_in(parse(text), key) == SETTINGS[key].default


NUMERIC = sorted(k for k, s in SETTINGS.items() if s.kind in (int, float))


@pytest.mark.parametrize("key", NUMERIC)
def test_the_bounds_are_accepted_and_just_past_them_refused(key: str) -> None:
    s = SETTINGS[key]
    assert s.minimum is not None
    assert s.maximum is not None
    for bound in (s.minimum, s.maximum):
        value = s.kind(bound)
        assert value_in(parse(render(key, value)), key) == value
    step = 1 if s.kind is int else 1e-6
    for outside in (s.minimum - step, s.maximum + step):
        if key == "ttl" and outside == AUTOMATIC_TTL:
            continue
        where = re.escape(key.replace("[]", "[0]"))
        with pytest.raises(ConfigError, match=f": {where}: must be"):
            parse(render(key, s.kind(outside)))


@given(key=st.sampled_from(NUMERIC), value=st.floats(allow_nan=True) | st.integers())
def test_property_any_number_is_accepted_exactly_inside_the_range(key: str, value: Any) -> None:
    s = SETTINGS[key]
    assert s.minimum is not None
    assert s.maximum is not None
    if s.kind is int and not isinstance(value, int):
        return  # a float for an int: a type error, tested in test_config
    if isinstance(value, float) and math.isinf(value):
        return  # TOML writes inf, repr() does not
    text = render(key, value)
    inside = s.minimum <= value <= s.maximum or (key == "ttl" and value == AUTOMATIC_TTL)
    if not inside:
        with pytest.raises(ConfigError, match=": must be "):
            parse(text)
        return
    assert value_in(parse(text), key) == value


def test_a_string_longer_than_its_maximum_is_refused() -> None:
    for key, s in SETTINGS.items():
        if s.kind is not str or s.maximum is None:
            continue
        assert value_in(parse(render(key, "m" * int(s.maximum))), key) == "m" * int(s.maximum)
        with pytest.raises(ConfigError, match=f": {key}: must be"):
            parse(render(key, "m" * (int(s.maximum) + 1)))
