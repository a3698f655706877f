"""The ``backup_age`` check: how old the automatic backup server's last good backup is.

Where the time of the last backup comes from is configuration:
  * ``file``: the newest modification time among files matching a glob on this host
    (a marker the backup job touches on a mounted share);
  * ``http``: a JSON field (dotted path) or a regex group in a status page;
  * ``tcp``: a regex group in the reply to a send/expect exchange.
A timestamp is ISO 8601 or seconds since the epoch.  The age is judged by
thresholds on ``backup_age_s`` (by default warning after 26 h, down after 50 h).
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import re
import time
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
from pydantic import Field, model_validator

from monitor.vocab import Reason, Status
from probes.base import ProbeContext, ProbeKind, ProbeParams, Target
from probes.http import failure as http_failure
from probes.result import ProbeResult
from probes.tcp import TcpFailure, close, connect, exchange, unescape

MAX_BODY = 1024 * 1024


class BackupParams(ProbeParams):
    """Parameters of a ``backup_age`` check."""

    source: Literal["file", "http", "tcp"]
    glob: str | None = Field(default=None, description="file: files the backup job writes")
    url: str | None = Field(default=None, pattern=r"^https?://")
    port: int | None = Field(default=None, ge=1, le=65535)
    path: str = "/"
    send: str | None = None
    json_field: str | None = Field(default=None, description="http: dotted path, e.g. last.ok_at")
    match: str | None = Field(default=None, description="regex whose first group is the time")

    @model_validator(mode="after")
    def _shape(self) -> BackupParams:
        need = {"file": ("glob",), "http": (), "tcp": ("port", "match")}[self.source]
        missing = [name for name in need if getattr(self, name) is None]
        if missing:
            raise ValueError(f"source {self.source} needs {', '.join(missing)}")
        if self.source == "http" and self.json_field is None and self.match is None:
            raise ValueError("source http needs json_field or match")
        return self


def parse_time(value: Any) -> float:
    """Epoch seconds from an ISO 8601 string or a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return float(text)
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.astimezone()  # the server's local time is ours
        return stamp.timestamp()
    raise ValueError(f"not a time: {value!r}")


def _field(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def _newest(pattern: str) -> float | None:
    times = [os.stat(path).st_mtime for path in glob.glob(pattern)]
    return max(times) if times else None


async def _from_http(target: Target, params: BackupParams, session: aiohttp.ClientSession) -> Any:
    host = f"[{target.address}]" if ":" in target.address else target.address
    url = params.url or f"http://{host}{f':{params.port}' if params.port else ''}{params.path}"
    async with session.get(url, ssl=False, allow_redirects=False) as response:
        body = (await response.content.read(MAX_BODY)).decode("utf-8", "replace")
    if response.status != 200:
        raise LookupError(f"{url} answered {response.status}")
    if params.json_field is not None:
        return _field(json.loads(body), params.json_field)
    assert params.match is not None
    m = re.search(params.match, body)
    if not m:
        raise LookupError(f"{url}: no match for {params.match!r}")
    return m.group(1)


async def run(target: Target, params: BackupParams, ctx: ProbeContext) -> ProbeResult:
    """Find the time of the last backup and report its age."""
    try:
        if params.source == "file":
            assert params.glob is not None
            stamp: Any = await asyncio.to_thread(_newest, params.glob)
            if stamp is None:
                return ProbeResult.down(Reason.NO_BACKUP, f"no file matches {params.glob}")
        elif params.source == "http":
            stamp = await _from_http(target, params, ctx.clients.http)
        else:
            assert params.port is not None and params.match is not None
            reader, writer = await connect(target.address, params.port)
            try:
                pattern = re.compile(params.match.encode())
                reply = await exchange(reader, writer,
                                       unescape(params.send) if params.send else None, pattern)
            finally:
                await close(writer)
            m = pattern.search(reply)
            if not m:
                return ProbeResult.down(Reason.UNEXPECTED_REPLY, f"no match for {params.match!r}")
            stamp = m.group(1).decode("utf-8", "replace")
        at = parse_time(stamp)
    except TcpFailure as exc:
        return exc.result
    except aiohttp.ClientError as exc:
        return http_failure(exc, params.url or target.address)
    except (LookupError, ValueError, TypeError, json.JSONDecodeError) as exc:
        return ProbeResult(Status.ERROR, Reason.BAD_BACKUP_STATUS,
                           f"cannot read the backup time: {exc}")
    age = time.time() - at
    when = datetime.fromtimestamp(at, UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    return ProbeResult.ok(f"last backup {when} ({age / 3600:.1f} h ago)",
                          values={"backup_age_s": age, "last_backup_at": when})


PROBE = ProbeKind(
    name="backup_age",
    params=BackupParams,
    run=run,
    summary="automatic backup: age of the last good backup (file, HTTP or TCP)",
    default_interval_s=900.0,
    default_timeout_s=10.0,
    default_concurrency=20,
    default_thresholds={"backup_age_s": {"warning": 26 * 3600, "down": 50 * 3600,
                                         "reason": Reason.BACKUP_STALE}},
)
