"""A network namespace of the test's own, for paths that must fail without touching
any real network: a blackhole (packets vanish) and an address with no route."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

# Inside the namespace: 10.255.0.0/24 sits on one end of a veth pair whose other end
# holds no address, and 10.255.0.2 has a static neighbour entry (no ARP to fail), so
# packets to it vanish: timeouts.  Nothing else is routed: unreachable at once.
BLACKHOLE = "10.255.0.2"
NO_ROUTE = "10.254.0.1"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextmanager
def namespace() -> Iterator[str]:
    """Create a namespace with lo up and a blackhole subnet; yield its name."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to create a network namespace (CI has both)")
    name = f"svmon-{uuid.uuid4().hex[:8]}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", "bh0", "type", "veth", "peer", "name", "bh1")
        _ip("-n", name, "addr", "add", "10.255.0.1/24", "dev", "bh0")
        _ip("-n", name, "link", "set", "bh0", "up")
        _ip("-n", name, "link", "set", "bh1", "up")
        _ip("-n", name, "neigh", "add", BLACKHOLE, "lladdr", "02:00:00:00:00:02", "dev", "bh0")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def run_in(ns: str, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a command inside the namespace."""
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          timeout=timeout)
