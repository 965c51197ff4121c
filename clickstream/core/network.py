"""How much of a client's address is kept: its network, /24 for IPv4 and /48 for IPv6, never more.

One rule, read by the collector (the address it sees, before anything is stamped on a message)
and by the pipeline (the ``clickstream_client_ip`` attribute, which any Pub/Sub producer could
set, before it is stored in ``events.client_ip_prefix``). Standard library only: the core
installs with nothing else.
"""

from __future__ import annotations

import ipaddress

IPV4_PREFIX = 24
IPV6_PREFIX = 48

# An address or network in text is at most ~50 characters (an IPv6 zone adds a few): anything
# longer is not one, and is not parsed.
_MAX_TEXT = 100


def ip_prefix(value: str | None) -> str | None:
    """``203.0.113.0/24`` or ``2001:db8:1::/48`` for an address or a network; None when it is neither.

    A network is kept as it is when it is no narrower than the rule (``10.0.0.0/8``), else cut
    to it (``203.0.113.77/32`` -> ``203.0.113.0/24``). An IPv4 address seen through a dual-stack
    socket (``::ffff:198.51.100.9``) is the IPv4 address; an IPv6 zone (``%eth0``) is dropped.
    """
    if not value or len(value) > _MAX_TEXT:
        return None
    address, slash, length = value.strip().partition("/")
    if slash and not (length.isascii() and length.isdigit() and len(length) <= 3):
        return None
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    bits = int(length) if slash else ip.max_prefixlen
    if not 0 <= bits <= ip.max_prefixlen:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        if bits < 96:  # a mapped network wider than one IPv4 address space is not a client's
            return None
        ip, bits = ip.ipv4_mapped, bits - 96
    keep = min(bits, IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX)
    return str(ipaddress.ip_network(f"{ip}/{keep}", strict=False))
