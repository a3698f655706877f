"""Fault levels (故障级别) and the rules that assign them, kept as data.

The contract names four levels and leaves their table to the vendor; the defaults
below follow DOMAIN.md and every one is configuration (`FaultRules`):

  level 1 一级 critical  the platform is down for the province or a centre
  level 2 二级 major     one site or one recorder is lost
  level 3 三级 minor     one end device is lost
  level 4 四级 warning   degraded, still working

A rule matches a failing check by device kind, check kind, reason, state and the
site's role; the first matching rule gives the level.  Then the site's role may
weigh in (the provincial centre's faults rise one level, to at most 1).
"""

from __future__ import annotations

from enum import IntEnum

from pydantic import BaseModel, ConfigDict, Field

from monitor.inventory.models import DeviceKind, SiteRole
from monitor.state import CheckState
from monitor.vocab import Reason


class FaultLevel(IntEnum):
    """1 is the most severe."""

    CRITICAL = 1
    MAJOR = 2
    MINOR = 3
    WARNING = 4

    @property
    def zh(self) -> str:
        """The contract's name."""
        return {1: "一级", 2: "二级", 3: "三级", 4: "四级"}[self.value]


class Rule(BaseModel):
    """One row of the classification table; empty lists match anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: FaultLevel
    device_kinds: list[DeviceKind] = []
    checks: list[str] = Field(default=[], description="check kinds or check names")
    reasons: list[str] = []
    states: list[CheckState] = [CheckState.DOWN]
    roles: list[SiteRole] = []
    labels: dict[str, str] = Field(default={}, description="device labels that must match")
    title_zh: str
    title_en: str

    def matches(self, device_kind: str, check_kind: str, check_name: str, reason: str,
                state: CheckState, role: str, labels: dict[str, str]) -> bool:
        """Whether this rule covers that failing check."""
        return ((not self.device_kinds or device_kind in self.device_kinds)
                and (not self.checks or check_kind in self.checks or check_name in self.checks)
                and (not self.reasons or reason in self.reasons)
                and state in self.states
                and (not self.roles or role in self.roles)
                and all(labels.get(k) == v for k, v in self.labels.items()))


def _r(level: int, title_zh: str, title_en: str, **match: object) -> Rule:
    return Rule.model_validate({"level": level, "title_zh": title_zh, "title_en": title_en,
                                **match})


D, W = [CheckState.DOWN], [CheckState.WARNING]

# The first rule that matches wins: within a level, rules naming a reason come before
# rules naming only a device kind, so a DVR that stops recording is "not recording",
# not "DVR down".
DEFAULT_RULES: tuple[Rule, ...] = (
    # level 1: the platform is down for the province or a centre
    _r(1, "密码验证服务器接受错误密码", "password server accepts wrong passwords",
       reasons=[Reason.AUTH_FAIL_OPEN], states=D + W),
    # the viewing path (``path``): each step's failure on the device it is blamed on
    _r(1, "密码验证服务器拒绝登录", "password server refuses logins",
       reasons=[Reason.LOGIN_FAILED]),
    _r(1, "密码验证服务器未发放令牌", "password server hands out no session token",
       reasons=[Reason.NO_TOKEN]),
    _r(1, "视频代理转发服务器拒绝登录令牌", "proxy-forwarding server refuses the login's token",
       checks=["path"], reasons=[Reason.AUTH_FAILED], device_kinds=["proxy_server"]),
    # The device answers, its SNMP agent refuses or errs: not "unreachable" (it sent
    # engineers to healthy switches).  If the device is down too, its other checks say so.
    _r(3, "SNMP访问被拒绝", "SNMP access refused", checks=["snmp", "snmp_topology"],
       reasons=[Reason.AUTH_FAILED]),
    _r(3, "SNMP代理错误", "SNMP agent error", checks=["snmp", "snmp_topology"],
       reasons=[Reason.AGENT_ERROR, Reason.MALFORMED_RESPONSE]),
    _r(1, "视频代理转发服务器故障", "proxy-forwarding server down", device_kinds=["proxy_server"]),
    _r(1, "密码验证服务器故障", "password-verification server down",
       device_kinds=["auth_server"]),
    _r(1, "核心交换机不可达", "core switch unreachable", device_kinds=["switch"],
       labels={"role": "core"}),
    # level 2: one site or one recorder is lost
    _r(2, "站点上联中断", "site uplink down", reasons=[Reason.UPLINK_DOWN]),
    _r(2, "硬盘录像机未录像", "DVR not recording", reasons=[Reason.NOT_RECORDING], states=D + W),
    _r(2, "硬盘录像机故障", "DVR down", device_kinds=["dvr"]),
    _r(2, "自动备份服务器故障", "backup server failing", device_kinds=["backup_server"]),
    _r(2, "大屏主机故障", "big-screen host down", device_kinds=["big_screen_host"]),
    _r(2, "交换机不可达", "switch unreachable", device_kinds=["switch"]),
    # level 3: one end device is lost
    _r(3, "云台不可控", "PTZ not controllable", reasons=[Reason.PTZ_STUCK, Reason.PTZ_ERROR],
       states=D + W),
    _r(3, "接入端口中断", "access port down", reasons=[Reason.PORT_DOWN], states=D + W),
    _r(3, "摄像机无视频", "camera without video", device_kinds=["camera"]),
    _r(3, "设备故障", "device down"),
    # level 4: degraded, still working
    _r(4, "图像质量异常", "image-quality fault",
       reasons=[Reason.BLURRED, Reason.TOO_DARK, Reason.TOO_BRIGHT, Reason.COLOUR_CAST,
                Reason.NOISE, Reason.OCCLUDED, Reason.NO_COLOUR],
       states=D + W),
    _r(4, "时钟偏差", "clock drift", reasons=[Reason.CLOCK_DRIFT, Reason.CLOCK_SKEW_AUTH],
       states=D + W),
    _r(4, "磁盘将满", "disk nearly full", reasons=["storage_used_ratio_high"], states=D + W),
    _r(4, "设备意外重启", "unexpected reboot", reasons=[Reason.REBOOTED], states=D + W),
    _r(4, "性能下降", "degraded", states=W),
)


class FaultRules(BaseModel):
    """The classification table and how site roles weigh."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[Rule, ...] = DEFAULT_RULES
    role_weight: dict[SiteRole, int] = Field(
        default={SiteRole.PROVINCIAL_CENTRE: 1},
        description="levels to raise a fault at a site of this role (toward 1)")
    cameras_down_ratio: float = Field(default=0.3, gt=0, le=1,
                                      description="share of all cameras without video: level 1")
    cameras_scope_min: int = Field(default=20, ge=1,
                                   description="the share counts with at least this many cameras")

    def classify(self, device_kind: str, check_kind: str, check_name: str, reason: str,
                 state: CheckState, role: str,
                 labels: dict[str, str]) -> tuple[FaultLevel, Rule] | None:
        """The level of one failing check, or None when no rule covers it."""
        for rule in self.rules:
            if rule.matches(device_kind, check_kind, check_name, reason, state, role, labels):
                weight = self.role_weight.get(SiteRole(role), 0) if role else 0
                return FaultLevel(max(1, rule.level - weight)), rule
        return None

    def unknown_reasons(self, also: frozenset[str] = frozenset()) -> list[str]:
        """The reasons rules name that no result can carry: not a `Reason`, not a
        threshold's ``<value>_high``/``_low``, not in `also` (the inventory's own
        threshold codes).  Such a rule never matches: a typo, or a code renamed."""
        return [f"fault rule {i} ({rule.title_en}): no result has the reason {reason!r}"
                for i, rule in enumerate(self.rules, 1) for reason in rule.reasons
                if not is_reason(reason) and reason not in also]


def is_reason(code: str) -> bool:
    """A code a result may carry: a `Reason` or a threshold's ``<value>_high/_low``."""
    return code in Reason.__members__.values() or code.endswith(("_high", "_low"))
