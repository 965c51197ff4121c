"""One rule for how much of a client's address is kept: its /24 (IPv4) or /48 (IPv6) network.

The collector applies it to the address it sees; the pipeline applies it again to the
``clickstream_client_ip`` attribute, which any Pub/Sub producer could set.
"""

from __future__ import annotations

import pytest

from clickstream.core.network import ip_prefix


@pytest.mark.parametrize(
    ("value", "prefix"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),  # IPv4 seen through a dual-stack socket
        ("fe80::1%eth0", "fe80::/48"),
        # What the collector stamps is already a network: it stays as it is.
        ("203.0.113.0/24", "203.0.113.0/24"),
        ("2001:db8:1::/48", "2001:db8:1::/48"),
        # A narrower network, or one with host bits, is cut to the network we keep; a wider one stays.
        ("203.0.113.77/32", "203.0.113.0/24"),
        ("203.0.113.77/24", "203.0.113.0/24"),
        ("2001:db8:1:2::9/128", "2001:db8:1::/48"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        (" 203.0.113.77 ", "203.0.113.0/24"),
        ("not-an-ip", None),
        ("203.0.113.0/33", None),
        ("203.0.113.0/", None),
        ("203.0.113.0/x", None),
        ("x" * 5000, None),
        ("", None),
        (None, None),
    ],
)
def test_ip_prefix_keeps_only_the_network(value: str | None, prefix: str | None) -> None:
    assert ip_prefix(value) == prefix
