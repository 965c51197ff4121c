"""Ports chosen for a stack of one's own stay free until the service binds them.

CI once failed with "port 48901 on 127.0.0.1 is taken by another process; collector cannot
start there": the port came from ``bind(("127.0.0.1", 0))``, which the kernel answers from
the same range it gives every outgoing connection, and the collector binds it only after
provisioning has opened many connections. A port outside that range cannot be taken that way.
"""

from __future__ import annotations

from pathlib import Path

from clickstream.app.local.processes import free_port


def _ephemeral_range() -> tuple[int, int]:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)


def test_a_free_port_is_outside_the_range_the_kernel_hands_to_outgoing_connections() -> None:
    low, high = _ephemeral_range()
    ports = [free_port() for _ in range(100)]
    assert [p for p in ports if low <= p <= high] == []


def test_ports_handed_out_in_one_process_are_never_the_same_twice() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
