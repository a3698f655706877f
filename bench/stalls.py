"""`python -m monitor` with an event-loop stall finder, for `bench/scale.py --stalls`.

A thread looks at the event loop every 10 ms; when the loop has not come round for
more than ``SV_STALL_MS`` (default 50), it samples the loop thread's stack, and keeps
sampling until the loop is back.  On SIGUSR2 the stalls so far -- count, total time
and their most frequent innermost frames of this project -- are written to the file
named by ``SV_TRACE_OUT``.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import runpy
import signal
import sys
import threading
import time
import traceback
from types import FrameType

LIMIT_S = float(os.environ.get("SV_STALL_MS", "50")) / 1000
seen = {"tick": time.monotonic()}
stalls: list[float] = []
longest: list[tuple[float, float, str]] = []  # (duration, seconds after start, where)
BORN = time.monotonic()
where: collections.Counter[str] = collections.Counter()
main_id = threading.get_ident()
collections_s: dict[int, list[float]] = {0: [], 1: [], 2: []}
_gc_start = [0.0]


def on_gc(phase: str, info: dict[str, int]) -> None:
    """The cyclic collector's pauses, by generation (they show as stalls anywhere)."""
    if phase == "start":
        _gc_start[0] = time.perf_counter()
    else:
        collections_s[info["generation"]].append(time.perf_counter() - _gc_start[0])


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ours(frame: FrameType | None) -> str:
    """The innermost frame, then the innermost two of this project's."""
    stack = traceback.extract_stack(frame)
    mine = [f for f in stack if f.filename.startswith(REPO) and "/.venv/" not in f.filename
            and "/bench/" not in f.filename]
    picked = [*stack[-1:], *[f for f in mine[-2:] if f is not stack[-1]]]
    return " <- ".join(f"{os.path.basename(f.filename)}:{f.lineno} {f.name}"
                       for f in reversed(picked[::-1]))


def watch() -> None:
    while True:
        time.sleep(0.01)
        late = time.monotonic() - seen["tick"]
        if late < LIMIT_S:
            continue
        start = seen["tick"]
        here: collections.Counter[str] = collections.Counter()
        while seen["tick"] == start:
            frame = sys._current_frames().get(main_id)
            here[ours(frame)] += 1
            time.sleep(0.005)
        where.update(here)
        stalls.append(seen["tick"] - start)
        longest.append((stalls[-1], start - BORN, here.most_common(1)[0][0] if here else "?"))
        longest.sort(reverse=True)
        del longest[10:]


def dump(signum: int, frame: FrameType | None) -> None:
    with open(os.environ["SV_TRACE_OUT"], "w") as out:
        print(f"{len(stalls)} stalls over {LIMIT_S * 1000:.0f} ms, {sum(stalls):.1f} s in all, "
              f"longest {max(stalls, default=0) * 1000:.0f} ms; samples (5 ms each):", file=out)
        for text, count in where.most_common(25):
            print(f"{count:6d}  {text}", file=out)
        print("the longest (ms, s after the start, where most):", file=out)
        for duration, at, text in longest:
            print(f"  {duration * 1000:6.0f}  {at:6.1f}  {text}", file=out)
        for generation, pauses in collections_s.items():
            print(f"gc generation {generation}: {len(pauses)} collections, "
                  f"{sum(pauses) * 1000:.0f} ms in all, longest "
                  f"{max(pauses, default=0) * 1000:.1f} ms", file=out)


def install() -> None:
    policy = asyncio.get_event_loop_policy()
    original = policy.new_event_loop

    def new_event_loop() -> asyncio.AbstractEventLoop:
        loop = original()

        def tick() -> None:
            seen["tick"] = time.monotonic()
            loop.call_later(0.005, tick)
        loop.call_soon(tick)
        return loop
    policy.new_event_loop = new_event_loop  # type: ignore[method-assign]


if __name__ == "__main__":
    install()
    gc.callbacks.append(on_gc)
    threading.Thread(target=watch, daemon=True).start()
    signal.signal(signal.SIGUSR2, dump)
    sys.argv = ["monitor", *sys.argv[1:]]
    runpy.run_module("monitor", run_name="__main__", alter_sys=True)
