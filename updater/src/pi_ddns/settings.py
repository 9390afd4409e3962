"""Every scalar setting of the config, its type, default and range: written here once.

config.py validates with this table, and the role's tests compare its defaults and
argument_specs with it (the role imports nothing else: this module is standard library only,
and imports no other part of pi_ddns).

Keys are the config's own, dotted for a table (`notify.timeout`); a key of the sources of
either family reads `ipv4.sources[].port`. `kind` is the Python type the value has after
validation (an int is accepted where a float is asked for); a key of the tables in `records`
reads `records[].ipv6_prefix_length` (a record's ttl and proxied follow the top-level ones).
`minimum` and `maximum` bound the value of an int or float, the length in characters of a
str, and are None where there is no bound beyond the general rules (a string is non-empty,
without surrounding spaces). A default of None means: not set (required where config.py says
so, like `zone` when a record names no zone of its own).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Setting(NamedTuple):
    kind: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None


DEFAULT_API_URL = "https://api.cloudflare.com/client/v4"
# Cloudflare: "Setting to 1 means 'automatic'. Value must be between 60 and 86400, with the
# minimum reduced to 30 for Enterprise zones". pi-ddns does not tell zone plans apart: the
# table's range is 60..86400, and this one value below it is accepted as well.
AUTOMATIC_TTL = 1


def _family(version: int) -> dict[str, Setting]:
    v = f"ipv{version}"
    return {
        f"{v}.enabled": Setting(bool, version == 4),
        f"{v}.policy": Setting(str, "first"),  # "first" or "agree"
        f"{v}.agree": Setting(int, 2, 1, 16),
        f"{v}.allow_nonglobal": Setting(bool, False),
        f"{v}.timeout": Setting(float, 5.0, 0.1, 120.0),
        f"{v}.sources[].port": Setting(int, 53, 1, 65535),  # a dns source's server port
    }


SETTINGS: dict[str, Setting] = {
    "zone": Setting(str, None),
    "comment_marker": Setting(str, "managed-by: pi-ddns", None, 100),
    "adopt": Setting(bool, False),
    "ttl": Setting(int, None, 60, 86400),  # None: keep the record's; also AUTOMATIC_TTL
    "proxied": Setting(bool, None),  # None: keep the record's
    "state_file": Setting(str, "/var/lib/pi-ddns/state.json"),
    "max_cache_age": Setting(float, 86400.0, 0.0, 30 * 86400.0),
    "run_timeout": Setting(float, 240.0, 1.0, 3600.0),
    "token_file": Setting(str, None),
    "healthcheck_url": Setting(str, None),
    "metrics_dir": Setting(str, None),
    # an IPv6 host record: the bits of the detected address kept as its prefix
    "records[].ipv6_prefix_length": Setting(int, 64, 1, 127),
    "cloudflare.api_url": Setting(str, DEFAULT_API_URL),
    "cloudflare.timeout": Setting(float, 10.0, 0.1, 300.0),
    "cloudflare.retries": Setting(int, 1, 0, 10),
    "cloudflare.allow_http": Setting(bool, False),
    **_family(4),
    **_family(6),
    "notify.webhook_url": Setting(str, None),
    "notify.ntfy_url": Setting(str, None),
    "notify.ntfy_token_file": Setting(str, None),
    "notify.kuma_url": Setting(str, None),
    "notify.timeout": Setting(float, 5.0, 0.1, 30.0),
    # [propagation]: after a change, ask the zone's authoritative nameservers for it
    "propagation.enabled": Setting(bool, True),
    "propagation.wait": Setting(float, 30.0, 0.0, 300.0),  # seconds; within run_timeout too
    "propagation.port": Setting(int, 53, 1, 65535),  # the nameservers' DNS port
}
