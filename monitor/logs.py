"""Log lines for the journal: one line per event, ``key=value`` fields (logfmt) or JSON.

Fields come from ``extra={"fields": {...}}``.  When stderr is connected to the
journal (``$JOURNAL_STREAM`` names it), each line starts with the ``<N>``
syslog priority systemd understands and carries no timestamp of its own.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}


RESERVED = frozenset({"ts", "level", "logger", "msg", "exc"})


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if text and not any(c in text for c in ' ="\\\n\t'):
        return text
    return json.dumps(text, ensure_ascii=False)


class LineFormatter(logging.Formatter):
    """logfmt or JSON, with an optional journal priority prefix."""

    def __init__(self, fmt: str = "logfmt", journal: bool = False) -> None:
        super().__init__()
        self.fmt = fmt
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {}
        if not self.journal:
            fields["ts"] = datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds")
        fields["level"] = record.levelname.lower()
        fields["logger"] = record.name
        fields["msg"] = record.getMessage()
        for key, value in getattr(record, "fields", {}).items():
            # an event's own `level` or `msg` must not replace the line's
            fields[f"event_{key}" if key in RESERVED else key] = value
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        if self.fmt == "json":
            line = json.dumps(fields, ensure_ascii=False, default=str)
        else:
            line = " ".join(f"{k}={_logfmt_value(v)}" for k, v in fields.items())
        if self.journal:
            line = f"<{_PRIORITY.get(record.levelno, 6)}>{line}"
        return line


def stderr_is_journal() -> bool:
    """Whether stderr is the journal stream systemd set up for this service."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    if ":" not in stream:
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    dev, _, ino = stream.partition(":")
    return f"{st.st_dev}:{st.st_ino}" == f"{dev}:{ino}"


def setup(level: str = "info", fmt: str = "logfmt") -> None:
    """Send log lines to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter(fmt, journal=stderr_is_journal()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiosqlite", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # zeep logs a traceback for every value a device gets wrong ("Error during xml ->
    # python translation") and reads it as None; the probe reports the reply itself.
    logging.getLogger("zeep").setLevel(logging.CRITICAL)
