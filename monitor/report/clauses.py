"""The contract's clauses, ticket by ticket: met, breached, open or not applicable.

A clause is met only by its own stamp, in time: "solution" by the solution the
engineer recorded, "on site" by the arrival recorded -- never by the ticket being
resolved.  Without its stamp a clause is:

* not applicable when the fault was over (resolved) before the clause fell due: a
  camera that came back by itself within two hours needed no solution; and "on site"
  is not applicable to a fault solved remotely -- resolved with no visit, its solution
  on record before a visit fell due;
* breached when its deadline passed first (resolved later, or still open);
* open while its deadline is still ahead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from monitor.tickets.sla import DONE_STAMP

Outcome = Literal["met", "breached", "open", "n/a"]
OUTCOMES: tuple[Outcome, ...] = ("met", "breached", "open", "n/a")

CLAUSES = {  # each SLA clock's contract clause, in Chinese and English
    "acknowledge": ("响应", "acknowledge"),
    "solution": ("2小时内提出解决方案 (1.4.1)", "solution within 2 h (1.4.1)"),
    "onsite": ("到达现场：青岛1小时、省内24小时 (1.4.6)",
               "on site: 1 h Qingdao, 24 h elsewhere (1.4.6)"),
    "repair": ("5个工作日内修复 (1.4.5)", "repair within 5 working days (1.4.5)"),
}


def outcome(clause: str, ticket: Mapping[str, Any], now: dt.datetime) -> Outcome | None:
    """The clause's outcome for one ticket; None when the ticket has no such clock."""
    deadlines = ticket["deadlines"] or {}
    if clause not in deadlines:
        return None
    due = dt.datetime.fromisoformat(deadlines[clause])
    stamp = ticket[DONE_STAMP[clause]]
    if stamp is not None:
        return "met" if stamp <= due else "breached"
    resolved = ticket["resolved_at"]
    if resolved is not None:
        remote = clause == "onsite" and ticket["solution_at"] is not None \
            and ticket["solution_at"] <= due
        return "n/a" if resolved <= due or remote else "breached"
    if clause in deadlines.get("breached", []) or now >= due:
        return "breached"
    return "open"


def tally(tickets: Sequence[Mapping[str, Any]],
          now: dt.datetime) -> dict[str, dict[str, list[str]]]:
    """Per clause, per outcome, the ticket numbers."""
    out: dict[str, dict[str, list[str]]] = {c: {o: [] for o in OUTCOMES} for c in CLAUSES}
    for ticket in tickets:
        for clause in CLAUSES:
            result = outcome(clause, ticket, now)
            if result is not None:
                out[clause][result].append(ticket["number"])
    return out
