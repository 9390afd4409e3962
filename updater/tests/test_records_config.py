"""Record tables (issue 12): per-record zone, type, ttl, proxied, comment, and IPv6 host records.

The simple form keeps working (test_config.py); here the table form, its check-config rules
(every message names the key: `FILE: records[2].ipv6_host_id: ...`, exit 78), and properties
of the interface-ID arithmetic over any MAC, any interface ID and any prefix length.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import Env
from pi_ddns import config, hostid
from pi_ddns.config import RecordConfig
from pi_ddns.errors import EX_CONFIG, ConfigError

F = Path("/etc/pi-ddns/config.toml")
MARKER = "managed-by: pi-ddns"
V6 = "\n[ipv6]\nenabled = true\n"


def parse(text: str) -> config.Config:
    return config.parse(text, F)


def records(*entries: str, zone: str | None = "example.com", tail: str = V6) -> str:
    top = f'zone = "{zone}"\n' if zone else ""
    return top + "records = [\n  " + ",\n  ".join(entries) + ",\n]\n" + tail


def test_the_schemas_example_parses_to_one_entry_per_name_and_type() -> None:
    c = parse(records(
        '"home.example.com"',
        '{ name = "blog.example.org", zone = "example.org", proxied = true, ttl = 1, '
        'comment = "blog" }',
        '{ name = "nas.example.com", ipv6_host_id = "::1234" }',
        '{ name = "nas.example.com", type = "A" }',
        '{ name = "printer.example.com", ipv6_mac = "00:11:22:33:44:55", '
        "ipv6_prefix_length = 56 }"))
    assert c.zones == ("example.com", "example.org")
    assert c.records == (
        RecordConfig("home.example.com", "A", "example.com", None, None, None),
        RecordConfig("home.example.com", "AAAA", "example.com", None, None, None),
        RecordConfig("blog.example.org", "A", "example.org", 1, True, f"{MARKER} blog"),
        RecordConfig("blog.example.org", "AAAA", "example.org", 1, True, f"{MARKER} blog"),
        RecordConfig("nas.example.com", "AAAA", "example.com", None, None, None, 0x1234, 64),
        RecordConfig("nas.example.com", "A", "example.com", None, None, None),
        RecordConfig("printer.example.com", "AAAA", "example.com", None, None, None,
                     0x021122FFFE334455, 56),
    )


def test_a_table_takes_the_top_level_settings_unless_it_sets_its_own() -> None:
    c = parse('ttl = 300\nproxied = false\n' + records(
        '{ name = "a.example.com", type = "A" }', '{ name = "b.example.com", ttl = 600 }',
        tail=""))
    assert [(r.name, r.ttl, r.proxied) for r in c.records] == [
        ("a.example.com", 300, False), ("b.example.com", 600, False)]


def test_the_top_level_zone_is_optional_when_every_record_names_its_own() -> None:
    c = parse(records('{ name = "a.example.org", zone = "example.org" }', zone=None, tail=""))
    assert c.zone is None
    assert c.zones == ("example.org",)


def test_array_of_tables_form() -> None:
    c = parse('zone = "example.com"\n\n[[records]]\nname = "a.example.com"\ntype = "A"\n\n'
              '[[records]]\nname = "b.example.net"\nzone = "example.net"\nproxied = true\n')
    assert [(r.name, r.zone, r.proxied) for r in c.records] == [
        ("a.example.com", "example.com", None), ("b.example.net", "example.net", True)]


LONGEST = "c" * (100 - len(MARKER) - 1)

ERRORS: list[tuple[str, str, str]] = [
    ("no zone anywhere", records('{ name = "a.example.com" }', zone=None),
     "records[0].zone: is required: no top-level zone is set"),
    ("plain name, no zone", records('"a.example.com"', zone=None), "zone: is required"),
    ("name missing", records('{ type = "A" }'), "records[0].name: is required"),
    ("name outside its zone", records('"a.example.com"', '{ name = "a.example.com", '
                                      'zone = "example.org" }'),
     "records[1].name: 'a.example.com' is not inside the zone 'example.org'"),
    ("wildcard zone", records('{ name = "a.example.com", zone = "*.example.com" }'),
     "records[0].zone: '*.example.com' is not a domain name"),
    ("zone with underscore", records('{ name = "a.ex_ample.com", zone = "ex_ample.com" }'),
     "records[0].zone: 'ex_ample.com' is not a domain name"),
    ("unknown key", records('{ name = "a.example.com", ttl_s = 3 }'),
     "records[0].ttl_s: unknown key"),
    ("bad type", records('{ name = "a.example.com", type = "CNAME" }'),
     "records[0].type: must be \"A\" or \"AAAA\", not 'CNAME'"),
    ("type of a disabled family", records('{ name = "a.example.com", type = "AAAA" }', tail=""),
     "records[0].type: is 'AAAA', but IPv6 is disabled"),
    ("listed twice", records('"a.example.com"', '{ name = "a.example.com", type = "AAAA" }'),
     "records[1]: 'a.example.com' (AAAA) is listed twice"),
    ("listed twice across zones", records('{ name = "a.example.com", type = "A" }',
                                          '{ name = "A.example.com.", type = "A" }'),
     "records[1]: 'a.example.com' (A) is listed twice"),
    ("bad ttl", records('{ name = "a.example.com", ttl = 30 }'),
     "records[0].ttl: must be 1 (automatic) or 60..86400, not 30"),
    ("bool proxied", records('{ name = "a.example.com", proxied = "yes" }'),
     "records[0].proxied: must be true or false, not a string"),
    ("comment too long", records('{ name = "a.example.com", comment = "' + LONGEST + 'x" }'),
     "records[0].comment: must be printable, and with the marker"),
    ("comment with a newline", records('{ name = "a.example.com", comment = "a\\nb" }'),
     "records[0].comment: must be printable"),
    ("empty comment", records('{ name = "a.example.com", comment = "" }'),
     "records[0].comment: must be non-empty"),
    ("entry of another kind", records("3"), "records[0]: must be a name or a table, not an"),
    ("host record of type A", records('{ name = "a.example.com", type = "A", '
                                      'ipv6_host_id = "::1" }'),
     "records[0].type: is \"A\", but a host record"),
    ("host record without IPv6", records('{ name = "a.example.com", ipv6_host_id = "::1" }',
                                         tail=""),
     "records[0].ipv6_host_id: a host record takes the detected IPv6 prefix"),
    ("MAC host record without IPv6",
     records('{ name = "a.example.com", ipv6_mac = "00:11:22:33:44:55" }', tail=""),
     "records[0].ipv6_mac: a host record takes"),
    ("both host ids", records('{ name = "a.example.com", ipv6_host_id = "::1", '
                              'ipv6_mac = "00:11:22:33:44:55" }'),
     "records[0].ipv6_mac: and ipv6_host_id are both set"),
    ("prefix length alone", records('{ name = "a.example.com", ipv6_prefix_length = 56 }'),
     "records[0].ipv6_prefix_length: is set, but neither"),
    ("prefix length 0", records('{ name = "a.example.com", ipv6_host_id = "::1", '
                                "ipv6_prefix_length = 0 }"),
     "records[0].ipv6_prefix_length: must be between 1 and 127, not 0"),
    ("prefix length 128", records('{ name = "a.example.com", ipv6_host_id = "::1", '
                                  "ipv6_prefix_length = 128 }"),
     "records[0].ipv6_prefix_length: must be between 1 and 127, not 128"),
    ("host id not an address", records('"b.example.com"', '{ name = "a.example.com", '
                                       'ipv6_host_id = "1234" }'),
     "records[1].ipv6_host_id: '1234' is not an IPv6 interface ID"),
    ("host id with a zone index", records('{ name = "a.example.com", '
                                          'ipv6_host_id = "::1%eth0" }'),
     "records[0].ipv6_host_id: '::1%eth0' has a zone index"),
    ("host id inside the prefix", records('"b.example.com"', '"c.example.com"',
                                          '{ name = "a.example.com", '
                                          'ipv6_host_id = "2001:db8::1" }'),
     "records[2].ipv6_host_id: sets bits inside the first 64 bits"),
    ("host id zero", records('{ name = "a.example.com", ipv6_host_id = "::" }'),
     "records[0].ipv6_host_id: is all zeros after the first 64 bits"),
    ("MAC too short", records('{ name = "a.example.com", ipv6_mac = "00:11:22:33:44" }'),
     "records[0].ipv6_mac: '00:11:22:33:44' is not a MAC address"),
    ("MAC mixed separators",
     records('{ name = "a.example.com", ipv6_mac = "00:11-22:33:44:55" }'),
     "records[0].ipv6_mac: '00:11-22:33:44:55' is not a MAC address"),
    ("MAC inside a long prefix",
     records('{ name = "a.example.com", ipv6_mac = "00:11:22:33:44:55", '
             "ipv6_prefix_length = 80 }"),
     "records[0].ipv6_mac: sets bits inside the first 80 bits"),
]


@pytest.mark.parametrize(("text", "fragment"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_record_table_errors_name_the_key(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(text)
    assert str(err.value).startswith(f"{F}: {fragment}"), str(err.value)
    assert err.value.exit_code == EX_CONFIG


def test_the_longest_comment_cloudflare_takes_is_accepted() -> None:
    c = parse(records('{ name = "a.example.com", comment = "' + LONGEST + '" }'))
    comment = c.records[0].comment
    assert comment is not None
    assert len(comment) == 100


def test_check_config_prints_the_zones_and_exits_78_naming_the_key(env: Env) -> None:
    env.write_config(records=["home.example.com", {"name": "blog.example.org",
                                                   "zone": "example.org"}])
    result = env.run(["check-config"])
    assert result.code == 0, result.err
    assert ": ok: zones example.com, example.org, 2 record(s), IPv4 via 1 source(s)" in result.out
    env.write_config(records=["home.example.com", "x.example.com",
                              {"name": "nas.example.com", "ipv6_host_id": "2001:db8::1"}],
                     ipv6={"enabled": True})
    result = env.run(["check-config"])
    assert result.code == EX_CONFIG
    assert result.lines == [f"pi-ddns: error: {env.config_path}: records[2].ipv6_host_id: sets "
                            "bits inside the first 64 bits, where the detected prefix goes "
                            "(ipv6_prefix_length); give only the host's part"]


# ---- properties of the interface-ID arithmetic -----------------------------------------------

macs = st.binary(min_size=6, max_size=6)


def independent_eui64(mac: bytes) -> int:
    """RFC 4291 appendix A, on the 48-bit number: the OUI half, then 0xFFFE, then the rest,
    with the universal/local bit (bit 1 of the first octet: bit 57 of 64) inverted."""
    n = int.from_bytes(mac, "big")
    eui = ((n >> 24) << 40) | (0xFFFE << 24) | (n & 0xFFFFFF)
    return eui ^ (1 << 57)


@given(macs, st.sampled_from([":", "-"]), st.booleans())
def test_property_any_mac_gives_the_rfc_4291_eui64(mac: bytes, sep: str, upper: bool) -> None:
    text = sep.join(f"{b:02X}" if upper else f"{b:02x}" for b in mac)
    assert hostid.eui64(text) == independent_eui64(mac)
    c = parse(records(f'{{ name = "nas.example.com", ipv6_mac = "{text}" }}'))
    assert c.records[0].host_id == independent_eui64(mac)


global_v6 = st.integers(0, (1 << 125) - 1).map(lambda n: ipaddress.IPv6Address((1 << 125) | n))


@given(macs, global_v6, st.integers(1, 64))
def test_property_a_mac_host_keeps_the_prefix_bits_and_the_id_bits(
        mac: bytes, detected: ipaddress.IPv6Address, length: int) -> None:
    eui = independent_eui64(mac)
    host = int(hostid.combine(detected, length, eui))
    assert host >> (128 - length) == int(detected) >> (128 - length)
    assert host & ((1 << (128 - length)) - 1) == eui


@given(st.integers(0, (1 << 128) - 1), st.integers(1, 127), global_v6)
def test_property_any_id_and_length_is_a_key_error_or_exactly_prefix_plus_id(
        ident: int, length: int, detected: ipaddress.IPv6Address) -> None:
    text = records(f'{{ name = "nas.example.com", ipv6_host_id = '
                   f'"{ipaddress.IPv6Address(ident)}", ipv6_prefix_length = {length} }}')
    if ident >> (128 - length) or ident == 0:  # a bit inside the prefix, or ::
        with pytest.raises(ConfigError, match=r"^/etc/pi-ddns/config\.toml: records\[0\]"
                           r"\.ipv6_host_id: "):
            parse(text)
        return
    [r] = parse(text).records
    assert r.host_id == ident
    assert r.prefix_length == length
    host = int(hostid.combine(detected, length, ident))
    assert host >> (128 - length) == int(detected) >> (128 - length)  # the prefix's bits
    assert host & ((1 << (128 - length)) - 1) == ident  # and the ID's bits, exactly


# ---- any record table: a config or one error naming a key of that table ----------------------

RECORD_KEYS = ["name", "zone", "type", "ttl", "proxied", "comment", "ipv6_host_id", "ipv6_mac",
               "ipv6_prefix_length", "other"]
table_values = (st.none() | st.booleans() | st.integers(-2, 200) | st.floats(allow_nan=True)
                | st.sampled_from(["a.example.com", "example.org", "A", "AAAA", "::1", "::",
                                   "2001:db8::1", "00:11:22:33:44:55", "0:1:2:3:4:5", "x y",
                                   "*.example.com", "", " a", "é.example.com"])
                | st.text(max_size=8) | st.lists(st.integers(), max_size=2))


@given(st.dictionaries(st.sampled_from(RECORD_KEYS), table_values, max_size=6),
       st.booleans(), st.booleans())
def test_property_any_record_table_is_a_record_or_an_error_naming_its_key(
        table: dict[str, object], top_zone: bool, ipv6: bool) -> None:
    from conftest import toml_value

    entries = {k: v for k, v in table.items() if v is not None}
    try:
        entry = toml_value(entries)
    except TypeError:
        return
    text = (('zone = "example.com"\n' if top_zone else "") + f"records = [{entry}]\n"
            + (V6 if ipv6 else ""))
    try:
        c = parse(text)
    except ConfigError as e:
        message = str(e)
        assert message.startswith((f"{F}: records[0].", f"{F}: records[0]: ", f"{F}: invalid TOML",
                                   f"{F}: zone: ")), message
        assert "\n" not in message
        return
    assert c.records
    for r in c.records:
        assert r.name == r.zone or r.name.endswith("." + r.zone)
        assert r.type in ("A", "AAAA")
        assert r.host_id is None or (r.type == "AAAA" and r.host_id > 0
                                     and not r.host_id >> (128 - r.prefix_length))
        assert r.comment is None or (r.comment.startswith(MARKER + " ") and len(r.comment) <= 100)
