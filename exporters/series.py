"""The per-check series of `/metrics`, rendered when a result comes, not per scrape.

A large estate is mostly per-check series: 20,000 checks with their values are
~280,000 lines.  prometheus-client builds an object per sample and formats them all
at every scrape (~3.4 s for that estate, bench/metrics.py).  Yet a check's lines
change only when its result does, once a minute or less; so each check's lines are
formatted when its result arrives (on the event loop, ~20 µs) and kept, and a scrape
joins the kept text: the text format is simple and documented (one `# HELP` and
`# TYPE` per family, then its samples), and `promtool check metrics` is run on the
result in the tests.  A reader never touches the core's live objects at scrape time:
what is kept are immutable strings, replaced whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, repeat

from prometheus_client.utils import floatToGoString

from monitor.events import CheckKey
from monitor.state import CheckState, StateMachine
from monitor.vocab import Status

STATE_CODE = {CheckState.UNKNOWN: 0, CheckState.UP: 1, CheckState.WARNING: 2,
              CheckState.DOWN: 3}
LABELS = ("site", "device", "kind", "check", "probe")
FIXED = {  # family → help, in the order they are written
    "probe_success": "Whether the last run of the check succeeded (ok or warning)",
    "probe_duration_seconds": "How long the last run took",
    "sv_check_state": "The check's state: 0 unknown, 1 up, 2 warning, 3 down",
    "sv_check_flapping": "1 while the check flaps",
    "sv_check_reason": "1 for the reason of the check's last run when it was not ok "
                       "(the README's list of reasons)",
}


def go(value: float) -> str:
    """A float as Go (and Prometheus) writes it: 1.5, 1e+06, +Inf, NaN."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


ValueMetric = Callable[[str], tuple[str, float]]  # a value's name → (metric, factor)


SHARED_MAX = 8  # line ends this short ("} 1.0\n") are shared between checks


@dataclass(frozen=True, slots=True)
class Family:
    """One family's lines at one moment: the i-th check's lines are `name` + `heads[i]`
    + `rests[i]`."""

    name: str
    help: str
    heads: list[bytes]
    rests: list[bytes]


Kept = list[Family]  # in the order they are written


class CheckSeries:
    """Every check's rendered lines, kept until its next result.

    Kept by family (a dict per family: check → the end of its lines), so that a scrape
    joins each family's lines in C, never looking checks up one by one (20,000 checks:
    15 ms instead of 150 ms a scrape).  A line is family + the check's labels + the
    rest (`,item="Gi0/1"} 1.0`): the labels are kept once per check, not once per line,
    and the most common ends are shared (20,000 switches: 14 MB instead of 42 MB).
    """

    def __init__(self, value_metric: ValueMetric, skip: Iterable[str] = ()) -> None:
        self._value_metric = value_metric
        self._skip = frozenset(skip)
        # family → the check's head → the rest of its lines: keyed by the head itself
        # (unique: it names the device and the check), so a scrape copies keys and
        # values as they are, looking nothing up
        self._families: dict[str, dict[bytes, bytes]] = {family: {} for family in FIXED}
        self._heads: dict[CheckKey, bytes] = {}  # '{site="…",…,probe="…"' per check
        self._ends: dict[bytes, bytes] = {}  # the shared short line ends
        # the families each check wrote (one shared tuple per shape: most checks share)
        self._wrote: dict[CheckKey, tuple[str, ...]] = {}
        self._shapes: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._states: dict[str, dict[str, CheckState]] = {}  # device → check → state
        self._status: dict[str, str] = {}  # device → its status, kept as results come
        self._helps: dict[str, str] = dict(FIXED)  # value families as they appear

    def __len__(self) -> int:
        return len(self._wrote)

    def update(self, key: CheckKey, site: str, device_kind: str, probe: str,
               machine: StateMachine) -> None:
        """Render `key`'s lines from its machine (on each result)."""
        checks = self._states.setdefault(key.device_id, {})
        checks[key.check] = machine.state
        self._status[key.device_id] = _status(checks)
        labels = ",".join(f'{name}="{escape(value)}"' for name, value in zip(
            LABELS, (site, key.device_id, device_kind, key.check, probe), strict=True))
        head = old = self._heads.get(key)
        if head is None or head[1:].decode() != labels:  # new, or relabelled (a reload)
            head = self._heads[key] = f"{{{labels}".encode()
        ends: dict[str, list[str]] = {  # family → the ends of its lines
            "sv_check_state": [f"}} {STATE_CODE[machine.state]}.0\n"],
            "sv_check_flapping": [f"}} {1.0 if machine.flapping else 0.0}\n"]}
        last = machine.last_result
        if last is not None:
            ok = last.status in (Status.OK, Status.WARNING)
            ends["probe_success"] = [f"}} {1.0 if ok else 0.0}\n"]
            if last.status is not Status.OK:
                ends["sv_check_reason"] = [f',reason="{escape(str(last.reason))}"}} 1.0\n']
            if last.latency_s is not None:
                ends["probe_duration_seconds"] = [f"}} {go(last.latency_s)}\n"]
            for name, value in last.values.items():
                if not isinstance(value, int | float):
                    continue
                stem, _, item = name.partition("[")
                if stem in self._skip:
                    continue
                metric, factor = self._value_metric(stem)
                if metric not in self._helps:
                    self._helps[metric] = f"The check's last value of {stem}"
                ends.setdefault(metric, []).append(
                    f',item="{escape(item.rstrip("]"))}"}} {go(float(value) * factor)}\n')
        for family in self._wrote.get(key, ()):
            if family not in ends or old is not head:
                assert old is not None
                del self._families[family][old]
        for family, parts in ends.items():
            rest = parts[0].encode()
            if len(parts) > 1:  # the further lines whole
                line = family.encode() + head
                rest += b"".join(line + part.encode() for part in parts[1:])
            elif len(rest) <= SHARED_MAX:
                rest = self._ends.setdefault(rest, rest)
            self._families.setdefault(family, {})[head] = rest
        shape = tuple(ends)
        self._wrote[key] = self._shapes.setdefault(shape, shape)

    def keep_only(self, keys: Iterable[CheckKey]) -> None:
        """Forget the checks no longer configured."""
        wanted = set(keys)
        for key in [k for k in self._wrote if k not in wanted]:
            head = self._heads.pop(key)
            for family in self._wrote.pop(key):
                del self._families[family][head]
            checks = self._states.get(key.device_id, {})
            checks.pop(key.check, None)
            if checks:
                self._status[key.device_id] = _status(checks)
            else:
                self._states.pop(key.device_id, None)
                self._status.pop(key.device_id, None)

    def device_statuses(self) -> dict[str, str]:
        """Each device's status from its checks' states: down (a check is down),
        degraded (one warns), up, unknown."""
        return dict(self._status)

    def snapshot(self) -> Kept:
        """Every family's lines now (tests, benches: `pieces` takes a family at a time)."""
        return [self._family(family, help_text) for family, help_text in self._helps.items()]

    def _family(self, family: str, help_text: str) -> Family:
        lines = self._families.get(family, {})
        return Family(family, help_text, list(lines), list(lines.values()))

    def pieces(self, batch: int = 2000) -> Iterator[bytes]:
        """The exposition of every kept check, in pieces: each family's lines are taken
        at its turn (two lists of references), then written `batch` checks at a time.
        For the event loop, between whose turns results may come: a family is
        consistent in itself, and no step holds the loop for long (20,000 checks:
        ~2 ms a step)."""
        for family, help_text in list(self._helps.items()):
            yield from pieces([self._family(family, help_text)], batch)


def _status(checks: Mapping[str, CheckState]) -> str:
    seen = set(checks.values())
    return ("down" if CheckState.DOWN in seen else "degraded" if CheckState.WARNING in seen
            else "up" if CheckState.UP in seen else "unknown")


def pieces(snapshot: Kept, batch: int = 2000) -> Iterator[bytes]:
    """The exposition of every kept check, a family's lines for `batch` checks at a
    time (it only reads bytes: any thread may run it).  The fixed families are always
    declared, a value family only while some check has it."""
    for family in snapshot:
        if family.heads or family.name in FIXED:
            yield (f"# HELP {family.name} {_help(family.help)}\n"
                   f"# TYPE {family.name} gauge\n").encode()
        name = family.name.encode()
        for at in range(0, len(family.heads), batch):
            yield b"".join(chain.from_iterable(zip(
                repeat(name), family.heads[at:at + batch], family.rests[at:at + batch])))


def text(snapshot: Kept) -> bytes:
    """The exposition of every kept check, whole."""
    return b"".join(pieces(snapshot))


@dataclass(frozen=True, slots=True)
class DeviceRow:
    site: str
    device: str
    kind: str
    up: bool
    level: int  # the most severe open fault level, 0: none


DEVICE_HELP = {
    "sv_device_up": "1 unless a check of the device is down",
    "sv_device_fault_level": "The device's most severe open fault level, 1-4 (0: none)",
}


def device_head(site: str, device: str, kind: str) -> bytes:
    """A device's labels as its lines start them (`{site="…",device="…",kind="…"`)."""
    return f'{{site="{escape(site)}",device="{escape(device)}",kind="{escape(kind)}"'.encode()


_UP = {True: b"} 1.0\n", False: b"} 0.0\n"}
_LEVEL = {level: f"}} {float(level)}\n".encode() for level in range(5)}


def device_pieces(ids: Sequence[str], heads: Sequence[bytes], statuses: Mapping[str, str],
                  levels: Mapping[str, int], batch: int = 2000) -> Iterator[bytes]:
    """sv_device_up and sv_device_fault_level, one line each per device (`ids`, whose
    labels are `heads`), `batch` devices at a time: each step looks up that batch's
    statuses and levels only, so that none holds the event loop for long."""
    for family in DEVICE_HELP:
        yield f"# HELP {family} {DEVICE_HELP[family]}\n# TYPE {family} gauge\n".encode()
        name = family.encode()
        for at in range(0, len(ids), batch):
            part = ids[at:at + batch]
            ends = ([_UP[statuses.get(d) != "down"] for d in part]
                    if family == "sv_device_up" else [_LEVEL[levels.get(d, 0)] for d in part])
            yield b"".join(chain.from_iterable(zip(repeat(name), heads[at:at + batch], ends)))


def device_text(rows: list[DeviceRow]) -> bytes:
    """sv_device_up and sv_device_fault_level of `rows`, whole."""
    return b"".join(device_pieces(
        [r.device for r in rows], [device_head(r.site, r.device, r.kind) for r in rows],
        {r.device: "up" if r.up else "down" for r in rows}, {r.device: r.level for r in rows}))
