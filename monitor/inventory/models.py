"""The shape of ``inventory.yaml`` (pydantic, strict) and the resolved inventory.

The file models (`InventoryFile`, `SiteSpec`, `DeviceSpec`, check entries) say
what may be written; `monitor.inventory.loader` validates a file against them,
merges per-kind defaults, checks cross references and produces the resolved,
immutable `Inventory` the rest of the daemon uses.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from monitor.faults.maintenance import MaintenanceWindow, MajorEvent
from monitor.inventory.secrets import SecretRefField
from monitor.vocab import Duration
from probes.base import Credentials, ProbeParams
from probes.thresholds import Threshold

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Labels = dict[Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")], str]

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if _HOSTNAME.match(value) and not value.replace(".", "").isdigit():
        return value
    raise ValueError(f"bad address {value!r}: not an IP address or host name")


Address = Annotated[str, AfterValidator(_address)]


def _mac(value: str) -> str:
    digits = re.sub(r"[^0-9a-fA-F]", "", value)
    if len(digits) != 12 or not re.fullmatch(r"[0-9a-fA-F:.-]+", value):
        raise ValueError(f"bad MAC address {value!r}")
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2)).lower()


MacAddress = Annotated[str, AfterValidator(_mac)]


class Strict(BaseModel):
    """Unknown keys are errors; models are immutable; a number written where text is
    expected (an id 1001) is that text."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class SiteRole(StrEnum):
    """What a site is in the contract's estate."""

    PROVINCIAL_CENTRE = "provincial_centre"
    SUB_CENTRE = "sub_centre"
    MONITORING_ROOM = "monitoring_room"


class DeviceKind(StrEnum):
    """Kinds of equipment the contract names."""

    SWITCH = "switch"
    DVR = "dvr"
    CAMERA = "camera"
    PROXY_SERVER = "proxy_server"
    AUTH_SERVER = "auth_server"
    BACKUP_SERVER = "backup_server"
    BIG_SCREEN_HOST = "big_screen_host"
    VIDEO_MATRIX = "video_matrix"
    SERVER = "server"


class SiteSpec(Strict):
    """A site: the provincial centre, a sub-centre or a monitoring room."""

    id: Id
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    region: Id = Field(description="one of `regions`; drives the on-site clock and who is "
                                   "called first")
    role: SiteRole
    parent: Id | None = None
    labels: Labels = {}


class CredentialSpec(Strict):
    """A named set of credentials; secrets by reference only."""

    username: str | None = Field(default=None, description="ONVIF / RTSP / HTTP user")
    password: SecretRefField | None = None
    community: SecretRefField | None = Field(default=None, description="SNMP v1/v2c")
    snmp_user: str | None = Field(default=None, description="SNMPv3 security name")
    auth_protocol: Literal["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"] = "SHA"
    auth_key: SecretRefField | None = None
    priv_protocol: Literal["DES", "AES", "AES-192", "AES-256"] = "AES"
    priv_key: SecretRefField | None = Field(default=None, description="set: authPriv")

    SECRETS: ClassVar[tuple[str, ...]] = ("password", "community", "auth_key", "priv_key")


class CheckFields(Strict):
    """Fields every check entry has, whatever its probe kind."""

    name: Id | None = Field(default=None, description="defaults to the kind; unique per device")
    interval: Duration | None = Field(default=None, ge=0.1, le=86400,
                                      description="100 ms to 1 day")
    timeout: Duration | None = Field(default=None, gt=0, le=86400,
                                     description="up to the interval")
    fail_after: int | None = Field(default=None, ge=1, le=100,
                                   description="consecutive failures before DOWN")
    recover_after: int | None = Field(default=None, ge=1, le=100,
                                      description="consecutive successes before UP")
    enabled: bool = True
    thresholds: dict[str, Threshold] = {}


class KindDefaults(Strict):
    """What every device of one kind gets unless it says otherwise."""

    credentials: Id | None = None
    checks: list[dict[str, Any]] = []
    labels: Labels = {}


class CheckDefaults(Strict):
    """Defaults of the per-check state machine."""

    fail_after: int = Field(default=3, ge=1, le=100)
    recover_after: int = Field(default=2, ge=1, le=100)
    flap_window: Duration = Field(default=1800.0, gt=0)
    flap_changes: int = Field(default=6, ge=2, description="state changes within the window")


class Defaults(Strict):
    """The ``defaults:`` section."""

    check: CheckDefaults = CheckDefaults()
    kinds: dict[DeviceKind, KindDefaults] = {}


class DeviceSpec(Strict):
    """A device as written in the file (before defaults are merged)."""

    id: Id
    name: str = Field(min_length=1)
    kind: DeviceKind
    site: Id
    address: Address
    parent: Id | None = Field(default=None, description="the device this one hangs off")
    mac: MacAddress | None = Field(default=None, description="to learn its switch port")
    port: str | None = Field(default=None, min_length=1, max_length=64,
                             description="the parent switch's port it is plugged into "
                                         "(ifName or ifDescr, e.g. Gi0/5)")
    credentials: Id | None = None
    checks: list[dict[str, Any]] = []
    labels: Labels = {}


class CustomerSpec(Strict):
    """A customer account of the service desk: the sites its users see and sign for."""

    name: str = Field(default="", description="e.g. 青岛海关")
    sites: list[Id] = Field(default=[], description="these sites")
    regions: list[Id] = Field(default=[], description="and every site in these regions")


class InventoryFile(Strict):
    """The whole of ``inventory.yaml``."""

    version: Literal[1] = 1
    defaults: Defaults = Defaults()
    credentials: dict[Id, CredentialSpec] = {}
    regions: list[Id] = Field(default=[], description="the regions sites are in, declared once "
                                                      "(e.g. [jinan, qingdao]); the settings' "
                                                      "sla.onsite and the roster name them")
    sites: list[SiteSpec] = []
    devices: list[DeviceSpec] = []
    maintenance: list[MaintenanceWindow] = []
    major_events: list[MajorEvent] = []
    customers: dict[Id, CustomerSpec] = Field(
        default={}, description="customer accounts (`monitor users add --role customer "
                                "--customer ID`) and the sites each covers")


# -- the resolved inventory ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Site:
    """A site, resolved."""

    id: str
    name_zh: str
    name_en: str
    region: str
    role: SiteRole
    parent: str | None
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CheckConfig:
    """One check of one device, with every default applied."""

    name: str
    kind: str
    interval_s: float
    timeout_s: float
    fail_after: int
    recover_after: int
    flap_window_s: float
    flap_changes: int
    params: ProbeParams
    thresholds: Mapping[str, Threshold]


@dataclass(frozen=True, slots=True)
class Device:
    """A device, resolved: defaults merged, credentials read."""

    id: str
    name: str
    kind: DeviceKind
    site: str
    address: str
    parent: str | None
    credentials: Credentials
    checks: tuple[CheckConfig, ...]
    labels: Mapping[str, str]
    mac: str | None = None
    port: str | None = None  # on its parent switch


@dataclass(frozen=True)
class Inventory:
    """The validated inventory the daemon runs on."""

    path: Path
    sites: Mapping[str, Site]
    devices: Mapping[str, Device]
    check_defaults: CheckDefaults = field(default_factory=CheckDefaults)
    regions: tuple[str, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    major_events: tuple[MajorEvent, ...] = ()
    customers: Mapping[str, frozenset[str]] = field(default_factory=dict)  # id -> site ids
    customer_names: Mapping[str, str] = field(default_factory=dict)  # id -> 青岛海关

    def checks(self) -> Iterator[tuple[Device, CheckConfig]]:
        """Every (device, check) pair, in file order."""
        for device in self.devices.values():
            for check in device.checks:
                yield device, check

    @property
    def check_count(self) -> int:
        """How many checks the inventory configures."""
        return sum(len(d.checks) for d in self.devices.values())
