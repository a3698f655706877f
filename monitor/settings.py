"""Daemon settings: a TOML file and ``MONITOR_*`` environment variables.

Precedence, highest first: environment, settings file, defaults.  The file is
``--settings PATH``, else ``$MONITOR_SETTINGS``, else ``/etc/monitor/monitor.toml``
when it exists.  Unknown keys are errors, as in the inventory.  Anything that
listens binds to loopback unless told otherwise.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from monitor.faults.levels import FaultRules
from monitor.inventory.secrets import SecretRefField
from monitor.tickets.sla import SlaPolicy
from monitor.vocab import Duration

DEFAULT_SETTINGS_FILE = Path("/etc/monitor/monitor.toml")


def default_database_url() -> str:
    """SQLite in systemd's StateDirectory, else in ``$XDG_STATE_HOME/monitor``."""
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if not state:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        state = str(Path(base) / "monitor")
    return f"sqlite+aiosqlite:///{Path(state) / 'monitor.db'}"


class Section(BaseModel):
    """A settings section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class EmailSettings(Section):
    """SMTP relay for alert mail."""

    host: str
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: SecretRefField | None = None
    sender: str = "sv-monitor@localhost"


class SmsHttpSettings(Section):
    """An HTTP SMS gateway, as a request template ({phone}, {text})."""

    url: str
    method: Literal["GET", "POST"] = "POST"
    body: str | None = Field(default=None, description='e.g. {"to": "{phone}", "msg": "{text}"}')
    content_type: str = "application/json"
    headers: dict[str, str] = {}
    username: str | None = None
    password: SecretRefField | None = None
    success_status: list[int] = [200]
    success_match: str | None = None


class RobotSettings(Section):
    """A group robot's webhook."""

    kind: Literal["wecom", "dingtalk", "feishu"]
    url: str
    secret: SecretRefField | None = None


class MqttSettings(Section):
    """The MQTT broker events are published to and acks come from."""

    host: str
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretRefField | None = None
    topic_prefix: str = "sv-monitor"


class AlertSettings(Section):
    """Who is told what, how, and how often."""

    roster: Path | None = Field(default=None, description="roster.yaml: people and duty")
    public_url: str = Field(default="http://127.0.0.1:9108",
                            description="how engineers' phones reach the daemon (ack links)")
    link_secret: SecretRefField | None = Field(default=None,
                                               description="HMAC key of the ack links")
    link_ttl: Duration = Field(default=86400.0, gt=0)
    email: EmailSettings | None = None
    sms_http: SmsHttpSettings | None = None
    gammu_outbox: Path | None = Field(default=None, description="gammu-smsd files outbox")
    robots: list[RobotSettings] = []
    sms_levels: list[int] = Field(default=[1, 2, 3], description="levels that may send SMS")
    sms_max_chars: int = Field(default=140, ge=40)
    gather: Duration = Field(default=5.0, ge=0, description="wait this long to batch a storm")
    storm_threshold: int = Field(default=4, ge=2,
                                 description="more new faults than this at once: one digest")
    rate_limit: int = Field(default=20, ge=1, description="messages per recipient per 10 min")
    remind_every: Duration = Field(default=1800.0, gt=0)


class DeskSettings(Section):
    """The service desk (console, API): sessions and logins."""

    session_idle: Duration = Field(default=1800.0, gt=0,
                                   description="a browser session ends this long after its "
                                               "last request")
    session_max: Duration = Field(default=43200.0, gt=0,
                                  description="and this long after its login, whatever happens")
    login_failures: int = Field(default=5, ge=1,
                                description="failed logins for one name within login_window "
                                            "before further attempts wait (4x per address)")
    login_window: Duration = Field(default=900.0, gt=0)
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default=[], description="reverse proxies (addresses or networks) whose "
                                "X-Forwarded-For and X-Forwarded-Proto are believed; a "
                                "request from any other address is taken as its own")


class ClusterSettings(Section):
    """This daemon as one node of several sharing one PostgreSQL (`monitor.cluster`)."""

    node_id: str = Field(default_factory=lambda: os.uname().nodename, min_length=1,
                         max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                         description="this node's name, unique in the cluster (the host "
                                     "name)")
    pins: list[str] = Field(default=[], description="sites or regions this node polls "
                                                    "(alone); empty: any unpinned site")
    lease: Duration = Field(default=9.0, ge=3.0, le=120.0,
                            description="the leader's lease: a dead leader is replaced "
                                        "within this plus a third of it")
    heartbeat: Duration = Field(default=5.0, ge=1.0, le=60.0,
                                description="how often a node says it is alive")
    dead_after: Duration = Field(default=15.0, ge=3.0, le=600.0,
                                 description="a node silent this long is dead: its checks "
                                             "go to the others")

    spool: Path | None = Field(default=None, description="a pinned node's results buffer "
                                                       "(default: spool-NODE.db in the "
                                                       "state directory)")
    spool_max_mb: int = Field(default=256, ge=1, description="the buffer's bound: full, it "
                                                             "drops its oldest results")
    secret: SecretRefField | None = Field(
        default=None, description="HMAC key of what the nodes say over MQTT (the same on "
                                  "every node); with [mqtt], a remote poller cut off from "
                                  "PostgreSQL forwards its results that way")

    def spool_path(self) -> Path:
        """Where this node buffers its results."""
        if self.spool is not None:
            return self.spool
        state = Path(default_database_url().split("///", 1)[1]).parent
        return state / f"spool-{self.node_id}.db"

    @model_validator(mode="after")
    def _timing(self) -> ClusterSettings:
        if self.dead_after < 2 * self.heartbeat:
            raise ValueError(f"dead_after ({self.dead_after:g}s) must be at least two "
                             f"heartbeats ({2 * self.heartbeat:g}s)")
        return self


def split_address(value: str, name: str = "address") -> tuple[str, int]:
    """("host", port) of "host:port" or "[v6]:port"; ValueError says what is wrong."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name} {value!r}: want host:port, e.g. 127.0.0.1:9108")
    return host.strip("[]") or "0.0.0.0", int(port)


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (an address or "localhost")."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SettingsError(ValueError):
    """The settings file or environment is not valid."""


class Settings(BaseSettings):
    """Settings of the daemon and the CLI."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="forbid",
                                      env_nested_delimiter="__")

    inventory: Path = Field(default=Path("inventory.yaml"), description="the inventory file")
    database_url: str = Field(default_factory=default_database_url,
                              description="sqlite+aiosqlite:///PATH or postgresql+asyncpg://...")
    max_in_flight: int = Field(default=500, ge=1, description="check runs in flight, in all")
    kind_concurrency: dict[str, int] = Field(
        default={}, description="runs in flight per probe kind, e.g. {icmp = 100}")
    state_flush_interval: Duration = Field(default=30.0, gt=0,
                                           description="how often last values are written")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["logfmt", "json"] = "logfmt"
    language: Literal["zh", "en"] = Field(default="zh", description="tickets, CLI text, alerts")
    faults: FaultRules = Field(default_factory=FaultRules, description="fault level rules")
    sla: SlaPolicy = Field(default_factory=SlaPolicy, description="service-level clocks")
    resolve_after: Duration = Field(default=300.0, ge=0,
                                    description="a fault clear this long resolves its ticket")
    reopen_window: Duration = Field(default=3600.0, ge=0,
                                    description="a fault back within this reopens its ticket")
    http_listen: str = Field(default="127.0.0.1:9108",
                             description="HTTP: the ack links' pages (and /metrics and "
                                         "/healthz unless metrics_listen is set)")
    allow_empty_inventory: bool = Field(
        default=False, description="start (or reload) with no devices at all")
    metrics_listen: str | None = Field(
        default=None, description="HTTP for /metrics and /healthz alone; required when "
                                  "http_listen is reachable beyond this machine")
    http_max_connections: int = Field(default=256, ge=1, le=100_000,
                                      description="connections per listener (and at most "
                                                  "an eighth of the open-files limit)")
    http_header_timeout: Duration = Field(default=10.0, gt=0, le=300,
                                          description="a connection's time to send a "
                                                      "complete request head")
    health_grace: Duration = Field(
        default=120.0, ge=0, description="/healthz answers 503 once the store or the fault "
                                         "engine has failed this long")
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    mqtt: MqttSettings | None = None
    desk: DeskSettings = Field(default_factory=DeskSettings)
    cluster: ClusterSettings | None = Field(
        default=None, description="run as one node of a cluster (PostgreSQL only)")

    @model_validator(mode="after")
    def _listeners(self) -> Settings:
        for name in ("http_listen", "metrics_listen"):
            value = getattr(self, name)
            if value is not None:
                split_address(value, name)
        if self.metrics_listen is None and not is_loopback(split_address(self.http_listen)[0]):
            raise ValueError(
                f"http_listen {self.http_listen} is reachable beyond this machine: set "
                "metrics_listen (e.g. 127.0.0.1:9108) so that /metrics and /healthz are not "
                "served to the ack links' audience")
        if self.metrics_listen == self.http_listen:
            raise ValueError("metrics_listen is the same address as http_listen")
        if self.cluster is not None and not self.database_url.startswith("postgresql"):
            raise ValueError("[cluster] needs PostgreSQL (database_url = "
                             "\"postgresql+asyncpg://...\"): the nodes share its lease, "
                             "membership and truth; SQLite is for a single node")
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def load_settings(path: str | Path | None = None, **overrides: object) -> Settings:
    """Settings from `path` (or the default file), the environment and `overrides`."""
    explicit = path or os.environ.get("MONITOR_SETTINGS")
    file = Path(explicit) if explicit else DEFAULT_SETTINGS_FILE
    if explicit and not file.is_file():
        raise SettingsError(f"{file}: settings file not found")
    toml_file = file if file.is_file() else None

    class FromFile(Settings):
        model_config = SettingsConfigDict(toml_file=toml_file)

    try:
        if toml_file is not None:
            with toml_file.open("rb") as fh:
                tomllib.load(fh)  # for its line-numbered syntax errors
        values = {k: v for k, v in overrides.items() if v is not None}
        return FromFile(**values)  # type: ignore[arg-type]
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{file}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{file}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise SettingsError(f"{file}: cannot read: {exc.strerror}") from exc
    except ValidationError as exc:
        where = str(toml_file) if toml_file else "settings"
        lines = [": ".join(part for part in (where, ".".join(str(p) for p in e["loc"]),
                                             e["msg"].removeprefix("Value error, ")) if part)
                 for e in exc.errors()]
        raise SettingsError("\n".join(lines)) from exc
    except ValueError as exc:  # tomllib: a value it cannot build (a date of month 13)
        raise SettingsError(f"{file}: {exc}") from exc


def redacted(url: str) -> str:
    """A database URL fit for a log or an error: its password hidden."""
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)
