"""Clients shared by all probes, created once by the daemon and passed in.

A probe never builds its own engine, session or socket pool per call.  Later
probe kinds (SNMP engine, HTTP session, ONVIF WSDL cache) add their client here.
"""

from __future__ import annotations

import socket
from functools import cached_property


class SharedClients:
    """Long-lived clients and capabilities probed once per process."""

    @cached_property
    def icmp_unprivileged(self) -> bool:
        """Whether this process may open unprivileged ICMP sockets (net.ipv4.ping_group_range)."""
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
        except OSError:
            return False
        sock.close()
        return True

    async def close(self) -> None:
        """Release what the clients hold."""
