"""What the SNMP probes read, declared as data: one frozen description per value.

Numeric OIDs throughout: Debian ships no IETF MIB files, and resolving names at
run time costs CPU for nothing.  The name in each description is the MIB's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from probes.snmp.ber import encode_oid


class Kind(Enum):
    """How a raw value becomes a probe value."""

    TEXT = "text"  # OCTET STRING → str
    OID = "oid"  # OBJECT IDENTIFIER → dotted str
    GAUGE = "gauge"  # a level: reported as is (× scale)
    COUNTER = "counter"  # monotonic: reported raw and as a rate per second
    TIMETICKS = "timeticks"  # hundredths of a second → seconds


@dataclass(frozen=True, slots=True)
class Scalar:
    """One scalar instance (``.0``) to GET."""

    key: str
    mib_name: str
    oid: bytes
    kind: Kind


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table to walk; rows are keyed by the index suffix."""

    key: str
    mib_name: str
    oid: bytes
    kind: Kind
    bits: int = 0  # counter width (32 or 64): wraps are handled per width


def _s(key: str, name: str, oid: str, kind: Kind) -> Scalar:
    return Scalar(key, name, encode_oid(oid), kind)


def _c(key: str, name: str, oid: str, kind: Kind, bits: int = 0) -> Column:
    return Column(key, name, encode_oid(oid), kind, bits)


# SNMPv2-MIB system group
SYSTEM = (
    _s("sys_descr", "sysDescr", "1.3.6.1.2.1.1.1.0", Kind.TEXT),
    _s("sys_object_id", "sysObjectID", "1.3.6.1.2.1.1.2.0", Kind.OID),
    _s("sys_uptime_s", "sysUpTime", "1.3.6.1.2.1.1.3.0", Kind.TIMETICKS),
    _s("sys_name", "sysName", "1.3.6.1.2.1.1.5.0", Kind.TEXT),
    # HOST-RESOURCES-MIB: the host's own uptime, which an agent restart does not reset
    _s("host_uptime_s", "hrSystemUptime", "1.3.6.1.2.1.25.1.1.0", Kind.TIMETICKS),
)
# SNMP-FRAMEWORK-MIB: the SNMP engine's restarts (RFC 3414 keeps them across reboots)
# and its seconds since the last one.  Asked with v2c and v3 only: a v1 agent answers
# a GET with an unknown OID by an error that costs a round-trip per missing OID.
ENGINE = (
    _s("engine_boots", "snmpEngineBoots", "1.3.6.1.6.3.10.2.1.2.0", Kind.GAUGE),
    _s("engine_time_s", "snmpEngineTime", "1.3.6.1.6.3.10.2.1.3.0", Kind.GAUGE),
)

# IF-MIB ifTable and ifXTable: the columns one interface poll needs.
IF_DESCR = _c("descr", "ifDescr", "1.3.6.1.2.1.2.2.1.2", Kind.TEXT)
IF_ADMIN = _c("admin_status", "ifAdminStatus", "1.3.6.1.2.1.2.2.1.7", Kind.GAUGE)
IF_OPER = _c("oper_status", "ifOperStatus", "1.3.6.1.2.1.2.2.1.8", Kind.GAUGE)
IF_NAME = _c("name", "ifName", "1.3.6.1.2.1.31.1.1.1.1", Kind.TEXT)
IF_ALIAS = _c("alias", "ifAlias", "1.3.6.1.2.1.31.1.1.1.18", Kind.TEXT)
IF_SPEED = _c("speed", "ifSpeed", "1.3.6.1.2.1.2.2.1.5", Kind.GAUGE)  # bits/s
IF_HIGH_SPEED = _c("high_speed", "ifHighSpeed", "1.3.6.1.2.1.31.1.1.1.15", Kind.GAUGE)  # Mb/s
IF_COUNTERS = (
    _c("if_in_octets", "ifHCInOctets", "1.3.6.1.2.1.31.1.1.1.6", Kind.COUNTER, 64),
    _c("if_out_octets", "ifHCOutOctets", "1.3.6.1.2.1.31.1.1.1.10", Kind.COUNTER, 64),
    _c("if_in_errors", "ifInErrors", "1.3.6.1.2.1.2.2.1.14", Kind.COUNTER, 32),
    _c("if_in_discards", "ifInDiscards", "1.3.6.1.2.1.2.2.1.13", Kind.COUNTER, 32),
    _c("if_out_errors", "ifOutErrors", "1.3.6.1.2.1.2.2.1.20", Kind.COUNTER, 32),
)
# SNMPv1 has no Counter64: the 32-bit octet counters stand in for the HC ones.
IF_COUNTERS_V1 = (
    _c("if_in_octets", "ifInOctets", "1.3.6.1.2.1.2.2.1.10", Kind.COUNTER, 32),
    _c("if_out_octets", "ifOutOctets", "1.3.6.1.2.1.2.2.1.16", Kind.COUNTER, 32),
    *IF_COUNTERS[2:],
)
IF_UP, IF_DOWN = 1, 2

# HOST-RESOURCES-MIB
HR_STORAGE_TYPE = _c("type", "hrStorageType", "1.3.6.1.2.1.25.2.3.1.2", Kind.OID)
HR_STORAGE_DESCR = _c("descr", "hrStorageDescr", "1.3.6.1.2.1.25.2.3.1.3", Kind.TEXT)
HR_STORAGE_UNITS = _c("units", "hrStorageAllocationUnits", "1.3.6.1.2.1.25.2.3.1.4",
                      Kind.GAUGE)
HR_STORAGE_SIZE = _c("size", "hrStorageSize", "1.3.6.1.2.1.25.2.3.1.5", Kind.GAUGE)
HR_STORAGE_USED = _c("used", "hrStorageUsed", "1.3.6.1.2.1.25.2.3.1.6", Kind.GAUGE)
HR_STORAGE_FIXED_DISK = "1.3.6.1.2.1.25.2.1.4"  # hrStorageFixedDisk
HR_STORAGE_NETWORK_DISK = "1.3.6.1.2.1.25.2.1.10"  # hrStorageNetworkDisk
HR_PROCESSOR_LOAD = _c("load", "hrProcessorLoad", "1.3.6.1.2.1.25.3.3.1.2", Kind.GAUGE)

# ENTITY-SENSOR-MIB entPhySensorTable, named by ENTITY-MIB entPhysicalName
SENSOR_TYPE = _c("type", "entPhySensorType", "1.3.6.1.2.1.99.1.1.1.1", Kind.GAUGE)
SENSOR_SCALE = _c("scale", "entPhySensorScale", "1.3.6.1.2.1.99.1.1.1.2", Kind.GAUGE)
SENSOR_PRECISION = _c("precision", "entPhySensorPrecision", "1.3.6.1.2.1.99.1.1.1.3",
                      Kind.GAUGE)
SENSOR_VALUE = _c("value", "entPhySensorValue", "1.3.6.1.2.1.99.1.1.1.4", Kind.GAUGE)
SENSOR_STATUS = _c("status", "entPhySensorOperStatus", "1.3.6.1.2.1.99.1.1.1.5", Kind.GAUGE)
PHYSICAL_NAME = _c("name", "entPhysicalName", "1.3.6.1.2.1.47.1.1.1.1.7", Kind.TEXT)
SENSOR_CELSIUS = 8  # entPhySensorType celsius(8)
SENSOR_OK = 1  # entPhySensorOperStatus ok(1)

# BRIDGE-MIB and Q-BRIDGE-MIB forwarding tables, LLDP-MIB remote systems
BASE_PORT_IFINDEX = _c("ifindex", "dot1dBasePortIfIndex", "1.3.6.1.2.1.17.1.4.1.2", Kind.GAUGE)
FDB_PORT = _c("port", "dot1dTpFdbPort", "1.3.6.1.2.1.17.4.3.1.2", Kind.GAUGE)
QFDB_PORT = _c("port", "dot1qTpFdbPort", "1.3.6.1.2.1.17.7.1.2.2.1.2", Kind.GAUGE)
LLDP_REM_PORT_ID = _c("port_id", "lldpRemPortId", "1.0.8802.1.1.2.1.4.1.1.7", Kind.TEXT)
LLDP_REM_SYS_NAME = _c("sys_name", "lldpRemSysName", "1.0.8802.1.1.2.1.4.1.1.9", Kind.TEXT)
LLDP_LOC_PORT_ID = _c("port_id", "lldpLocPortId", "1.0.8802.1.1.2.1.3.7.1.3", Kind.TEXT)
