"""Client addresses are cut to their network before anything is stamped: /24 for IPv4, /48 for IPv6."""

from __future__ import annotations

import pytest

from collector.network import client_address, ip_prefix


@pytest.mark.parametrize(
    ("address", "prefix"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),  # IPv4 seen through a dual-stack socket
        ("fe80::1%eth0", "fe80::/48"),
        ("not-an-ip", None),
        ("", None),
        (None, None),
    ],
)
def test_ip_prefix_keeps_only_the_network(address: str | None, prefix: str | None) -> None:
    assert ip_prefix(address) == prefix


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted() -> None:
    assert client_address("10.0.0.1", "198.51.100.9", trusted_hops=0) == "10.0.0.1"


def test_a_trusted_proxy_names_the_client_as_the_entry_it_appended() -> None:
    # Cloud Run's front end appends the address it saw: the last entry; earlier ones are the client's claims.
    assert client_address("10.0.0.1", "6.6.6.6, 198.51.100.9", trusted_hops=1) == "198.51.100.9"
    assert client_address("10.0.0.1", "198.51.100.9, 10.1.1.1", trusted_hops=2) == "198.51.100.9"
    assert client_address("10.0.0.1", "198.51.100.9", trusted_hops=2) == "198.51.100.9"
    assert client_address("10.0.0.1", None, trusted_hops=1) == "10.0.0.1"
    assert client_address(None, " ", trusted_hops=1) is None
