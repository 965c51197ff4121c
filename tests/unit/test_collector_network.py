"""Which address is the client's (the cut to its network is clickstream.core.network: test_network_prefix.py)."""

from __future__ import annotations

from collector.network import client_address


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted() -> None:
    assert client_address("10.0.0.1", "198.51.100.9", trusted_hops=0) == "10.0.0.1"


def test_a_trusted_proxy_names_the_client_as_the_entry_it_appended() -> None:
    # Cloud Run's front end appends the address it saw: the last entry; earlier ones are the client's claims.
    assert client_address("10.0.0.1", "6.6.6.6, 198.51.100.9", trusted_hops=1) == "198.51.100.9"
    assert client_address("10.0.0.1", "198.51.100.9, 10.1.1.1", trusted_hops=2) == "198.51.100.9"
    assert client_address("10.0.0.1", "198.51.100.9", trusted_hops=2) == "198.51.100.9"
    assert client_address("10.0.0.1", None, trusted_hops=1) == "10.0.0.1"
    assert client_address(None, " ", trusted_hops=1) is None
