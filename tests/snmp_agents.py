"""Real SNMP agents for the tests: net-snmp's snmpd and snmpsim, on loopback ports.

* `Snmpd`: v1/v2c community ``public`` and SNMPv3 users (authNoPriv SHA,
  authPriv SHA-256/AES and SHA-512/AES), reporting this machine's real
  interfaces, disks and CPU.
* `Snmpsim`: recorded device walks served by snmpsim.  The community picks the
  data file; ``switch`` is the bundled Linux recording with sysUpTime,
  ifOperStatus.2 and ifInErrors.2 made writable (the ``writecache`` variation
  module), so a test can SET a reboot, an interface going down or a counter
  wrapping and watch the probe see it; ``bridge`` carries forwarding-table,
  LLDP and ENTITY-SENSOR rows; ``nosystem`` is a recording without the system
  group; ``dev000``… are hard links of recordings (a fleet of agents).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from demo.agents import RECORDED, simulated_device, snmp_set, start_snmpsim
from tests.conftest import free_port

V3_USERS = {
    # name: (auth protocol, auth key, priv protocol or None, priv key or None)
    "authonly": ("SHA", "auth-pass-1", None, None),
    "sha256aes": ("SHA-256", "auth-pass-2", "AES", "priv-pass-2"),
    "sha512aes": ("SHA-512", "auth-pass-3", "AES", "priv-pass-3"),
}


def _answers(port: int, community: str = "public", timeout: float = 10) -> bool:
    from probes.snmp import ber
    msg = ber.encode_request(ber.V2C, community.encode(), ber.GET, 1,
                             ber.encode_varbinds([ber.encode_oid("1.3.6.1.2.1.1.3.0")]))
    end = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < end:
            s.sendto(msg, ("127.0.0.1", port))
            try:
                s.recv(65535)
                return True
            except TimeoutError:
                continue
    return False


class Snmpd:
    """net-snmp's snmpd in the foreground with a config of our own."""

    def __init__(self, folder: Path,
                 users: dict[str, tuple[str, str, str | None, str | None]] | None = None
                 ) -> None:
        """`users`: the v3 users (name → auth protocol, key, priv protocol, key);
        default `V3_USERS`."""
        if shutil.which("snmpd") is None:
            pytest.fail("snmpd is missing: run `make test` (it installs net-snmp)")
        self.folder = folder
        self.port = free_port(socket.SOCK_DGRAM)
        folder.mkdir(parents=True, exist_ok=True)
        lines = ["rocommunity public 127.0.0.1", "sysLocation test", "sysContact tests"]
        for user, (auth, akey, priv, pkey) in (users or V3_USERS).items():
            if priv:
                lines.append(f'createUser {user} {auth} "{akey}" {priv} "{pkey}"')
                lines.append(f"rouser {user} priv")
            else:
                lines.append(f'createUser {user} {auth} "{akey}"')
                lines.append(f"rouser {user} auth")
        (folder / "snmpd.conf").write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = os.environ | {"SNMP_PERSISTENT_DIR": str(self.folder / "persist")}
        # -I -smux: no SMUX listener (it would open TCP 199 on every address).
        self.proc = subprocess.Popen(
            ["snmpd", "-f", "-Lf", str(self.folder / "log"), "-C", "-c",
             str(self.folder / "snmpd.conf"), "-I", "-smux", f"udp:127.0.0.1:{self.port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not _answers(self.port):
            self.stop()
            raise RuntimeError(f"snmpd did not start: {(self.folder / 'log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


BRIDGE = """\
1.3.6.1.2.1.1.1.0|4|Access switch with a forwarding table
1.3.6.1.2.1.1.3.0|67|1000
1.3.6.1.2.1.2.2.1.2.5|4|GigabitEthernet0/5
1.3.6.1.2.1.2.2.1.2.48|4|GigabitEthernet0/48
1.3.6.1.2.1.17.1.4.1.2.5|2|5
1.3.6.1.2.1.17.1.4.1.2.48|2|48
1.3.6.1.2.1.17.7.1.2.2.1.2.1.0.18.121.98.249.64|2|5
1.3.6.1.2.1.17.7.1.2.2.1.2.1.0.18.121.98.249.65|2|48
1.3.6.1.2.1.31.1.1.1.1.5|4|Gi0/5
1.3.6.1.2.1.31.1.1.1.1.48|4|Gi0/48
1.0.8802.1.1.2.1.3.7.1.3.48|4|Gi0/48
1.0.8802.1.1.2.1.4.1.1.7.0.48.1|4|Gi1/0/1
1.0.8802.1.1.2.1.4.1.1.9.0.48.1|4|core-sw
1.3.6.1.2.1.47.1.1.1.1.7.1001|4|CPU temperature
1.3.6.1.2.1.47.1.1.1.1.7.1002|4|Inlet temperature
1.3.6.1.2.1.99.1.1.1.1.1001|2|8
1.3.6.1.2.1.99.1.1.1.1.1002|2|8
1.3.6.1.2.1.99.1.1.1.2.1001|2|9
1.3.6.1.2.1.99.1.1.1.2.1002|2|9
1.3.6.1.2.1.99.1.1.1.3.1001|2|1
1.3.6.1.2.1.99.1.1.1.3.1002|2|0
1.3.6.1.2.1.99.1.1.1.4.1001|2|452
1.3.6.1.2.1.99.1.1.1.4.1002|2|31
1.3.6.1.2.1.99.1.1.1.5.1001|2|1
1.3.6.1.2.1.99.1.1.1.5.1002|2|3
"""


class Snmpsim:
    """snmpsim serving recorded walks; one data file per community."""

    def __init__(self, folder: Path, fleet: int = 40) -> None:
        self.folder = folder
        self.port = free_port(socket.SOCK_DGRAM)
        data = folder / "data"
        data.mkdir(parents=True)
        (data / "switch.snmprec").write_text(simulated_device())
        # snmpsim searches its data files: the lines must be in OID order.
        lines = sorted(BRIDGE.splitlines(),
                       key=lambda line: tuple(int(a) for a in line.split("|")[0].split(".")))
        (data / "bridge.snmprec").write_text("\n".join(lines) + "\n")
        self.fleet = []
        for i in range(fleet):
            source = RECORDED / ("winxp-full-walk.snmprec" if i % 4 == 3
                                 else "linux-full-walk.snmprec")
            name = f"dev{i:03d}"
            os.link(source, data / f"{name}.snmprec")  # a hard link is a new device
            self.fleet.append(name)
        os.link(RECORDED / "udp-endpoint-table-walk.snmprec", data / "nosystem.snmprec")
        # A Chinese DVR: sysName, sysLocation and an ifAlias in GBK (snmprec "4x": hex).
        gbk = {"1.3.6.1.2.1.1.5.0": "青岛分中心录像机", "1.3.6.1.2.1.1.6.0": "青岛港大港码头机房",
               "1.3.6.1.2.1.31.1.1.1.18.2": "上联-核心交换机"}
        lines = [f"{oid}|4x|{gbk[oid].encode('gbk').hex()}" if oid in gbk else line
                 for line in (RECORDED / "linux-full-walk.snmprec").read_text().splitlines()
                 for oid in [line.split("|", 1)[0]]]
        (data / "gbk.snmprec").write_text("\n".join(lines) + "\n")
        # An old switch: the same device without ifXTable (no 64-bit counters, no ifName).
        (data / "noifx.snmprec").write_text("".join(
            line for line in (RECORDED / "linux-full-walk.snmprec").read_text().splitlines(True)
            if not line.startswith("1.3.6.1.2.1.31.")))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = start_snmpsim(self.folder, [f"127.0.0.1:{self.port}"])
        if not _answers(self.port, "switch", timeout=30):
            self.stop()
            raise RuntimeError("snmpsim did not start: " +
                               (self.folder / "snmpsim.log").read_text())

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    async def set(self, oid: str, value: int) -> None:
        """SET one of the switch's writable OIDs."""
        await snmp_set("127.0.0.1", self.port, "switch", oid, value)
