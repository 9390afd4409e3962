"""Config and token loading: defaults, every kind of error names file + key + reason."""

from __future__ import annotations

import contextlib
import ipaddress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import TOKEN, Env, toml_dumps
from pi_ddns import config, credential
from pi_ddns.config import DnsSource, HttpSource, StaticSource, TraceSource
from pi_ddns.errors import EX_CONFIG, ConfigError

F = Path("/etc/pi-ddns/config.toml")
MINIMAL = 'zone = "example.com"\nrecords = ["home.example.com"]\n'


def parse(text: str) -> config.Config:
    return config.parse(text, F)


def test_minimal_config_gets_the_documented_defaults() -> None:
    c = parse(MINIMAL)
    assert c.zone == "example.com"
    assert c.records == (config.RecordConfig("home.example.com", "A", "example.com", None, None,
                                             None),)
    assert c.comment_marker == "managed-by: pi-ddns"
    assert (c.adopt, c.ttl, c.proxied) == (False, None, None)
    assert c.state_file == Path("/var/lib/pi-ddns/state.json")
    assert c.max_cache_age == 86400
    assert c.cloudflare == config.Cloudflare("https://api.cloudflare.com/client/v4", 10.0, 1,
                                             False)
    assert c.ipv4.enabled
    assert not c.ipv6.enabled
    assert (c.ipv4.policy, c.ipv4.agree, c.ipv4.timeout) == ("first", 2, 5.0)
    assert c.ipv4.sources == (TraceSource("https://1.1.1.1/cdn-cgi/trace"),
                              HttpSource("https://api.ipify.org"))
    assert c.ipv6.sources[0] == TraceSource("https://[2606:4700:4700::1111]/cdn-cgi/trace")
    assert [f.rtype for f in c.families] == ["A"]


def test_full_config() -> None:
    c = parse(MINIMAL.replace("records", "adopt = true\nttl = 300\nproxied = false\nrecords") + """
[ipv6]
enabled = true
policy = "agree"
agree = 2
sources = [{ type = "dns", preset = "opendns" }, { type = "dns", preset = "cloudflare" },
           { type = "static", address = "2a01:4f8:c0c:1::1" }]
[ipv4]
sources = [{ type = "dns", preset = "opendns", server = "127.0.0.1", port = 5353 },
           { type = "interface", name = "eth0" }, { type = "command", argv = ["/bin/echo", "x"] }]
""")
    assert (c.adopt, c.ttl, c.proxied) == (True, 300, False)
    assert [f.rtype for f in c.families] == ["A", "AAAA"]
    assert c.ipv6.sources[0] == DnsSource(ipaddress.ip_address("2620:119:35::35"),
                                          "myip.opendns.com", "AAAA", "IN", 53)
    assert c.ipv6.sources[1] == DnsSource(ipaddress.ip_address("2606:4700:4700::1111"),
                                          "whoami.cloudflare", "TXT", "CH", 53)
    assert c.ipv6.sources[2] == StaticSource(ipaddress.ip_address("2a01:4f8:c0c:1::1"))
    assert c.ipv4.sources[0] == DnsSource(ipaddress.ip_address("127.0.0.1"),
                                          "myip.opendns.com", "A", "IN", 5353)


def test_names_are_normalised_and_the_apex_is_allowed() -> None:
    c = parse('zone = "Example.COM."\nrecords = ["example.com", "Home.Example.com."]\n')
    assert c.zone == "example.com"
    assert c.names == ("example.com", "home.example.com")


ERRORS: list[tuple[str, str, str]] = [
    # (id, config text, expected message fragment after the file name)
    ("unknown top key", MINIMAL + "zones = 1\n", "zones: unknown key"),
    ("unknown nested key", MINIMAL + "[cloudflare]\napi_uri = \"x\"\n",
     "cloudflare.api_uri: unknown key"),
    ("unknown source key",
     MINIMAL + '[ipv4]\nsources = [{ type = "http", url = "http://a", x = 1 }]\n',
     "ipv4.sources[0].x: unknown key"),
    ("unknown source type", MINIMAL + '[ipv4]\nsources = [{ type = "ftp" }]\n',
     "ipv4.sources[0].type: unknown source type 'ftp'"),
    ("missing zone", 'records = ["a.example.com"]\n', "zone: is required"),
    ("missing records", 'zone = "example.com"\n', "records: must be a non-empty array"),
    ("wrong type", MINIMAL + 'adopt = "yes"\n', "adopt: must be true or false, not a string"),
    ("int for bool", MINIMAL + "proxied = 1\n", "proxied: must be true or false"),
    ("bool for int", MINIMAL + "ttl = true\n", "ttl: must be an integer, not a boolean"),
    ("record outside zone", 'zone = "example.com"\nrecords = ["home.example.org"]\n',
     "records[0]: 'home.example.org' is not inside the zone 'example.com'"),
    ("suffix is not a subdomain", 'zone = "example.com"\nrecords = ["badexample.com"]\n',
     "records[0]: 'badexample.com' is not inside the zone"),
    ("duplicate record", 'zone = "example.com"\nrecords = ["a.example.com", "a.example.com"]\n',
     "records[1]: 'a.example.com' is listed twice"),
    ("bad name", 'zone = "example.com"\nrecords = ["a b.example.com"]\n',
     "records[0]: 'a b.example.com' is not a valid DNS name"),
    ("bad ttl", MINIMAL + "ttl = 10\n",
     "ttl: must be 1 (automatic) or 60..86400, not 10 (only Enterprise"),
    ("huge ttl", MINIMAL + "ttl = 100000\n", "ttl: must be 1 (automatic) or 60..86400, not 100000"),
    ("bad policy", MINIMAL + '[ipv4]\npolicy = "most"\n', "ipv4.policy: must be"),
    ("agree > sources", MINIMAL + '[ipv4]\npolicy = "agree"\nagree = 3\n',
     "ipv4.agree: is 3 but there are only 2 sources"),
    ("no family", MINIMAL + "[ipv4]\nenabled = false\n", "ipv4.enabled: ipv4 and ipv6 are both"),
    ("bad url", MINIMAL + '[ipv4]\nsources = [{ type = "http", url = "ftp://x" }]\n',
     "ipv4.sources[0].url: 'ftp://x' is not an http:// or https:// URL"),
    ("static wrong family", MINIMAL + '[ipv4]\nsources = [{ type = "static", address = "::1" }]\n',
     "ipv4.sources[0].address: ::1 is not an IPv4 address"),
    ("dns AAAA for v4", MINIMAL + '[ipv4]\nsources = [{ type = "dns", preset = "opendns", '
     'rrtype = "AAAA" }]\n', "ipv4.sources[0].rrtype: must be A or TXT for IPv4"),
    ("dns server not an IP", MINIMAL + '[ipv4]\nsources = [{ type = "dns", name = "x.example", '
     'server = "ns.example" }]\n', "ipv4.sources[0].server: 'ns.example' is not an IP address"),
    ("command shell string",
     MINIMAL + '[ipv4]\nsources = [{ type = "command", argv = "curl x" }]\n',
     "ipv4.sources[0].argv: must be a non-empty array of strings"),
    ("timeout zero", MINIMAL + "[cloudflare]\ntimeout = 0\n",
     "cloudflare.timeout: must be between"),
    ("nan timeout", MINIMAL + "[ipv4]\ntimeout = nan\n", "ipv4.timeout: must be between"),
    ("table expected", MINIMAL + "cloudflare = 3\n", "cloudflare: must be a table"),
    ("invalid toml", "zone = \n", "invalid TOML"),
    ("empty marker", MINIMAL + 'comment_marker = ""\n', "comment_marker: must be non-empty"),
]


@pytest.mark.parametrize(("text", "fragment"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_config_errors_name_file_key_and_reason(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(text)
    assert str(err.value).startswith(f"{F}: ")
    assert fragment in str(err.value)
    assert err.value.exit_code == EX_CONFIG


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing.toml: cannot read the config: No such file"):
        config.load(tmp_path / "missing.toml")


# ---- the token -------------------------------------------------------------------------------

def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def token(cfg: Path, env: dict[str, str]) -> str:
    return credential.cloudflare_token(config.load(cfg), env)


def test_token_order(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    write(creds / "cloudflare-token", "from-credentials-0123456789\n")
    token_file = write(tmp_path / "token", "from-file-0123456789abcdef\n")
    cfg = write(tmp_path / "c.toml", MINIMAL + f'token_file = "{token_file}"\n')
    env = {"CREDENTIALS_DIRECTORY": str(creds), "CLOUDFLARE_API_TOKEN": "from-env-0123456789abcdef"}
    assert token(cfg, env) == "from-credentials-0123456789"
    del env["CREDENTIALS_DIRECTORY"]
    assert token(cfg, env) == "from-file-0123456789abcdef"
    token_file.unlink()
    assert token(cfg, env) == "from-env-0123456789abcdef"
    assert credential.find(None, env) == ("from-env-0123456789abcdef", "$CLOUDFLARE_API_TOKEN")
    with pytest.raises(ConfigError, match="no API token: put it in"):
        token(cfg, {})


@pytest.mark.parametrize(("content", "why"), [
    ("", "the token is empty"),
    ("\n", "the token is empty"),
    (f'"{TOKEN}"\n', "the token is quoted"),
    (f"'{TOKEN}'", "the token is quoted"),
    (f"CLOUDFLARE_API_TOKEN={TOKEN}\n", "looks like a KEY=value line"),
    (f"{TOKEN}\n{TOKEN}\n", "whitespace or control characters"),
    (f"{TOKEN[:5]} {TOKEN[5:]}", "whitespace or control characters"),
    ("tökén", "non-ASCII"),
])
def test_bad_token_files(tmp_path: Path, content: str, why: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_bytes(content.encode())
    token_file.chmod(0o600)
    cfg = write(tmp_path / "c.toml", MINIMAL + f'token_file = "{token_file}"\n')
    with pytest.raises(ConfigError) as err:
        token(cfg, {})
    assert str(err.value).startswith(f"{token_file}: ")
    assert why in str(err.value)
    assert TOKEN[3:] not in str(err.value)


def test_bad_token_in_environment(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", MINIMAL)
    with pytest.raises(ConfigError, match=r"\$CLOUDFLARE_API_TOKEN: the token is quoted"):
        token(cfg, {"CLOUDFLARE_API_TOKEN": f'"{TOKEN}"'})


def test_unreadable_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.mkdir()  # reading a directory fails even as root
    cfg = write(tmp_path / "c.toml", MINIMAL + f'token_file = "{token_file}"\n')
    with pytest.raises(ConfigError, match="refusing the token file: a directory, not a regular"):
        token(cfg, {})


def test_group_readable_token_file_warns(env: Env) -> None:
    env.write_token(TOKEN, mode=0o644)
    result = env.run(["check-config"])
    assert result.code == 0
    assert "readable by group or others; chmod 0600" in result.err
    assert TOKEN not in result.err + result.out


def test_the_config_holds_no_token(tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The token is not the config's: credential.py hands it only to who needs it."""
    token_file = write(tmp_path / "token", TOKEN + "\n")
    cfg = write(tmp_path / "c.toml", MINIMAL + f'token_file = "{token_file}"\n')
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    loaded = config.load(cfg)
    assert not any("token" in f and f != "token_file" for f in loaded._fields)
    assert TOKEN not in repr(loaded)
    assert token(cfg, {}) == TOKEN


# ---- check-config through the CLI ------------------------------------------------------------

def test_check_config_ok_without_a_token(env: Env) -> None:
    env.token_path.unlink()
    result = env.run(["check-config", "--config", str(env.config_path)])
    assert result.code == 0
    assert "ok" in result.out
    assert "no token found yet" in result.out


def test_check_config_reports_the_error(env: Env) -> None:
    env.write_config(ttl=5)
    result = env.run(["check-config"])
    assert result.code == EX_CONFIG
    assert result.lines == [f"pi-ddns: error: {env.config_path}: ttl: must be 1 (automatic) or "
                            "60..86400, not 5 (only Enterprise zones take 30..59, and pi-ddns "
                            "does not support it)"]


def test_config_from_environment_variable(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PI_DDNS_CONFIG", str(env.config_path))
    from pi_ddns import cli

    assert cli.main(["check-config"]) == 0


# ---- property: any TOML-ish input is a Config or a ConfigError --------------------------------

scalars = st.one_of(st.booleans(), st.integers(-10, 100000), st.floats(allow_nan=True),
                    st.text(max_size=30))
values: Any = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=10)
keys = st.sampled_from(["zone", "records", "ttl", "proxied", "adopt", "comment_marker",
                        "state_file", "max_cache_age", "token_file", "healthcheck_url",
                        "cloudflare", "ipv4", "ipv6", "other"])


@given(st.dictionaries(keys, values, max_size=6))
def test_property_config_values_give_a_config_or_a_config_error(data: dict[str, Any]) -> None:
    try:
        text = toml_dumps(data)
    except TypeError:
        return
    try:
        c = parse(text)
    except ConfigError as e:
        message = str(e)
    else:
        assert c.records
        assert all(r.name == r.zone or r.name.endswith("." + r.zone) for r in c.records)
        return
    assert message.startswith(f"{F}: ")


@given(st.text(max_size=200))
def test_property_arbitrary_text_gives_a_config_or_a_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse(MINIMAL + text)


def test_a_token_pasted_into_the_config_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as err:
        parse(MINIMAL + f'token = "{TOKEN}"\n')
    assert str(err.value) == f"{F}: token: unknown key"
