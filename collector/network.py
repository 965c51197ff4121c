"""Who sent a request, to the precision we keep: the client's network, never its whole address.

The address is cut to /24 (IPv4) or /48 (IPv6) by ``clickstream.core.network.ip_prefix``
(the one rule, which the pipeline applies again) before it is stamped on a message, so the
full address is never published or stored. Behind a proxy (Cloud Run's front end) the socket
peer is the proxy; ``X-Forwarded-For`` is honoured only when the deployment says how many
proxies in front of us append to it (``trusted_proxy_hops``): entries left of those are the
client's own claims and could be forged.
"""

from __future__ import annotations


def client_address(peer: str | None, forwarded_for: str | None, trusted_hops: int) -> str | None:
    """The client's address: the entry the outermost trusted proxy appended, else the socket peer."""
    if trusted_hops > 0 and forwarded_for:
        entries = [entry.strip() for entry in forwarded_for.split(",") if entry.strip()]
        if entries:
            return entries[-min(trusted_hops, len(entries))]
    return peer.strip() or None if peer else None
