"""IPv6 host records: the detected prefix combined with a host's fixed interface ID.

A host behind the Pi (a NAS, a server) keeps its interface ID when the home's prefix changes;
its address is the first `length` bits of the Pi's detected IPv6 address followed by the
interface ID's remaining bits. The ID is given as an address (`::1234`) or derived from a MAC
address as a modified EUI-64 (RFC 4291 appendix A).

Imported only when the config has a host record (config.py and update.py import it lazily):
a config without one pays nothing for it on the timer's path.
"""

from __future__ import annotations

import ipaddress
import re

BITS = 128
_MAC = re.compile(r"[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}\Z")


def eui64(mac: str) -> int:
    """The modified EUI-64 interface ID of a 48-bit MAC (`aa:bb:cc:dd:ee:ff` or with `-`):
    ff:fe inserted between its third and fourth octets, the universal/local bit (0x02 of the
    first octet) inverted. ValueError if `mac` is not one."""
    if not _MAC.match(mac):
        raise ValueError(f"{mac!r} is not a MAC address (like 00:11:22:33:44:55)")
    octets = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    return int.from_bytes(bytes([octets[0] ^ 0x02, *octets[1:3], 0xFF, 0xFE, *octets[3:]]))


def interface_id(text: str) -> int:
    """The bits of an interface ID written as an IPv6 address (`::1234`). ValueError if not."""
    if "%" in text:
        raise ValueError(f"{text!r} has a zone index")
    try:
        return int(ipaddress.IPv6Address(text))
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv6 interface ID (like ::1234)") from None


def host_mask(length: int) -> int:
    """The bits after a prefix of `length` bits."""
    return (1 << (BITS - length)) - 1


def outside_host_part(host_id: int, length: int) -> bool:
    """Whether the ID sets a bit inside the prefix, where the detected prefix's bits go."""
    return bool(host_id & ~host_mask(length))


def combine(prefix: ipaddress.IPv6Address, length: int, host_id: int) -> ipaddress.IPv6Address:
    """The first `length` bits of `prefix`, then the bits of `host_id` (which fit after them:
    config.py refuses an ID with a bit inside the prefix)."""
    return ipaddress.IPv6Address((int(prefix) & ~host_mask(length) & ((1 << BITS) - 1))
                                 | (host_id & host_mask(length)))
