"""The ``snmp`` check: system, interfaces, storage, CPU and sensors of one agent.

What is read is declared in `probes.snmp.mib`; how each reading is judged is
here, in one function per section.  Counter rates need the previous sample: the
core hands this check's previous result in `ProbeContext.previous`, so the
probe itself keeps no state.
"""

from __future__ import annotations

import asyncio
import codecs
import contextvars
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, model_validator

from monitor.vocab import Duration, Status
from probes.base import ProbeContext, ProbeKind, ProbeParams, Target
from probes.result import ProbeEvent, ProbeResult, Reason, Value
from probes.snmp import ber, mib, usm
from probes.snmp.client import Agent, Row, SnmpClient
from probes.snmp.errors import SnmpError

Section = Literal["system", "interfaces", "storage", "cpu", "sensors"]
TIMETICKS_WRAP_S = 2**32 / 100  # sysUpTime wraps after ~497 days


class InterfaceSelect(ProbeParams):
    """Which interfaces are read, and which of them matter.

    Read: the `uplinks`, and those `names` or `match` choose; without either, every
    admin-up interface.  A port that is read but does not matter is reported as
    values only.  With ``ports: matter`` (the default), a port matters -- its being
    down is a state -- when it is an uplink, was chosen by `names` or `match`, carries
    a name of its own (an ifAlias that is more than its interface name), or has an
    inventory device behind it (the device's ``port:``, or its MAC in the switch's
    forwarding table).  So an admin-up access port with nothing plugged in does not
    keep a switch in WARNING.  ``ports: admin_up``: every admin-up port matters.
    """

    names: list[str] = Field(default=[], description="ifName or ifDescr, exactly")
    match: str | None = Field(default=None, description="regex over ifName, ifDescr, ifAlias")
    uplinks: list[str] = Field(default=[], description="uplink names: down is DOWN, not WARNING")
    ports: Literal["matter", "admin_up"] = Field(
        default="matter", description="which down ports are a WARNING: those that matter "
                                      "(uplinks, named, a device behind them), or all admin-up")

    @model_validator(mode="after")
    def _regex(self) -> InterfaceSelect:
        if self.match is not None:
            try:
                re.compile(self.match)
            except re.error as exc:
                raise ValueError(f"match: bad regular expression: {exc}") from exc
        return self


class SnmpConnection(ProbeParams):
    """How to reach the agent (shared by the SNMP check kinds)."""

    version: Literal["1", "2c", "3"] = "2c"
    port: int = Field(default=161, ge=1, le=65535)
    retries: int = Field(default=1, ge=0, le=5)
    per_try_timeout: Duration = Field(default=2.0, gt=0, description="at most, per request try")
    max_repetitions: int = Field(default=25, ge=1, le=100)
    max_oids: int = Field(default=30, ge=1, le=100, description="OIDs per GET request")
    charset: str | None = Field(default=None, description="the device's text encoding "
                                "(e.g. gbk); default: UTF-8, else GB18030")
    walk_max_rows: int = Field(default=10_000, ge=10, le=1_000_000,
                               description="rows of one walk at most; past it: "
                                           "malformed_response, 'walk did not end'")
    walk_max_bytes: int = Field(default=4 << 20, ge=4096, le=256 << 20,
                                description="bytes of one walk at most")
    context: str = Field(default="", max_length=32, pattern=r"^[\x21-\x7e]*$",
                         description="SNMPv3 context name (e.g. vlan-5: Cisco-style "
                                     "switches serve each VLAN's BRIDGE-MIB in its own)")

    @model_validator(mode="after")
    def _checked(self) -> SnmpConnection:
        if self.charset is not None:
            try:
                codecs.lookup(self.charset)
            except LookupError:
                raise ValueError(f"charset: unknown encoding {self.charset!r}") from None
        if self.context and self.version != "3":
            raise ValueError("context: an SNMPv3 context needs version 3 (with v2c, a "
                             "Cisco-style VLAN goes in the community: public@5)")
        return self


class SnmpParams(SnmpConnection):
    """Parameters of an ``snmp`` check."""

    read: list[Section] = Field(default=["system", "interfaces"], min_length=1)
    interfaces: InterfaceSelect = InterfaceSelect()


def agent_for(target: Target, params: SnmpConnection) -> Agent:
    """The agent to ask, from the device and the check's parameters."""
    c = target.credentials
    user = None
    if params.version == "3" and c.snmp_user and c.auth_key:
        user = usm.Usm(c.snmp_user, c.auth_protocol or "SHA", c.auth_key,
                       c.priv_protocol if c.priv_key else None, c.priv_key)
    version = {"1": ber.V1, "2c": ber.V2C, "3": 3}[params.version]
    return Agent(target.address, params.port, version, (c.community or "").encode(),
                 params.per_try_timeout, params.retries, params.max_oids,
                 params.max_repetitions, user, params.context, params.walk_max_rows,
                 params.walk_max_bytes)


def client_for(ctx: ProbeContext, agent: Agent) -> SnmpClient:
    """The shared client for this agent's SNMP version."""
    if agent.version != 3:
        return ctx.clients.snmp_fast
    if agent.usm is not None and usm.fast_path(agent.usm.auth_protocol,
                                               agent.usm.priv_protocol):
        return ctx.clients.snmp_v3_fast
    return ctx.clients.snmp_v3


def required_credentials(params: SnmpConnection) -> tuple[str, ...]:
    """Credential fields an SNMP check cannot do without."""
    return ("snmp_user", "auth_key") if params.version == "3" else ("community",)


log = logging.getLogger("probes.snmp")
_LOGGED_UNSUPPORTED: set[tuple[str, str]] = set()  # (agent, section) already logged


@dataclass
class Reading:
    """What the sections found, merged into one result."""

    values: dict[str, Value] = field(default_factory=dict)
    problems: list[tuple[Status, str, str]] = field(default_factory=list)
    events: list[ProbeEvent] = field(default_factory=list)
    restarted: bool = False  # the agent restarted since the previous sample: no rates
    not_supported: list[str] = field(default_factory=list)  # sections the agent lacks

    def problem(self, status: Status, reason: str, detail: str) -> None:
        self.problems.append((status, reason, detail))

    def unsupported(self, agent: Agent, section: str, what: str) -> None:
        """The agent has no such table: a fact about the device, not a fault (a UPS
        has no IF-MIB).  Said in the values and the summary; logged once per agent."""
        self.values[f"{section}_supported"] = 0
        self.not_supported.append(section)
        if (agent.host, section) not in _LOGGED_UNSUPPORTED:
            _LOGGED_UNSUPPORTED.add((agent.host, section))
            log.info("SNMP table not supported by the agent; not a fault",
                     extra={"fields": {"agent": agent.host, "section": section,
                                       "table": what}})

    def result(self) -> ProbeResult:
        rank = {Status.OK: 0, Status.WARNING: 1, Status.ERROR: 2, Status.DOWN: 3}
        if not self.problems:
            return ProbeResult(Status.OK, Reason.OK, self._summary(), None, self.values,
                               tuple(self.events))
        worst = max(self.problems, key=lambda p: rank[p[0]])
        details = "; ".join(p[2] for p in self.problems[:4])
        more = len(self.problems) - 4
        if more > 0:
            details += f"; and {more} more"
        return ProbeResult(worst[0], worst[1], details, None, self.values, tuple(self.events))

    def _summary(self) -> str:
        parts = []
        if "sys_uptime_s" in self.values:
            parts.append(f"up {_age(float(self.values['sys_uptime_s']))}")  # type: ignore[arg-type]
        if "if_selected" in self.values:
            parts.append(f"{self.values['if_selected']} interfaces up")
        if self.not_supported:
            parts.append(f"not supported: {', '.join(sorted(self.not_supported))}")
        return ", ".join(parts) or "ok"


def _age(seconds: float) -> str:
    d, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    return f"{d}d{h:02d}h{rest // 60:02d}m" if d else f"{h}h{rest // 60:02d}m"


CHARSET: contextvars.ContextVar[str | None] = contextvars.ContextVar("snmp_charset",
                                                                     default=None)


def decode_text(raw: bytes, charset: str | None = None) -> str:
    """An OCTET STRING as text: the device's `charset` if set, else UTF-8, else GB18030
    (Chinese devices send sysName, sysLocation, ifAlias in GBK); never mojibake --
    what neither decodes is shown with replacement characters."""
    if charset:
        return raw.decode(charset, "replace")
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


def _text(value: ber.Value) -> str:
    if isinstance(value, bytes):
        return decode_text(value, CHARSET.get()).strip("\x00 ")
    if isinstance(value, tuple):
        return ".".join(map(str, value))
    return "" if value is None or isinstance(value, ber._Exception) else str(value)


def _number(value: ber.Value) -> int | None:
    return value if isinstance(value, int) else None


def _prev(ctx: ProbeContext, key: str) -> Value:
    return ctx.previous.values.get(key) if ctx.previous is not None else None


def counter_rate(current: int, previous: Value, bits: int, elapsed: float | None,
                 restarted: bool, max_rate: float | None = None) -> float | None:
    """Per-second rate of a counter; None when it cannot be known (never negative).

    A Counter32 that went down wrapped when the rate that implies is one the line can
    carry (`max_rate`, from ifSpeed, with 10 % to spare); without a speed, when it went
    down from its upper half.  Any other decrease is a reset (agent or interface
    restart) and gives no rate this time.
    """
    if (not isinstance(previous, int) or isinstance(previous, bool) or not elapsed
            or elapsed <= 0 or restarted):
        return None
    delta = current - previous
    if delta < 0:
        if bits != 32:
            return None
        wrapped = delta + 2**32
        plausible = wrapped / elapsed <= max_rate * 1.1 if max_rate else previous >= 2**31
        if not plausible:
            return None
        delta = wrapped
    return delta / elapsed


async def read_system(agent: Agent, client: SnmpClient, ctx: ProbeContext,
                      reading: Reading) -> None:
    """sysUpTime (reboots), sysDescr and sysObjectID (drift), sysName."""
    scalars = mib.SYSTEM + (mib.ENGINE if agent.version != ber.V1 else ())
    got = await client.get(agent, [s.oid for s in scalars], ctx.deadline)
    found = 0
    for scalar in scalars:
        tag, value = got.get(scalar.oid, (ber.NO_SUCH_OBJECT, ber.NO_SUCH_OBJECT_VALUE))
        if tag in ber.EXCEPTIONS:
            continue
        found += scalar in mib.SYSTEM
        if scalar.kind is mib.Kind.TIMETICKS and isinstance(value, int):
            reading.values[scalar.key] = value / 100
        elif scalar.kind is mib.Kind.GAUGE:
            if isinstance(value, int):
                reading.values[scalar.key] = value
        else:
            reading.values[scalar.key] = _text(value)
    if not found:
        reading.problem(Status.ERROR, Reason.NO_SUCH_OBJECT,
                        "the agent has no SNMPv2-MIB system group")
        return
    restart = _restart(ctx, reading)
    if restart is not None:
        reading.restarted = True  # counters restart with the agent either way
        host, host_before = reading.values.get("host_uptime_s"), _prev(ctx, "host_uptime_s")
        uptime, before = reading.values.get("sys_uptime_s"), _prev(ctx, "sys_uptime_s")
        if isinstance(host, float) and isinstance(host_before, float) and host >= host_before:
            # The host kept running: only the SNMP agent restarted.
            reading.events.append(ProbeEvent(
                "agent_restart", f"the SNMP agent restarted ({restart}); the device "
                f"itself has been up {_age(host)}",
                {"agent_uptime_s": uptime, "host_uptime_s": host}))
        else:
            how = "" if isinstance(host, float) else \
                " (without hrSystemUptime an agent restart looks alike)"
            values: dict[str, Value] = {"uptime_before_s": before, "uptime_s": uptime}
            if "snmpEngineBoots" in restart:
                values |= {"engine_boots_before": _prev(ctx, "engine_boots"),
                           "engine_boots": reading.values.get("engine_boots")}
            reading.events.append(ProbeEvent("reboot", f"rebooted: {restart}{how}", values))
            ago = f"{_age(uptime)} ago; " if isinstance(uptime, float) else ""
            had = f"had been up {_age(before)}" if isinstance(before, float) else restart
            reading.problem(Status.WARNING, Reason.REBOOTED, f"rebooted ({ago}{had}){how}")
    for key in ("sys_descr", "sys_object_id"):
        old, new = _prev(ctx, key), reading.values.get(key)
        if isinstance(old, str) and isinstance(new, str) and old != new:
            reading.events.append(ProbeEvent("inventory_drift", f"{key} changed: {old!r} → {new!r}",
                                             {"field": key, "old": old, "new": new}))
            reading.problem(Status.WARNING, Reason.INVENTORY_DRIFT, f"{key} changed to {new!r}")


def _restart(ctx: ProbeContext, reading: Reading) -> str | None:
    """How this sample shows that the agent started again since the last one, if it did.

    sysUpTime going down is a restart -- unless 497 days of Timeticks wrap explain it,
    or the SNMP engine says it kept running (snmpEngineBoots the same, snmpEngineTime
    gone on by about the time between the samples).  A sysUpTime shorter than the
    time since the last sample is a restart in between (a poll gap longer than the
    old uptime).  snmpEngineBoots going up is one too, whatever sysUpTime says
    (agents whose sysUpTime is stuck or garbage).
    """
    uptime, before = reading.values.get("sys_uptime_s"), _prev(ctx, "sys_uptime_s")
    boots, boots_before = reading.values.get("engine_boots"), _prev(ctx, "engine_boots")
    clock, clock_before = reading.values.get("engine_time_s"), _prev(ctx, "engine_time_s")
    elapsed = _elapsed(ctx, reading)
    if isinstance(boots, int) and isinstance(boots_before, int) and boots != boots_before:
        return f"snmpEngineBoots went from {boots_before} to {boots}"
    # The engine ran on when its clock moved about as our clock did (a recording, or a
    # broken agent, serves a clock that stands still: no evidence either way).
    engine_ran_on = (isinstance(boots, int) and boots == boots_before and elapsed is not None
                     and isinstance(clock, int) and isinstance(clock_before, int)
                     and elapsed / 2 <= clock - clock_before <= 2 * elapsed + 60)
    if not isinstance(uptime, float) or not isinstance(before, float) or engine_ran_on:
        return None
    if uptime < before:
        if elapsed is not None and before + elapsed >= TIMETICKS_WRAP_S:
            return None  # Timeticks wrapped
        return f"uptime went from {_age(before)} to {_age(uptime)}"
    if elapsed is not None and uptime + 60 < elapsed:
        return f"up {_age(uptime)}, {_age(elapsed)} after the last sample"
    return None


def _elapsed(ctx: ProbeContext, reading: Reading) -> float | None:
    before = _prev(ctx, "sampled_at")
    now = reading.values.get("sampled_at")
    if isinstance(before, float) and isinstance(now, float):
        return now - before
    return None


def _rows(table: Mapping[bytes, list[Row]], column: mib.Column) -> dict[bytes, ber.Value]:
    return {index: value for index, tag, value in table.get(column.oid, [])
            if tag not in ber.EXCEPTIONS}


async def read_interfaces(agent: Agent, client: SnmpClient, ctx: ProbeContext,
                          reading: Reading, select: InterfaceSelect) -> None:
    """Status of the interfaces that matter, octet and error counters as rates."""
    counters = mib.IF_COUNTERS_V1 if agent.version == ber.V1 else mib.IF_COUNTERS
    columns = (mib.IF_DESCR, mib.IF_NAME, mib.IF_ALIAS, mib.IF_ADMIN, mib.IF_OPER,
               mib.IF_SPEED, mib.IF_HIGH_SPEED, *counters)
    table = await client.walk_columns(agent, [c.oid for c in columns], ctx.deadline)
    if counters is mib.IF_COUNTERS and not any(table.get(c.oid) for c in counters[:2]) \
            and (table.get(mib.IF_DESCR.oid) or table.get(mib.IF_OPER.oid)):
        # An old agent without ifXTable: its 32-bit octet counters (wraps handled).
        counters = mib.IF_COUNTERS_V1
        table |= await client.walk_columns(agent, [c.oid for c in counters[:2]],
                                           ctx.deadline)
        reading.values["if_counters_bits"] = 32
    descr, names, aliases = (_rows(table, c) for c in (mib.IF_DESCR, mib.IF_NAME, mib.IF_ALIAS))
    admin, oper = _rows(table, mib.IF_ADMIN), _rows(table, mib.IF_OPER)
    if not descr and not oper:
        reading.unsupported(agent, "interfaces", "IF-MIB ifTable")
        return
    label: dict[bytes, str] = {}
    for index in sorted(set(descr) | set(oper), key=ber.decode_arcs):
        name = _text(names.get(index)) or _text(descr.get(index)) or \
            f"if{'.'.join(map(str, ber.decode_arcs(index)))}"
        label[index] = name if name not in label.values() else \
            f"{name}#{'.'.join(map(str, ber.decode_arcs(index)))}"
    pattern = re.compile(select.match) if select.match else None
    named, uplinks = set(select.names), set(select.uplinks)

    def selected(index: bytes) -> bool:
        texts = (label[index], _text(descr.get(index)), _text(aliases.get(index)))
        if uplinks & set(texts[:2]):
            return True  # an uplink is always watched, and never narrows the rest
        if named or pattern:
            return bool(named & set(texts[:2])) or bool(
                pattern and any(pattern.search(t) for t in texts if t))
        return admin.get(index) == mib.IF_UP

    def matters(index: bytes) -> bool:
        if named or pattern or select.ports == "admin_up":
            return True  # chosen by hand, or every port asked for
        own = {label[index], _text(descr.get(index))}
        return bool(own & ctx.attached) or _own_name(_text(aliases.get(index)), own)

    chosen = [i for i in label if selected(i)]
    found = {label[i] for i in chosen} | {_text(descr.get(i)) for i in chosen}
    for uplink in select.uplinks:
        if uplink not in found:
            reading.problem(Status.WARNING, Reason.UPLINK_MISSING,
                            f"uplink {uplink!r} is not on the agent")
    elapsed = _elapsed(ctx, reading)
    rows = {c.key: _rows(table, c) for c in counters}
    speeds, high = _rows(table, mib.IF_SPEED), _rows(table, mib.IF_HIGH_SPEED)
    down = unwatched = 0
    for index in chosen:
        name = label[index]
        is_up = oper.get(index) == mib.IF_UP
        admin_up = admin.get(index) == mib.IF_UP
        reading.values[f"if_oper_up[{name}]"] = int(is_up)
        reading.values[f"if_admin_up[{name}]"] = int(admin_up)
        is_uplink = name in select.uplinks or _text(descr.get(index)) in select.uplinks
        if is_uplink:
            reading.values[f"if_uplink[{name}]"] = 1  # for the path from a camera upward
        if admin_up and not is_up:
            if is_uplink or matters(index):
                down += 1
                reading.problem(Status.DOWN if is_uplink else Status.WARNING,
                                Reason.UPLINK_DOWN if is_uplink else Reason.PORT_DOWN,
                                f"{'uplink' if is_uplink else 'port'} {name} is down")
            else:
                unwatched += 1  # an empty access port: a value, not a state
        for column in counters:
            raw = _number(rows[column.key].get(index))
            if raw is None:
                continue
            key = f"{column.key}[{name}]"
            reading.values[key] = raw
            bps = _number(high.get(index))
            bps = bps * 1_000_000 if bps else _number(speeds.get(index))
            rate = counter_rate(raw, _prev(ctx, key), column.bits, elapsed, reading.restarted,
                                bps / 8 if bps and column.key.endswith("octets") else None)
            if rate is None:
                continue
            if column.key.endswith("octets"):
                reading.values[f"{column.key[:-6]}bps[{name}]"] = rate * 8
            else:
                reading.values[f"{column.key}_rate[{name}]"] = rate
    reading.values["if_selected"] = len(chosen)
    reading.values["if_down"] = down
    reading.values["if_down_unwatched"] = unwatched


def _own_name(alias: str, names: set[str]) -> bool:
    """Whether an ifAlias is a name someone gave the port, not a vendor's default that
    repeats its interface name ("GigabitEthernet0/0/5 Interface", "HUAWEI, Quidway
    Series, GigabitEthernet0/0/5 Interface")."""
    alias = alias.strip()
    return bool(alias) and not any(n and n.lower() in alias.lower() for n in names)


async def read_storage(agent: Agent, client: SnmpClient, ctx: ProbeContext,
                       reading: Reading) -> None:
    """Usage of fixed and network disks (DVR recording disks, server file systems)."""
    columns = (mib.HR_STORAGE_TYPE, mib.HR_STORAGE_DESCR, mib.HR_STORAGE_UNITS,
               mib.HR_STORAGE_SIZE, mib.HR_STORAGE_USED)
    table = await client.walk_columns(agent, [c.oid for c in columns], ctx.deadline)
    kinds, descr, units, size, used = (_rows(table, c) for c in columns)
    if not kinds:
        reading.unsupported(agent, "storage", "HOST-RESOURCES-MIB hrStorageTable")
        return
    disks = 0
    for index, kind in kinds.items():
        if _text(kind) not in (mib.HR_STORAGE_FIXED_DISK, mib.HR_STORAGE_NETWORK_DISK):
            continue
        u, s, n = _number(units.get(index)), _number(size.get(index)), _number(used.get(index))
        if not u or not s or n is None:
            continue
        name = _text(descr.get(index)) or f"storage{ber.decode_arcs(index)[0]}"
        disks += 1
        reading.values[f"storage_size_bytes[{name}]"] = s * u
        reading.values[f"storage_used_bytes[{name}]"] = n * u
        reading.values[f"storage_used_ratio[{name}]"] = n / s
    reading.values["storage_disks"] = disks


async def read_cpu(agent: Agent, client: SnmpClient, ctx: ProbeContext,
                   reading: Reading) -> None:
    """hrProcessorLoad: the mean and the busiest processor over the last minute."""
    table = await client.walk_columns(agent, [mib.HR_PROCESSOR_LOAD.oid], ctx.deadline)
    loads = [v for v in _rows(table, mib.HR_PROCESSOR_LOAD).values() if isinstance(v, int)]
    reading.values["cpu_processors"] = len(loads)
    if not loads:  # no MIB, or (net-snmp) not sampled yet in its first minute
        return
    reading.values["cpu_load_ratio"] = sum(loads) / len(loads) / 100
    reading.values["cpu_load_max_ratio"] = max(loads) / 100


async def read_sensors(agent: Agent, client: SnmpClient, ctx: ProbeContext,
                       reading: Reading) -> None:
    """ENTITY-SENSOR-MIB temperatures, in °C, named by entPhysicalName."""
    columns = (mib.SENSOR_TYPE, mib.SENSOR_SCALE, mib.SENSOR_PRECISION, mib.SENSOR_VALUE,
               mib.SENSOR_STATUS, mib.PHYSICAL_NAME)
    table = await client.walk_columns(agent, [c.oid for c in columns], ctx.deadline)
    kinds, scale, precision, value, status, names = (_rows(table, c) for c in columns)
    count = 0
    for index, kind in kinds.items():
        raw = _number(value.get(index))
        if kind != mib.SENSOR_CELSIUS or raw is None:
            continue
        exponent = 3 * ((_number(scale.get(index)) or 9) - 9) - (_number(precision.get(index)) or 0)
        name = _text(names.get(index)) or f"sensor{ber.decode_arcs(index)[0]}"
        count += 1
        reading.values[f"temperature_c[{name}]"] = raw * 10.0**exponent
        if status.get(index, mib.SENSOR_OK) != mib.SENSOR_OK:
            reading.problem(Status.WARNING, Reason.SENSOR_FAILED, f"sensor {name} is not ok")
    reading.values["temperature_sensors"] = count


async def run(target: Target, params: SnmpParams, ctx: ProbeContext) -> ProbeResult:
    """Poll one agent: every requested section, concurrently."""
    agent = agent_for(target, params)
    client = client_for(ctx, agent)
    CHARSET.set(params.charset)  # this run's task only
    reading = Reading()
    reading.values["sampled_at"] = time.time()
    try:
        if "system" in params.read:  # first: a reboot invalidates the counter rates
            await read_system(agent, client, ctx, reading)
        sections = []
        if "interfaces" in params.read:
            sections.append(read_interfaces(agent, client, ctx, reading, params.interfaces))
        if "storage" in params.read:
            sections.append(read_storage(agent, client, ctx, reading))
        if "cpu" in params.read:
            sections.append(read_cpu(agent, client, ctx, reading))
        if "sensors" in params.read:
            sections.append(read_sensors(agent, client, ctx, reading))
        await asyncio.gather(*sections)
    except SnmpError as exc:
        return failure(exc)
    return reading.result()


def failure(exc: SnmpError) -> ProbeResult:
    """The result for an SNMP failure (its status and reason: `probes.errors`)."""
    return exc.result()


PROBE = ProbeKind(
    name="snmp",
    params=SnmpParams,
    run=run,
    summary="SNMP v1/v2c/v3: uptime and reboots, interfaces, disks, CPU, temperatures",
    default_interval_s=60.0,
    default_timeout_s=10.0,
    default_concurrency=1000,
    default_thresholds={"storage_used_ratio": {"warning": 0.9}},
    required_credentials=required_credentials,
)

__all__ = ["PROBE", "SnmpParams"]
