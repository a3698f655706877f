"""Daemon settings: a TOML file and ``MONITOR_*`` environment variables.

Precedence, highest first: environment, settings file, defaults.  The file is
``--settings PATH``, else ``$MONITOR_SETTINGS``, else ``/etc/monitor/monitor.toml``
when it exists.  Unknown keys are errors, as in the inventory.  Anything that
listens binds to loopback unless told otherwise.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from monitor.faults.levels import FaultRules
from monitor.tickets.sla import SlaPolicy
from probes.base import Duration

DEFAULT_SETTINGS_FILE = Path("/etc/monitor/monitor.toml")


def default_database_url() -> str:
    """SQLite in systemd's StateDirectory, else in ``$XDG_STATE_HOME/monitor``."""
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if not state:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        state = str(Path(base) / "monitor")
    return f"sqlite+aiosqlite:///{Path(state) / 'monitor.db'}"


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
        return Settings.model_validate(FromFile(**values).model_dump())  # type: ignore[arg-type]
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{file}: {exc}") from exc
    except ValidationError as exc:
        where = str(toml_file) if toml_file else "settings"
        lines = [f"{where}: {'.'.join(str(p) for p in e['loc'])}: "
                 f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise SettingsError("\n".join(lines)) from exc
