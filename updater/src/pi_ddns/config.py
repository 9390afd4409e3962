"""The TOML config, validated into immutable typed records.

The records are `NamedTuple`s, not dataclasses: this module is on every timer run's hot path,
where importing `dataclasses` (inspect, ast, ...) and building a dozen slotted classes cost ~9 ms
of the ~20 ms budget (measured with -X importtime). They are as immutable and as typed. No
secret is in them: credential.py reads the tokens and hands them to the commands that use them.

Defaults and ranges come from settings.SETTINGS, the one table of them.

Every error names the file, the key and the reason: `FILE: ipv4.sources[1].url: reason`.
Unknown keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from pi_ddns import files, report
from pi_ddns.errors import ConfigError
from pi_ddns.settings import AUTOMATIC_TTL, SETTINGS

DEFAULT_PATH = "/etc/pi-ddns/config.toml"
MAX_CONFIG = 64 * 1024  # bytes; a real config is ~2 KB

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TraceSource(NamedTuple):
    url: str

    @property
    def label(self) -> str:
        return f"trace {self.url}"


class HttpSource(NamedTuple):
    url: str

    @property
    def label(self) -> str:
        return f"http {self.url}"


class DnsSource(NamedTuple):
    server: Address
    name: str
    rrtype: str  # A, AAAA or TXT
    rrclass: str  # IN or CH
    port: int = 53

    @property
    def label(self) -> str:
        return f"dns {self.name} {self.rrclass} {self.rrtype} @{self.server}"


class InterfaceSource(NamedTuple):
    name: str

    @property
    def label(self) -> str:
        return f"interface {self.name}"


class CommandSource(NamedTuple):
    argv: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"command {self.argv[0]}"


class StaticSource(NamedTuple):
    address: Address

    @property
    def label(self) -> str:
        return f"static {self.address}"


Source = (TraceSource | HttpSource | DnsSource | InterfaceSource | CommandSource
          | StaticSource)


class Family(NamedTuple):
    version: int  # 4 or 6
    enabled: bool
    policy: str  # "first" or "agree"
    agree: int
    allow_nonglobal: bool
    timeout: float
    sources: tuple[Source, ...]

    @property
    def rtype(self) -> str:
        return "A" if self.version == 4 else "AAAA"


class Cloudflare(NamedTuple):
    api_url: str
    timeout: float
    retries: int
    allow_http: bool  # an http:// api_url to a host other than loopback


EVENTS = ("change", "failure", "recovery")


class Notify(NamedTuple):
    """[notify]: where change, failure and recovery notifications go (none by default)."""

    webhook_url: str | None
    ntfy_url: str | None
    ntfy_token_file: Path | None
    kuma_url: str | None
    timeout: float  # the cap per notification; also bounded by what run_timeout leaves
    events: tuple[str, ...]

    @property
    def channels(self) -> tuple[tuple[str, str], ...]:
        """(channel, URL) of each configured channel, in the order they are sent."""
        return tuple((name, url) for name, url in (("webhook", self.webhook_url),
                                                   ("ntfy", self.ntfy_url),
                                                   ("kuma", self.kuma_url)) if url)


class Propagation(NamedTuple):
    """[propagation]: after a change, ask the zone's authoritative nameservers (propagate.py)."""

    enabled: bool
    wait: float  # seconds to keep asking; also bounded by what run_timeout leaves
    port: int  # the nameservers' DNS port (53; tests and the lab use another)


class RecordConfig(NamedTuple):
    """One record the updater keeps: a name and a type in a zone, with its own settings (the
    top-level ones unless its table sets them). A plain name in `records` gives one of these
    per enabled family."""

    name: str
    type: str  # A or AAAA
    zone: str
    ttl: int | None  # None: keep the record's
    proxied: bool | None  # None: keep the record's
    comment: str | None  # the whole comment written, "<marker> <comment>"; None: keep it
    host_id: int | None = None  # a host record's interface ID (its bits after the prefix)
    prefix_length: int = 64  # a host record: the bits taken from the detected address

    @property
    def key(self) -> str:
        """The state's key of the record: `TYPE name`."""
        return f"{self.type} {self.name}"


class Config(NamedTuple):
    path: Path
    zone: str | None  # the top-level zone: the default of each record's
    records: tuple[RecordConfig, ...]
    comment_marker: str
    adopt: bool
    ttl: int | None
    proxied: bool | None
    state_file: Path
    max_cache_age: float
    token_file: Path | None
    healthcheck_url: str | None
    cloudflare: Cloudflare
    ipv4: Family
    ipv6: Family
    run_timeout: float  # the whole update run's budget, below the unit's TimeoutStartSec
    notify: Notify
    metrics_dir: Path | None  # node_exporter textfile directory (tmpfs); None: no metrics
    propagation: Propagation

    @property
    def families(self) -> tuple[Family, ...]:
        return tuple(f for f in (self.ipv4, self.ipv6) if f.enabled)

    @property
    def zones(self) -> tuple[str, ...]:
        """Every zone a record is in, each once, in the config's order."""
        return tuple(dict.fromkeys(r.zone for r in self.records))

    @property
    def names(self) -> tuple[str, ...]:
        """Every record name, each once, in the config's order."""
        return tuple(dict.fromkeys(r.name for r in self.records))


_DEFAULT_SOURCES: dict[int, list[dict[str, Any]]] = {
    4: [
        {"type": "trace", "url": "https://1.1.1.1/cdn-cgi/trace"},
        {"type": "http", "url": "https://api.ipify.org"},
    ],
    6: [
        {"type": "trace", "url": "https://[2606:4700:4700::1111]/cdn-cgi/trace"},
        {"type": "http", "url": "https://api6.ipify.org"},
    ],
}

# preset -> (name, rrtype per family, rrclass, server per family)
_DNS_PRESETS: dict[str, tuple[str, dict[int, str], str, dict[int, str]]] = {
    "opendns": (
        "myip.opendns.com",
        {4: "A", 6: "AAAA"},
        "IN",
        {4: "208.67.222.222", 6: "2620:119:35::35"},
    ),
    "cloudflare": (
        "whoami.cloudflare",
        {4: "TXT", 6: "TXT"},
        "CH",
        {4: "1.1.1.1", 6: "2606:4700:4700::1111"},
    ),
}

_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\Z")
_HOST_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")  # LDH, for the zone
_IFNAME = re.compile(r"[A-Za-z0-9_.:@-]{1,15}\Z")


class _Table:
    """One TOML table being read: remembers which keys were used, to reject the rest."""

    def __init__(self, file: Path, prefix: str, data: Mapping[str, Any],
                 where: str | None = None) -> None:
        self.file = file
        self.prefix = prefix
        self.where = prefix if where is None else where  # the prefix of its keys in SETTINGS
        self.data = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def error(self, name: str, reason: str) -> ConfigError:
        return ConfigError(f"{self.file}: {self.key(name)}: {reason}")

    def raw(self, name: str) -> Any:
        self.used.add(name)
        return self.data.get(name)

    def _typed(self, name: str, ok: type | tuple[type, ...], what: str) -> Any:
        value = self.raw(name)
        if value is not None and (isinstance(value, bool) != (ok is bool)
                                  or not isinstance(value, ok)):
            raise self.error(name, f"must be {what}, not {_kind(value)}")
        return value

    def opt_text(self, name: str) -> str | None:
        value: str | None = self._typed(name, str, "a string")
        if value is not None and (not value or value != value.strip()):
            raise self.error(name, "must be non-empty, without surrounding spaces")
        return value

    def text(self, name: str, default: str) -> str:
        value = self.opt_text(name)
        return default if value is None else value

    def req_text(self, name: str) -> str:
        value = self.opt_text(name)
        if value is None:
            raise self.error(name, "is required")
        return value

    def opt_flag(self, name: str) -> bool | None:
        value: bool | None = self._typed(name, bool, "true or false")
        return value

    def get(self, name: str) -> Any:
        """The value of a setting in SETTINGS, checked against its kind and range; its default
        when it is not set."""
        s = SETTINGS[self.where + name]
        value: Any
        if s.kind is bool:
            value = self.opt_flag(name)
        elif s.kind is str:
            value = self.opt_text(name)
            if value is not None and s.maximum is not None and len(value) > s.maximum:
                raise self.error(name, f"must be printable and at most {s.maximum:g} "
                                 "characters")
        else:
            value = self._typed(name, int if s.kind is int else (int, float),
                                "an integer" if s.kind is int else "a number")
            if value is not None and not (
                    (s.minimum is None or s.minimum <= value)
                    and (s.maximum is None or value <= s.maximum)):  # also rejects nan
                raise self.error(name, f"must be between {s.minimum:g} and {s.maximum:g}, "
                                 f"not {value}")
            value = value if value is None else s.kind(value)
        return s.default if value is None else value

    def table(self, name: str) -> _Table:
        value = self.raw(name)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise self.error(name, f"must be a table, not {_kind(value)}")
        return _Table(self.file, f"{self.key(name)}.", value)

    def done(self, accepts: str | None = None) -> None:
        """Refuse a key no reader used; `accepts` lists the keys the table takes."""
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(unknown[0], f"unknown key (a record table takes {accepts})"
                             if accepts else "unknown key")


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _dns_name(t: _Table, key: str, value: str) -> str:
    name = value.lower().removesuffix(".")
    if not name.isascii():
        raise t.error(key, f"{value!r} is not ASCII; use the punycode (xn--) form")
    labels = name.split(".")
    if labels[0] == "*":  # a wildcard record
        labels = labels[1:]
    if len(name) > 253 or not labels or not all(_LABEL.match(label) for label in labels):
        raise t.error(key, f"{value!r} is not a valid DNS name")
    return name


def _zone(t: _Table, value: str, key: str = "zone") -> str:
    """A zone is a domain name Cloudflare can hold: letters, digits, hyphens, two labels or
    more, no wildcard, not an IP address."""
    name = _dns_name(t, key, value)
    labels = name.split(".")
    if len(labels) < 2 or not all(_HOST_LABEL.match(label) for label in labels) \
            or labels[-1].isdigit():
        raise t.error(key, f"{value!r} is not a domain name (like example.com)")
    return name


def _path(t: _Table, key: str, value: str, what: str) -> Path:
    """A file's path: no NUL byte, and a file name at its end. (What is found there when it
    is read is the reader's business: files.read_regular refuses anything but a file.)"""
    if "\0" in value:
        raise t.error(key, "contains a NUL byte")
    path = Path(value)
    if value.endswith("/") or path.name in ("", ".", ".."):
        raise t.error(key, f"{value!r} does not name a {what}")
    return path


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(t: _Table, key: str, value: str) -> str:
    if not value.isascii() or not value.isprintable():
        raise t.error(key, "must be ASCII without control characters (use punycode and "
                      "%-escapes)")
    try:
        parts = urlsplit(value)  # raises on an unbalanced "[" (IPv6 literal)
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        raise t.error(key, f"{value!r} is not an http:// or https:// URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise t.error(key, f"{value!r} is not an http:// or https:// URL")
    if parts.username or parts.password or parts.fragment:
        raise t.error(key, "must not contain credentials or a #fragment")
    if any(c.isspace() for c in value):
        raise t.error(key, "must not contain whitespace")
    return value


def _address(t: _Table, key: str, value: str, version: int) -> Address:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise t.error(key, f"{value!r} is not an IP address") from None
    if version and address.version != version:
        raise t.error(key, f"{value} is not an IPv{version} address")
    return address


def _source(t: _Table, version: int) -> Source:
    kind = t.req_text("type")
    source: Source
    if kind in ("trace", "http"):
        url = _url(t, "url", t.req_text("url"))
        source = TraceSource(url) if kind == "trace" else HttpSource(url)
    elif kind == "dns":
        source = _dns_source(t, version)
    elif kind == "interface":
        name = t.req_text("name")
        if not _IFNAME.match(name):
            raise t.error("name", f"{name!r} is not an interface name")
        source = InterfaceSource(name)
    elif kind == "command":
        argv = t.raw("argv")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise t.error("argv", "must be a non-empty array of strings (no shell is used)")
        if not argv[0]:
            raise t.error("argv", "the program name is empty")
        source = CommandSource(tuple(argv))
    elif kind == "static":
        source = StaticSource(_address(t, "address", t.req_text("address"), version))
    else:
        raise t.error("type", f"unknown source type {kind!r}; use trace, http, dns, interface, "
                      "command or static")
    t.done()
    return source


def _dns_source(t: _Table, version: int) -> DnsSource:
    preset = t.opt_text("preset")
    name, rrtype, rrclass, server = None, None, None, None
    if preset is not None:
        if preset not in _DNS_PRESETS:
            raise t.error("preset", f"unknown preset {preset!r}; use opendns or cloudflare")
        p_name, p_types, rrclass, p_servers = _DNS_PRESETS[preset]
        name, rrtype, server = p_name, p_types[version], p_servers[version]
    name = t.text("name", name) if name else t.req_text("name")
    rrtype = t.text("rrtype", rrtype or ("A" if version == 4 else "AAAA"))
    rrclass = t.text("rrclass", rrclass or "IN")
    server = t.text("server", server) if server else t.req_text("server")
    port = t.get("port")
    want = "A" if version == 4 else "AAAA"
    if rrtype not in (want, "TXT"):
        raise t.error("rrtype", f"must be {want} or TXT for IPv{version}, not {rrtype!r}")
    if rrclass not in ("IN", "CH"):
        raise t.error("rrclass", f"must be IN or CH, not {rrclass!r}")
    return DnsSource(_address(t, "server", server, 0), _dns_name(t, "name", name), rrtype,
                     rrclass, port)


def _family(top: _Table, version: int) -> Family:
    t = top.table(f"ipv{version}")
    enabled = t.get("enabled")
    policy = t.get("policy")
    if policy not in ("first", "agree"):
        raise t.error("policy", f"must be \"first\" or \"agree\", not {policy!r}")
    agree = t.get("agree")
    allow_nonglobal = t.get("allow_nonglobal")
    timeout = t.get("timeout")
    raw = t.raw("sources")
    if raw is None:
        raw = _DEFAULT_SOURCES[version]
    if not isinstance(raw, list) or not raw:
        raise t.error("sources", "must be a non-empty array of tables")
    sources = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise t.error(f"sources[{i}]", f"must be a table, not {_kind(item)}")
        sources.append(_source(_Table(t.file, f"{t.key('sources')}[{i}].", item,
                                      f"{t.key('sources')}[]."), version))
    if policy == "agree" and agree is not None and agree > len(sources):
        raise t.error("agree", f"is {agree} but there are only {len(sources)} sources")
    t.done()
    return Family(version, enabled, policy, agree, allow_nonglobal, timeout,
                  tuple(sources))


def is_kuma(url: str) -> bool:
    """An Uptime Kuma push URL: a path with an `/api/push/<token>` part (healthcheck's and
    notify's form follows it; here, so that checking a config imports no HTTP code)."""
    segments = urlsplit(url).path.split("/")
    return any(segments[i:i + 2] == ["api", "push"] and len(segments) > i + 2 and segments[i + 2]
               for i in range(len(segments)))


def _notify(top: _Table) -> Notify:
    t = top.table("notify")
    urls = {}
    for key in ("webhook_url", "ntfy_url", "kuma_url"):
        value = t.get(key)
        urls[key] = _url(t, key, value) if value is not None else None
    kuma = urls["kuma_url"]
    if kuma is not None and not is_kuma(kuma):
        raise t.error("kuma_url", "is not an Uptime Kuma push URL (.../api/push/<token>)")
    token_text = t.get("ntfy_token_file")
    token_file = _path(t, "ntfy_token_file", token_text, "token file") if token_text else None
    if token_file is not None and urls["ntfy_url"] is None:
        raise t.error("ntfy_token_file", "is set but ntfy_url is not")
    if token_file is not None and not secure(urls["ntfy_url"]):
        raise t.error("ntfy_url", NTFY_HTTP)
    timeout = t.get("timeout")
    raw = t.raw("events")
    events: tuple[str, ...] = EVENTS
    if raw is not None:
        if not isinstance(raw, list) or not all(isinstance(e, str) for e in raw):
            raise t.error("events", "must be an array of strings")
        for event in raw:
            if event not in EVENTS:
                raise t.error("events", f"unknown event {event!r}; use change, failure or "
                              "recovery")
        events = tuple(e for e in EVENTS if e in raw)
    t.done()
    return Notify(urls["webhook_url"], urls["ntfy_url"], token_file, kuma, timeout, events)


def _ttl(top: _Table) -> int | None:
    """SETTINGS' range, and AUTOMATIC_TTL below it (the top level's, or a record table's)."""
    lo, hi = SETTINGS["ttl"].minimum, SETTINGS["ttl"].maximum
    ttl: int | None = top._typed("ttl", int, "an integer")
    if ttl is None or ttl == AUTOMATIC_TTL or lo is None or hi is None or lo <= ttl <= hi:
        return ttl
    hint = (" (only Enterprise zones take 30..59, and pi-ddns does not support it)"
            if AUTOMATIC_TTL < ttl < lo else "")
    raise top.error("ttl", f"must be {AUTOMATIC_TTL} (automatic) or {lo:g}..{hi:g}, not {ttl}"
                    + hint)


def _metrics_dir(top: _Table) -> Path | None:
    text = top.get("metrics_dir")
    if text is None:
        return None
    if not text.startswith("/"):
        raise top.error("metrics_dir", f"{text!r} is not an absolute path")
    return _path(top, "metrics_dir", text, "directory")


def _propagation(top: _Table) -> Propagation:
    t = top.table("propagation")
    propagation = Propagation(t.get("enabled"), t.get("wait"), t.get("port"))
    t.done()
    return propagation


# Cloudflare refuses a longer record comment on a Free plan zone (error 9313, "DNS record
# comment exceeds the maximum length of 100 characters"); paid plans allow 500.
MAX_COMMENT = 100
_RECORD_KEYS = "name, zone, type, ttl, proxied, comment, ipv6_host_id, ipv6_mac, ipv6_prefix_length"


def _records(top: _Table, raw: list[Any], zone: str | None, marker: str, *,
             defaults: tuple[int | None, bool | None],
             families: tuple[Family, Family]) -> tuple[RecordConfig, ...]:
    """Every (name, type) the config keeps, a plain name giving one per enabled family."""
    ttl, proxied = defaults
    enabled = tuple(f.rtype for f in families if f.enabled)
    out: dict[tuple[str, str], RecordConfig] = {}
    for i, item in enumerate(raw):
        key = f"records[{i}]"
        if isinstance(item, str):
            if zone is None:
                raise top.error("zone", f"is required ({key} is a plain name: set the "
                                "top-level zone, or write the record as a table with its zone)")
            name = _dns_name(top, key, item)
            _inside(top, key, name, zone)
            entries = [RecordConfig(name, rtype, zone, ttl, proxied, None) for rtype in enabled]
        elif isinstance(item, dict):
            t = _Table(top.file, f"{key}.", item, "records[].")
            entries = _record_table(t, zone, marker, defaults, families)
        else:
            raise top.error(key, f"must be a name or a table, not {_kind(item)}")
        for entry in entries:
            if (entry.name, entry.type) in out:
                what = f"{entry.name!r}" if isinstance(item, str) else \
                    f"{entry.name!r} ({entry.type})"
                raise top.error(key, f"{what} is listed twice")
            out[entry.name, entry.type] = entry
    return tuple(out.values())


def _inside(t: _Table, key: str, name: str, zone: str) -> None:
    if name != zone and not name.endswith("." + zone):
        raise t.error(key, f"{name!r} is not inside the zone {zone!r}")


def _record_table(t: _Table, zone: str | None, marker: str,
                  defaults: tuple[int | None, bool | None],
                  families: tuple[Family, Family]) -> list[RecordConfig]:
    """One table of `records`: its name, zone, type and own settings."""
    name = _dns_name(t, "name", t.req_text("name"))
    zone_text = t.opt_text("zone")
    if zone_text is not None:
        zone = _zone(t, zone_text)
    elif zone is None:
        raise t.error("zone", "is required: no top-level zone is set")
    _inside(t, "name", name, zone)
    ttl = _ttl(t)
    ttl = defaults[0] if ttl is None else ttl
    proxied = t.opt_flag("proxied")
    proxied = defaults[1] if proxied is None else proxied
    suffix = t.opt_text("comment")
    comment = None
    if suffix is not None:
        comment = f"{marker} {suffix}"
        if not suffix.isprintable() or len(comment) > MAX_COMMENT:
            raise t.error("comment", f"must be printable, and with the marker {marker!r} and a "
                          f"space at most {MAX_COMMENT} characters (Cloudflare's limit), not "
                          f"{len(comment)}")
    host_id, length = _host_id(t)
    rtype = t.opt_text("type")
    ipv4, ipv6 = families
    if rtype is not None and rtype not in ("A", "AAAA"):
        raise t.error("type", f"must be \"A\" or \"AAAA\", not {rtype!r}")
    if host_id is not None:
        if rtype == "A":
            raise t.error("type", "is \"A\", but a host record (ipv6_host_id, ipv6_mac) is "
                          "AAAA only")
        if not ipv6.enabled:
            raise t.error("ipv6_host_id" if "ipv6_host_id" in t.data else "ipv6_mac",
                          "a host record takes the detected IPv6 prefix: set [ipv6] enabled "
                          "= true")
        types: tuple[str, ...] = ("AAAA",)
    elif rtype is not None:
        family = ipv4 if rtype == "A" else ipv6
        if not family.enabled:
            raise t.error("type", f"is {rtype!r}, but IPv{family.version} is disabled "
                          f"([ipv{family.version}] enabled = false)")
        types = (rtype,)
    else:
        types = tuple(f.rtype for f in families if f.enabled)
    t.done(accepts=_RECORD_KEYS)
    return [RecordConfig(name, r, zone, ttl, proxied, comment, host_id, length) for r in types]


def _host_id(t: _Table) -> tuple[int | None, int]:
    """A host record's interface ID and prefix length; (None, default) for another record."""
    text, mac = t.opt_text("ipv6_host_id"), t.opt_text("ipv6_mac")
    raw_length = t.raw("ipv6_prefix_length")
    length = t.get("ipv6_prefix_length")
    if text is None and mac is None:
        if raw_length is not None:
            raise t.error("ipv6_prefix_length", "is set, but neither ipv6_host_id nor ipv6_mac "
                          "is")
        return None, length
    if text is not None and mac is not None:
        raise t.error("ipv6_mac", "and ipv6_host_id are both set; give one")
    from pi_ddns import hostid  # only a config with a host record needs it

    key = "ipv6_host_id" if text is not None else "ipv6_mac"
    try:
        bits = hostid.interface_id(text) if text is not None else hostid.eui64(str(mac))
    except ValueError as e:
        raise t.error(key, str(e)) from None
    if hostid.outside_host_part(bits, length):
        raise t.error(key, f"sets bits inside the first {length} bits, where the detected "
                      "prefix goes (ipv6_prefix_length); give only the host's part")
    if not bits:
        raise t.error(key, f"is all zeros after the first {length} bits: that is the "
                      "subnet-router anycast address (RFC 4291 2.6.1), not a host")
    return bits, length


def parse(text: str, file: Path) -> Config:
    """Validate the TOML text of `file` (no token lookup)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{file}: invalid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{file}: invalid TOML: nested too deeply") from None
    top = _Table(file, "", data)
    zone_text = top.opt_text("zone")
    zone = _zone(top, zone_text) if zone_text is not None else None
    raw_records = top.raw("records")
    if not isinstance(raw_records, list) or not raw_records:
        raise top.error("records", "must be a non-empty array of names or tables")
    marker = top.get("comment_marker")
    if not marker.isprintable():
        raise top.error("comment_marker", "must be printable and at most "
                        f"{SETTINGS['comment_marker'].maximum:g} characters")
    adopt = top.get("adopt")
    ttl = _ttl(top)
    proxied = top.get("proxied")
    state_file = _path(top, "state_file", top.get("state_file"), "state file")
    max_cache_age = top.get("max_cache_age")
    run_timeout = top.get("run_timeout")
    token_text = top.get("token_file")
    token_file = _path(top, "token_file", token_text, "token file") if token_text else None
    healthcheck = top.get("healthcheck_url")
    if healthcheck is not None:
        _url(top, "healthcheck_url", healthcheck)
    cf = top.table("cloudflare")
    api_url = _url(cf, "api_url", cf.get("api_url")).rstrip("/")
    allow_http = cf.get("allow_http")
    if urlsplit(api_url).scheme == "http" and not allow_http \
            and not is_loopback(urlsplit(api_url).hostname or ""):
        raise cf.error("api_url", f"{api_url!r} would send the token unencrypted; use https:// "
                       "or set [cloudflare] allow_http = true")
    cloudflare = Cloudflare(api_url, cf.get("timeout"), cf.get("retries"), allow_http)
    cf.done()
    ipv4, ipv6 = _family(top, 4), _family(top, 6)
    if not (ipv4.enabled or ipv6.enabled):
        raise top.error("ipv4.enabled", "ipv4 and ipv6 are both disabled; enable at least one")
    records = _records(top, raw_records, zone, marker, defaults=(ttl, proxied),
                       families=(ipv4, ipv6))
    notify, metrics_dir = _notify(top), _metrics_dir(top)
    propagation = _propagation(top)
    top.done()
    return Config(file, zone, records, marker, adopt, ttl, proxied, state_file,
                  max_cache_age, token_file, healthcheck,
                  cloudflare, ipv4, ipv6, run_timeout=run_timeout, notify=notify,
                  metrics_dir=metrics_dir, propagation=propagation)


def secure(url: str | None) -> bool:
    """https://, or http:// to this host only: where a token may be sent."""
    parts = urlsplit(url or "")
    return parts.scheme == "https" or is_loopback(parts.hostname or "")


NTFY_HTTP = "is http:// and would send the ntfy token unencrypted; use https://"


def load(file: Path) -> Config:
    """Read and validate the config (no token lookup: see credential.py)."""
    try:
        text = files.read_regular(file, MAX_CONFIG).decode("utf-8")
    except files.FileRefused as e:
        raise ConfigError(f"{file}: refusing the config: {e.strerror}") from None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ConfigError(f"{file}: cannot read the config: {reason}") from None
    config = parse(text, file)
    if not secure(config.cloudflare.api_url):
        report.warning(f"{file}: api_url is http:// (allow_http = true): the token crosses the "
                       "network unencrypted")
    return config
