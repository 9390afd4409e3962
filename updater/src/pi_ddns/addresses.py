"""Which addresses may be published: the one rule, as one table.

The table is IANA's IPv4 and IPv6 Special-Purpose Address Registries (iana-ipv4-special-registry,
iana-ipv6-special-registry, as of 2025-10), every entry, plus the few blocks the registries leave
to other documents (multicast, the deprecated IPv6 forms). Each row quotes the registry's name
and RFC. An address is published only when:

- IPv4: it is in no row below and not one of Cloudflare's;
- IPv6: it is inside global unicast 2000::/3, in no row below, and not one of Cloudflare's.

Every row refuses, including the few the registry marks globally reachable: those are anycast
service blocks (PCP, TURN, AS112, AMT, ORCHIDv2, DETs), which a home's uplink never holds.
Transition mechanisms are refused: 6to4 2002::/16, Teredo 2001::/32, NAT64 64:ff9b::/96 and
64:ff9b:1::/48, IPv4-compatible ::/96, IPv4-mapped ::ffff:0:0/96 and the 6to4 relay anycast
192.88.99.0/24 only embed or stand for another address, which is not the home's own.

`allow_nonglobal = true` (a lab, or a CGNAT/private uplink on purpose) unlocks exactly the rows
marked `lab` below: private-use, shared (CGNAT), loopback, link-local, unique-local,
documentation, benchmarking, IETF protocol assignments, discard-only. Never the unspecified,
broadcast, multicast, reserved, anycast or transition rows, and never Cloudflare's.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

from pi_ddns import cfranges

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Row(NamedTuple):
    network: Network
    kind: str  # for the message: "<address> is <kind> address"
    name: str  # the registry's name for the block
    source: str  # where it is registered
    lab: bool  # allow_nonglobal may accept it


def _row(net: str, kind: str, name: str, source: str, lab: bool = False) -> Row:
    return Row(ipaddress.ip_network(net), kind, name, source, lab)


GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")  # RFC 4291 section 2.4; RFC 3587

TABLE: tuple[Row, ...] = (
    # --- IANA IPv4 Special-Purpose Address Registry --------------------------------------
    _row("0.0.0.0/8", "an unspecified",
         '"This network"', "RFC 791 section 3.2"),
    _row("0.0.0.0/32", "an unspecified",
         '"This host on this network"', "RFC 1122 section 3.2.1.3"),
    _row("10.0.0.0/8", "a private",
         "Private-Use", "RFC 1918", lab=True),
    _row("100.64.0.0/10", "a CGNAT",
         "Shared Address Space", "RFC 6598", lab=True),
    _row("127.0.0.0/8", "a loopback",
         "Loopback", "RFC 1122 section 3.2.1.3", lab=True),
    _row("169.254.0.0/16", "a link-local",
         "Link Local", "RFC 3927", lab=True),
    _row("172.16.0.0/12", "a private",
         "Private-Use", "RFC 1918", lab=True),
    _row("192.0.0.0/24", "an IETF protocol assignment",
         "IETF Protocol Assignments", "RFC 6890 section 2.1", lab=True),
    _row("192.0.0.0/29", "an IETF protocol assignment",
         "IPv4 Service Continuity Prefix", "RFC 7335", lab=True),
    _row("192.0.0.8/32", "a dummy",
         "IPv4 dummy address", "RFC 7600", lab=True),
    _row("192.0.0.9/32", "an anycast service",
         "Port Control Protocol Anycast", "RFC 7723"),
    _row("192.0.0.10/32", "an anycast service",
         "Traversal Using Relays around NAT Anycast", "RFC 8155"),
    _row("192.0.0.170/32", "a NAT64 discovery",
         "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 section 2.2"),
    _row("192.0.0.171/32", "a NAT64 discovery",
         "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 section 2.2"),
    _row("192.0.2.0/24", "a documentation",
         "Documentation (TEST-NET-1)", "RFC 5737", lab=True),
    _row("192.31.196.0/24", "an anycast service",
         "AS112-v4", "RFC 7535"),
    _row("192.52.193.0/24", "an anycast service",
         "AMT", "RFC 7450"),
    _row("192.88.99.0/24", "a 6to4 relay anycast",
         "Deprecated (6to4 Relay Anycast)", "RFC 7526"),
    _row("192.168.0.0/16", "a private",
         "Private-Use", "RFC 1918", lab=True),
    _row("192.175.48.0/24", "an anycast service",
         "Direct Delegation AS112 Service", "RFC 7534"),
    _row("198.18.0.0/15", "a benchmarking",
         "Benchmarking", "RFC 2544", lab=True),
    _row("198.51.100.0/24", "a documentation",
         "Documentation (TEST-NET-2)", "RFC 5737", lab=True),
    _row("203.0.113.0/24", "a documentation",
         "Documentation (TEST-NET-3)", "RFC 5737", lab=True),
    _row("240.0.0.0/4", "a reserved",
         "Reserved", "RFC 1112 section 4"),
    _row("255.255.255.255/32", "a broadcast",
         "Limited Broadcast", "RFC 8190, RFC 919 section 7"),
    # not in that registry: the multicast block (IANA IPv4 Multicast Address Space Registry)
    _row("224.0.0.0/4", "a multicast",
         "Multicast", "RFC 5771"),
    # --- IANA IPv6 Special-Purpose Address Registry --------------------------------------
    _row("::1/128", "a loopback",
         "Loopback Address", "RFC 4291", lab=True),
    _row("::/128", "an unspecified",
         "Unspecified Address", "RFC 4291"),
    _row("::ffff:0:0/96", "an IPv4-mapped",
         "IPv4-mapped Address", "RFC 4291"),
    _row("64:ff9b::/96", "a NAT64 (IPv4-embedding)",
         "IPv4-IPv6 Translat.", "RFC 6052"),
    _row("64:ff9b:1::/48", "a local-use NAT64 (IPv4-embedding)",
         "IPv4-IPv6 Translat.", "RFC 8215"),
    _row("100::/64", "a discard-only",
         "Discard-Only Address Block", "RFC 6666", lab=True),
    _row("100:0:0:1::/64", "a dummy",
         "Dummy IPv6 Prefix", "RFC 9780", lab=True),
    _row("2001::/23", "an IETF protocol assignment",
         "IETF Protocol Assignments", "RFC 2928", lab=True),
    _row("2001::/32", "a Teredo (IPv4-embedding)",
         "TEREDO", "RFC 4380, RFC 8190"),
    _row("2001:1::1/128", "an anycast service",
         "Port Control Protocol Anycast", "RFC 7723"),
    _row("2001:1::2/128", "an anycast service",
         "Traversal Using Relays around NAT Anycast", "RFC 8155"),
    _row("2001:1::3/128", "an anycast service",
         "DNS-SD Service Registration Protocol Anycast", "RFC 9665"),
    _row("2001:2::/48", "a benchmarking",
         "Benchmarking", "RFC 5180, RFC Errata 1752", lab=True),
    _row("2001:3::/32", "an anycast service",
         "AMT", "RFC 7450"),
    _row("2001:4:112::/48", "an anycast service",
         "AS112-v6", "RFC 7535"),
    _row("2001:10::/28", "a deprecated ORCHID",
         "Deprecated (previously ORCHID)", "RFC 4843"),
    _row("2001:20::/28", "an ORCHIDv2 overlay",
         "ORCHIDv2", "RFC 7343"),
    _row("2001:30::/28", "a drone ID (DET)",
         "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374"),
    _row("2001:db8::/32", "a documentation",
         "Documentation", "RFC 3849", lab=True),
    _row("2002::/16", "a 6to4 (IPv4-embedding)",
         "6to4", "RFC 3056"),
    _row("2620:4f:8000::/48", "an anycast service",
         "Direct Delegation AS112 Service", "RFC 7534"),
    _row("3fff::/20", "a documentation",
         "Documentation", "RFC 9637", lab=True),
    _row("5f00::/16", "an SRv6 SID",
         "Segment Routing (SRv6) SIDs", "RFC 9602"),
    _row("fc00::/7", "a unique-local (private)",
         "Unique-Local", "RFC 4193, RFC 8190", lab=True),
    _row("fe80::/10", "a link-local",
         "Link-Local Unicast", "RFC 4291", lab=True),
    # not in that registry, named so that a refusal says what the address is
    _row("::/96", "an IPv4-compatible (IPv4-embedding)",
         "IPv4-compatible (deprecated)", "RFC 4291 section 2.5.5.1"),
    _row("fec0::/10", "a site-local",
         "Site-Local (deprecated)", "RFC 3879"),
    _row("ff00::/8", "a multicast",
         "Multicast", "RFC 4291 section 2.7"),
)

# Most specific first: a refusal names the narrowest block.
_ORDERED = sorted(TABLE, key=lambda r: -r.network.prefixlen)


def matches(address: Address) -> list[Row]:
    """Every row that contains `address`, narrowest first."""
    return [r for r in _ORDERED if r.network.version == address.version
            and address in r.network]


def check(address: Address, version: int, allow_nonglobal: bool = False) -> str | None:
    """Why `address` must not be published, or None if it may be."""
    if address.version != version:
        return f"{address} is IPv{address.version}, expected IPv{version}"
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return f"{address} has a zone index"
    rows = matches(address)
    refused = [r for r in rows if not (allow_nonglobal and r.lab)]
    if refused:
        r = refused[0]
        return f"{address} is {r.kind} address ({r.network}: {r.name}, {r.source})"
    if version == 6 and address not in GLOBAL_UNICAST_V6 and not rows:
        return f"{address} is not global unicast (outside 2000::/3)"
    if cfranges.contains(address):
        return f"{address} is one of Cloudflare's own addresses"
    return None
