"""Log lines: logfmt or JSON, journal priority prefix when stderr is the journal."""

from __future__ import annotations

import json
import logging

from monitor.logs import LineFormatter


def record(msg: str, **fields: object) -> logging.LogRecord:
    rec = logging.LogRecord("monitor.core", logging.WARNING, __file__, 1, msg, (), None)
    rec.fields = fields
    return rec


def test_logfmt_quotes_only_what_needs_it() -> None:
    line = LineFormatter("logfmt", journal=True).format(
        record("state change", device="cam-1", detail='refused "now"', site="青岛"))
    assert line == ('<4>level=warning logger=monitor.core msg="state change" device=cam-1 '
                    'detail="refused \\"now\\"" site=青岛')


def test_json_lines_carry_a_timestamp_outside_the_journal() -> None:
    line = LineFormatter("json", journal=False).format(record("x", n=1))
    data = json.loads(line)
    assert data["msg"] == "x" and data["n"] == 1 and data["ts"].endswith("+00:00")


def test_an_events_own_level_never_replaces_the_lines() -> None:
    rec = record("ticket opened", level=1, ticket="SV1")
    rec.fields["msg"] = "x"  # type: ignore[attr-defined]
    line = LineFormatter("logfmt", journal=True).format(rec)
    assert line == ('<4>level=warning logger=monitor.core msg="ticket opened" event_level=1 '
                    'ticket=SV1 event_msg=x')
