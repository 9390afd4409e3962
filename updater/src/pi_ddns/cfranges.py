"""Cloudflare's own addresses: never publish one of these as the home's IP.

The CDN ranges are https://www.cloudflare.com/ips-v4 and /ips-v6 (unchanged since 2021, checked
2026-11). The resolver ranges (1.1.1.1 and friends) are not on that list but are Cloudflare's
too, and a broken trace or DNS answer can echo them.
"""

from __future__ import annotations

import ipaddress

IPV4 = (
    "173.245.48.0/20",
    "103.21.244.0/22",
    "103.22.200.0/22",
    "103.31.4.0/22",
    "141.101.64.0/18",
    "108.162.192.0/18",
    "190.93.240.0/20",
    "188.114.96.0/20",
    "197.234.240.0/22",
    "198.41.128.0/17",
    "162.158.0.0/15",
    "104.16.0.0/13",
    "104.24.0.0/14",
    "172.64.0.0/13",
    "131.0.72.0/22",
    # public resolver 1.1.1.1 / 1.0.0.1
    "1.1.1.0/24",
    "1.0.0.0/24",
)

IPV6 = (
    "2400:cb00::/32",
    "2606:4700::/32",  # includes the resolver 2606:4700:4700::1111
    "2803:f800::/32",
    "2405:b500::/32",
    "2405:8100::/32",
    "2a06:98c0::/29",
    "2c0f:f248::/32",
)


def contains(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True if the address is inside one of Cloudflare's ranges."""
    ranges = IPV4 if address.version == 4 else IPV6
    return any(address in ipaddress.ip_network(net) for net in ranges)
