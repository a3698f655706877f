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
  group; ``dev000``… are hard links of recordings (a fleet of agents);
  ``access24`` is a 24-port access switch as they stand in the field
  (`access_switch_24`).
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
    "md5aes": ("MD5", "auth-pass-5", "AES", "priv-pass-5"),
    "sha224aes": ("SHA-224", "auth-pass-6", "AES", "priv-pass-6"),
    "sha384": ("SHA-384", "auth-pass-8", None, None),
    # AES-256 goes through pysnmp (`probes.snmp.v3`), the others through our codec
    "sha256aes256": ("SHA-256", "auth-pass-4", "AES-256", "priv-pass-4"),
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
                 users: dict[str, tuple[str, str, str | None, str | None]] | None = None,
                 hide: tuple[str, ...] = ()) -> None:
        """`users`: the v3 users (name → auth protocol, key, priv protocol, key);
        default `V3_USERS`.  `hide`: subtrees the community does not see (an agent
        without HOST-RESOURCES-MIB: ``hide=("1.3.6.1.2.1.25",)``)."""
        if shutil.which("snmpd") is None:
            pytest.fail("snmpd is missing: run `make test` (it installs net-snmp)")
        self.folder = folder
        self.port = free_port(socket.SOCK_DGRAM)
        folder.mkdir(parents=True, exist_ok=True)
        lines = ["rocommunity public 127.0.0.1" + (" -V seen" if hide else ""),
                 "sysLocation test", "sysContact tests"]
        if hide:
            lines += ["view seen included .1", *(f"view seen excluded .{h}" for h in hide)]
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
        # The persistent folder is also the whole config search path (no /etc/snmp), so
        # that snmpEngineBoots survives a restart, as on a real device.
        persist = str(self.folder / "persist")
        env = os.environ | {"SNMP_PERSISTENT_DIR": persist, "SNMPCONFPATH": persist}
        # -I -smux: no SMUX listener (it would open TCP 199 on every address).
        self.proc = subprocess.Popen(
            ["snmpd", "-f", "-Lf", str(self.folder / "log"), "-c",
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


# The 24-port access switch: what its ports have behind them.
ACCESS_CAMERAS = {n: f"02:c0:00:00:00:{n:02x}" for n in (1, 2, 3, 4, 5, 6, 7)}
ACCESS_LEARNED = (23, "02:c0:00:00:00:17")  # a camera found only in the forwarding table
ACCESS_NAMED = (21, "监控室-备用链路")  # an operator's description, in Chinese


def access_switch_24(before: bool = False) -> str:
    """A .snmprec of an H3C-style 24-port access switch as one stands in a monitoring
    room: every port admin-up (the factory default); cameras on ports 1-7, of which
    port 7's is unplugged; ports 8-24 empty except port 21 (given a description by an
    engineer) and port 23 (a camera that only the forwarding table knows, whose cable
    has just been pulled: a switch flushes a port's entries when its link goes down,
    so its MAC is in the table only `before`, when port 23 was still up); two uplinks
    (25 up, 26 admin-down); every ifAlias the vendor's default "<ifName> Interface"."""
    rows: list[tuple[str, str, str]] = []

    def add(oid: str, tag: str, value: object) -> None:
        rows.append((oid, tag, str(value)))

    add("1.3.6.1.2.1.1.1.0", "4", "H3C Comware Platform Software, Software Version 5.20 "
        "Release 2220P02, H3C S5120-28P-SI")
    add("1.3.6.1.2.1.1.2.0", "6", "1.3.6.1.4.1.25506.1.516")
    add("1.3.6.1.2.1.1.3.0", "67", 8640000)
    add("1.3.6.1.2.1.1.5.0", "4", "yt-access-sw")
    ports = {n: f"GigabitEthernet1/0/{n}" for n in range(1, 27)}
    up = {*range(1, 7), 25} | ({ACCESS_LEARNED[0]} if before else set())
    for n, name in ports.items():
        add(f"1.3.6.1.2.1.2.2.1.2.{n}", "4", name)
        add(f"1.3.6.1.2.1.2.2.1.5.{n}", "66", 1_000_000_000)
        add(f"1.3.6.1.2.1.2.2.1.7.{n}", "2", 2 if n == 26 else 1)
        add(f"1.3.6.1.2.1.2.2.1.8.{n}", "2", 1 if n in up else 2)
        for column in (13, 14, 20):
            add(f"1.3.6.1.2.1.2.2.1.{column}.{n}", "65", 0)
        add(f"1.3.6.1.2.1.31.1.1.1.1.{n}", "4", name)
        add(f"1.3.6.1.2.1.31.1.1.1.6.{n}", "70", 123456789 * n if n in up else 0)
        add(f"1.3.6.1.2.1.31.1.1.1.10.{n}", "70", 9876543 * n if n in up else 0)
        add(f"1.3.6.1.2.1.31.1.1.1.15.{n}", "66", 1000)
        alias = ACCESS_NAMED[1] if n == ACCESS_NAMED[0] else f"{name} Interface"
        add(f"1.3.6.1.2.1.31.1.1.1.18.{n}", "4x", alias.encode().hex())
        add(f"1.3.6.1.2.1.17.1.4.1.2.{n}", "2", n)  # bridge port n is ifIndex n
    macs = {mac: port for port, mac in ACCESS_CAMERAS.items() if port != 7}
    if before:
        macs[ACCESS_LEARNED[1]] = ACCESS_LEARNED[0]
    macs |= {f"02:00:5e:00:{i // 256:02x}:{i % 256:02x}": 25 for i in range(40)}  # upstream
    for mac, port in macs.items():
        arcs = ".".join(str(int(b, 16)) for b in mac.split(":"))
        add(f"1.3.6.1.2.1.17.7.1.2.2.1.2.1.{arcs}", "2", port)
    rows.sort(key=lambda r: tuple(int(a) for a in r[0].split(".")))  # snmpsim needs order
    return "".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in rows)


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
        (data / "access24.snmprec").write_text(access_switch_24())
        (data / "access24-before.snmprec").write_text(access_switch_24(before=True))
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


# -- a three-level tree, as LLDP and the forwarding tables show it --
#
#   jn-core-sw  Gi1/0/1 ─── Gi0/24  qd-agg-sw  Gi0/1 ─── Gi0/48  qd-acc-sw  Gi0/5  qd-cam01
#   (role: core)                    (no uplink named:         (uplink Gi0/48)   Gi0/6  qd-cam02
#                                    placed from the core)                      Gi0/7  qd-cam03
#
# Each switch's ifIndexes are its own (core 1xx, aggregation 2xx, access 3xx), so one
# snmpsim serves all three: writecache keeps one value per OID for the whole process.
# The ports a test may SET down (ifOperStatus, writable): the access ports 5-7 and the
# aggregation's downlink Gi0/1.

TREE_CAMERAS = {"qd-cam01": ("02:c0:00:00:01:05", "Gi0/5"),
                "qd-cam02": ("02:c0:00:00:01:06", "Gi0/6"),
                "qd-cam03": ("02:c0:00:00:01:07", "Gi0/7")}
# switch → (sysName, ifIndex base, ports, LLDP: local port → "sysName port")
TREE = {
    "core": ("jn-core-sw", 100, [f"Gi1/0/{n}" for n in range(1, 5)],
             {"Gi1/0/1": "qd-agg-sw Gi0/24"}),
    "agg": ("qd-agg-sw", 200, [f"Gi0/{n}" for n in range(1, 25)],
            {"Gi0/24": "jn-core-sw Gi1/0/1", "Gi0/1": "qd-acc-sw Gi0/48"}),
    "acc": ("qd-acc-sw", 300, [f"Gi0/{n}" for n in range(1, 49)],
            {"Gi0/48": "qd-agg-sw Gi0/1"}),
}
TREE_WRITABLE = {("acc", "Gi0/5"), ("acc", "Gi0/6"), ("acc", "Gi0/7"), ("agg", "Gi0/1")}


def tree_oper_oid(switch: str, port: str) -> str:
    """The ifOperStatus OID of one of the tree's ports (SET 2 for down, 1 for up)."""
    _, base, ports, _ = TREE[switch]
    return f"1.3.6.1.2.1.2.2.1.8.{base + ports.index(port) + 1}"


def tree_switch(switch: str) -> str:
    """The .snmprec of one switch of the tree: system, IF-MIB (every port admin-up; up
    where a camera or a neighbour is), the Q-BRIDGE forwarding table (upstream ports
    see every camera, shared with 30 other MACs) and LLDP-MIB."""
    sys_name, base, ports, lldp = TREE[switch]
    rows: list[tuple[str, str, str]] = []

    def add(oid: str, tag: str, value: object) -> None:
        rows.append((oid, tag, str(value)))

    add("1.3.6.1.2.1.1.1.0", "4", f"Huawei Versatile Routing Platform ({sys_name})")
    add("1.3.6.1.2.1.1.3.0", "67", 8640000)
    add("1.3.6.1.2.1.1.5.0", "4", sys_name)
    cameras = {port: mac for mac, port in TREE_CAMERAS.values()} if switch == "acc" else {}
    up = set(lldp) | set(cameras)
    index = {port: base + n for n, port in enumerate(ports, 1)}
    for port, i in index.items():
        add(f"1.3.6.1.2.1.2.2.1.2.{i}", "4", port)
        add(f"1.3.6.1.2.1.2.2.1.7.{i}", "2", 1)
        oper = 1 if port in up else 2
        if (switch, port) in TREE_WRITABLE:
            rows.append((f"1.3.6.1.2.1.2.2.1.8.{i}", "2:writecache", f"value={oper}"))
        else:
            add(f"1.3.6.1.2.1.2.2.1.8.{i}", "2", oper)
        add(f"1.3.6.1.2.1.31.1.1.1.1.{i}", "4", port)
        add(f"1.3.6.1.2.1.31.1.1.1.15.{i}", "66", 1000)
        add(f"1.3.6.1.2.1.17.1.4.1.2.{i - base}", "2", i)  # bridge port → ifIndex
        add(f"1.0.8802.1.1.2.1.3.7.1.3.{i - base}", "4", port)  # lldpLocPortId
    macs = {mac: port for port, mac in cameras.items()}
    toward_cameras = {"core": "Gi1/0/1", "agg": "Gi0/1"}.get(switch)
    upstream = {"acc": "Gi0/48", "agg": "Gi0/24"}.get(switch)
    if toward_cameras:
        macs |= {mac: toward_cameras for mac, _ in TREE_CAMERAS.values()}
        macs |= {f"02:00:5e:00:{base:02x}:{i:02x}": toward_cameras for i in range(30)}
    if upstream:
        macs |= {f"02:00:5e:01:{base:02x}:{i:02x}": upstream for i in range(30)}
    for mac, port in macs.items():
        arcs = ".".join(str(int(b, 16)) for b in mac.split(":"))
        add(f"1.3.6.1.2.1.17.7.1.2.2.1.2.1.{arcs}", "2", index[port] - base)
    for port, neighbour in lldp.items():
        name, their = neighbour.split(" ")
        local = index[port] - base
        add(f"1.0.8802.1.1.2.1.4.1.1.7.0.{local}.1", "4", their)  # lldpRemPortId
        add(f"1.0.8802.1.1.2.1.4.1.1.9.0.{local}.1", "4", name)  # lldpRemSysName
    rows.sort(key=lambda r: tuple(int(a) for a in r[0].split(".")))  # snmpsim needs order
    return "".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in rows)


class TreeAgents:
    """snmpsim of its own serving the tree's three switches (communities core, agg,
    acc), so the ports a test SETs down are its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port(socket.SOCK_DGRAM)
        data = folder / "data"
        data.mkdir(parents=True)
        for switch in TREE:
            (data / f"{switch}.snmprec").write_text(tree_switch(switch))
        self.proc = start_snmpsim(folder, [f"127.0.0.1:{self.port}"])
        if not _answers(self.port, "acc", timeout=30):
            self.stop()
            raise RuntimeError("snmpsim did not start: " +
                               (folder / "snmpsim.log").read_text())

    async def set_port(self, switch: str, port: str, up: bool) -> None:
        """SET one of the writable ports (`TREE_WRITABLE`) up or down."""
        await snmp_set("127.0.0.1", self.port, switch, tree_oper_oid(switch, port),
                       1 if up else 2)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
