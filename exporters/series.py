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

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

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


def _go(value: float) -> str:
    """A float as Go (and Prometheus) writes it: 1.5, 1e+06, +Inf, NaN."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


ValueMetric = Callable[[str], tuple[str, float]]  # a value's name → (metric, factor)


@dataclass(frozen=True, slots=True)
class Rendered:
    """One check's lines, by family (each ends with a newline)."""

    lines: Mapping[str, str]


Kept = tuple[list[Rendered], dict[str, str]]  # the kept lines, the families' helps


class CheckSeries:
    """Every check's rendered lines, kept until its next result."""

    def __init__(self, value_metric: ValueMetric, skip: Iterable[str] = ()) -> None:
        self._value_metric = value_metric
        self._skip = frozenset(skip)
        self._kept: dict[CheckKey, Rendered] = {}
        self._states: dict[str, dict[str, CheckState]] = {}  # device → check → state
        self._helps: dict[str, str] = dict(FIXED)  # value families as they appear

    def __len__(self) -> int:
        return len(self._kept)

    def update(self, key: CheckKey, site: str, device_kind: str, probe: str,
               machine: StateMachine) -> None:
        """Render `key`'s lines from its machine (on each result)."""
        self._states.setdefault(key.device_id, {})[key.check] = machine.state
        labels = ",".join(f'{name}="{_escape(value)}"' for name, value in zip(
            LABELS, (site, key.device_id, device_kind, key.check, probe), strict=True))
        lines: dict[str, list[str]] = {
            "sv_check_state": [f"sv_check_state{{{labels}}} {STATE_CODE[machine.state]}.0\n"],
            "sv_check_flapping": [f"sv_check_flapping{{{labels}}} "
                                  f"{1.0 if machine.flapping else 0.0}\n"]}
        last = machine.last_result
        if last is not None:
            ok = last.status in (Status.OK, Status.WARNING)
            lines["probe_success"] = [f"probe_success{{{labels}}} {1.0 if ok else 0.0}\n"]
            if last.status is not Status.OK:
                lines["sv_check_reason"] = [f'sv_check_reason{{{labels},reason='
                                            f'"{_escape(str(last.reason))}"}} 1.0\n']
            if last.latency_s is not None:
                lines["probe_duration_seconds"] = [
                    f"probe_duration_seconds{{{labels}}} {_go(last.latency_s)}\n"]
            for name, value in last.values.items():
                if not isinstance(value, int | float):
                    continue
                stem, _, item = name.partition("[")
                if stem in self._skip:
                    continue
                metric, factor = self._value_metric(stem)
                if metric not in self._helps:
                    self._helps[metric] = f"The check's last value of {stem}"
                lines.setdefault(metric, []).append(
                    f'{metric}{{{labels},item="{_escape(item.rstrip("]"))}"}} '
                    f"{_go(float(value) * factor)}\n")
        self._kept[key] = Rendered({family: "".join(text) for family, text in lines.items()})

    def keep_only(self, keys: Iterable[CheckKey]) -> None:
        """Forget the checks no longer configured."""
        wanted = set(keys)
        for key in [k for k in self._kept if k not in wanted]:
            del self._kept[key]
            checks = self._states.get(key.device_id, {})
            checks.pop(key.check, None)
            if not checks:
                self._states.pop(key.device_id, None)

    def device_statuses(self) -> dict[str, str]:
        """Each device's status from its checks' states: down (a check is down),
        degraded (one warns), up, unknown."""
        out = {}
        for device, checks in self._states.items():
            seen = set(checks.values())
            out[device] = ("down" if CheckState.DOWN in seen else "degraded"
                           if CheckState.WARNING in seen else "up" if CheckState.UP in seen
                           else "unknown")
        return out

    def snapshot(self) -> Kept:
        """What a rendering needs, taken on the event loop (cheap: references)."""
        return list(self._kept.values()), dict(self._helps)


def pieces(snapshot: Kept, batch: int = 2000) -> Iterator[bytes]:
    """The exposition of every kept check, a family's lines for `batch` checks at a
    time (it only reads strings: any thread may run it)."""
    kept, helps = snapshot
    for family, help_text in helps.items():
        started = family in FIXED
        if started:
            yield f"# HELP {family} {_help(help_text)}\n# TYPE {family} gauge\n".encode()
        for at in range(0, len(kept), batch):
            samples = [r.lines[family] for r in kept[at:at + batch] if family in r.lines]
            if not samples:
                continue
            if not started:
                started = True
                yield f"# HELP {family} {_help(help_text)}\n# TYPE {family} gauge\n".encode()
            yield "".join(samples).encode()


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


def device_text(rows: list[DeviceRow]) -> bytes:
    """sv_device_up and sv_device_fault_level, one line each per device."""
    up, level = [], []
    for r in rows:
        labels = f'site="{_escape(r.site)}",device="{_escape(r.device)}",kind="{_escape(r.kind)}"'
        up.append(f"sv_device_up{{{labels}}} {1.0 if r.up else 0.0}\n")
        level.append(f"sv_device_fault_level{{{labels}}} {float(r.level)}\n")
    out = []
    for family, lines in (("sv_device_up", up), ("sv_device_fault_level", level)):
        out.append(f"# HELP {family} {DEVICE_HELP[family]}\n# TYPE {family} gauge\n")
        out.extend(lines)
    return "".join(out).encode()
