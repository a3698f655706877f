"""Loopback ports for the demo's and the tests' own servers.

A port found free by binding to port 0 comes from the kernel's ephemeral range, the same
range outgoing connections take their source ports from: between the moment it is handed
out and the moment its server binds it, a client connection (to PostgreSQL, to the broker)
may take it, and the server fails with "address already in use".  So ports are chosen below
(or above) that range, at random (two test runs on one machine rarely meet), and never twice
in one process."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_given: set[int] = set()


def _outside_ephemeral() -> range:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    if low - 1024 >= 4096:
        return range(max(1024, low - 20000), low)
    return range(high + 1, 65536)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free on 127.0.0.1 right now, outside the ephemeral range, not given before."""
    ports = _outside_ephemeral()
    for _ in range(1000):
        port = random.choice(ports)
        if port in _given:
            continue
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port on 127.0.0.1 in {ports.start}-{ports.stop - 1}")
