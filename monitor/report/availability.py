"""Time accounting for the report: every second of the period that has passed is up,
down, unknown (nobody was looking) or maintenance -- and only up and down count
towards availability.

* Only time that has passed counts: a month still running ends at *now*, a month
  that has not begun has no time at all (availability "—", never 0 %).
* Observed time is when a daemon ran (``daemon_run``: from its start to its last
  heartbeat); outside it every device is unknown, whatever its last state was.  In a
  cluster, a site (or region) that a pinned node polls is observed only by that node's
  runs -- while it is dead nobody polls the site -- and by the other nodes only before
  the first pinned run (before the poller existed, they polled it).
* A device is down while any of its checks is DOWN, up while a check is up (or
  warning) and none is down, unknown before any check has a state.
* A maintenance window that covers the device takes its time out, whatever the
  device did meanwhile.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from monitor.cluster.share import governing_pin

Span = tuple[float, float]


@dataclass
class Tally:
    """Seconds of each kind, for a device or a sum of devices."""

    up: float = 0.0
    down: float = 0.0
    unknown: float = 0.0
    maintenance: float = 0.0

    @property
    def availability(self) -> float | None:
        """Up over up + down; None when nothing was observed."""
        measured = self.up + self.down
        return self.up / measured if measured > 0 else None

    def add(self, other: Tally) -> None:
        self.up += other.up
        self.down += other.down
        self.unknown += other.unknown
        self.maintenance += other.maintenance


def merge(spans: Iterable[Span]) -> list[Span]:
    """Overlapping or touching spans joined, in order."""
    out: list[Span] = []
    for a, b in sorted(spans):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def gaps(spans: Sequence[Span], start: float, end: float) -> list[Span]:
    """What [start, end) has outside the (merged) spans."""
    out, at = [], start
    for a, b in spans:
        if a > at:
            out.append((at, min(a, end)))
        at = max(at, b)
    if at < end:
        out.append((at, end))
    return [(a, b) for a, b in out if b > a]


def _inside(spans: Sequence[Span], t: float) -> bool:
    i = bisect.bisect_right(spans, (t, float("inf"))) - 1
    return i >= 0 and spans[i][0] <= t < spans[i][1]


@dataclass
class Timeline:
    """One device's checks over the period: their states at the start, and each change."""

    initial: dict[str, str] = field(default_factory=dict)  # check → state at the start
    changes: list[tuple[float, str, str]] = field(default_factory=list)  # (at, check, state)


def _status(states: Mapping[str, str]) -> str:
    values = set(states.values())
    if "down" in values:
        return "down"
    if values & {"up", "warning"}:
        return "up"
    return "unknown"


def account(timeline: Timeline, start: float, end: float, observed: Sequence[Span],
            maintenance: Sequence[Span]) -> Tally:
    """Where the seconds of [start, end) went for one device; `observed` and
    `maintenance` are merged spans."""
    tally = Tally()
    if end <= start:
        return tally
    edges = {start, end}
    edges.update(t for t, _, _ in timeline.changes if start < t < end)
    for spans in (observed, maintenance):
        for a, b in spans:
            edges.update(x for x in (a, b) if start < x < end)
    states = dict(timeline.initial)
    changes = sorted(timeline.changes)
    i = 0
    points = sorted(edges)
    for a, b in itertools.pairwise(points):
        while i < len(changes) and changes[i][0] <= a:
            states[changes[i][1]] = changes[i][2]
            i += 1
        if _inside(maintenance, a):
            tally.maintenance += b - a
        elif not _inside(observed, a):
            tally.unknown += b - a
        else:
            setattr(tally, _status(states), getattr(tally, _status(states)) + b - a)
    return tally


def spans_of(pairs: Iterable[tuple[dt.datetime, dt.datetime]]) -> list[Span]:
    """Datetimes to merged epoch spans."""
    return merge((a.timestamp(), b.timestamp()) for a, b in pairs)


Run = tuple[dt.datetime, dt.datetime, tuple[str, ...]]  # started, last seen, pins


def observed_at(runs: Sequence[Run], site: str, region: str | None) -> list[Span]:
    """When a device of `site` (in `region`) was observed, as the cluster shares it
    (`monitor.cluster.share`): pins to the site win over pins to its region; a pinned
    site is polled by its pinned nodes alone; before the first pinned run, by the
    unpinned ones."""
    pin = governing_pin((p for _, _, pins in runs for p in pins), site, region)
    free = [(a, b) for a, b, pins in runs if not pins]
    if pin is None:
        return spans_of(free)
    pinned = [r for r in runs if pin in r[2]]
    first = min(a for a, _, _ in pinned)
    return merge(spans_of((a, b) for a, b, _ in pinned)
                 + [(a, min(b, first.timestamp())) for a, b in spans_of(free)])
