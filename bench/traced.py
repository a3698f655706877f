"""`python -m monitor` under tracemalloc, for `bench/scale.py --trace`.

On SIGUSR2 the daemon writes where its live Python memory was allocated (the top
lines, and the total) to the file named by ``SV_TRACE_OUT``; from the second signal on,
also what grew since the first (by allocation traceback), which finds a slow leak.

Tracing every allocation slows a daemon of 20,000 checks until it falls behind, and
then what grows is its backlog.  ``SV_TRACE_MODE=types`` traces nothing: it counts
the objects the collector tracks, by type, and the allocator's live blocks, and
tells the growth between dumps -- cheap enough to watch a full-size run.  Tracing costs CPU and
memory of its own: read the breakdown, not the RSS, of a traced run.
"""

from __future__ import annotations

import collections
import gc
import os
import runpy
import signal
import sys
import tracemalloc
from types import FrameType

FRAMES = int(os.environ.get("SV_TRACE_FRAMES", "4"))
FIRST: list[tracemalloc.Snapshot] = []
COUNTS: list[tuple[collections.Counter[str], int]] = []


def count_types(signum: int, frame: FrameType | None) -> None:
    """Objects by type and the allocator's blocks; the growth since the first dump."""
    gc.unfreeze()  # the daemon freezes what it keeps (monitor.heap): count those too
    counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
    gc.freeze()
    blocks = sys.getallocatedblocks()
    with open(os.environ["SV_TRACE_OUT"], "w") as out:
        print(f"{sum(counts.values()):,} tracked objects, {blocks:,} allocated blocks",
              file=out)
        if COUNTS:
            first, first_blocks = COUNTS[0]
            print(f"grown since the first dump: {blocks - first_blocks:+,} blocks", file=out)
            for name, diff in (counts - first).most_common(25):
                print(f"  {diff:+9,}  {name} (now {counts[name]:,})", file=out)
        else:
            COUNTS.append((counts, blocks))
            for name, n in counts.most_common(25):
                print(f"  {n:9,}  {name}", file=out)


def dump(signum: int, frame: FrameType | None) -> None:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)])
    stats = snapshot.statistics("lineno")
    with open(os.environ["SV_TRACE_OUT"], "w") as out:
        total = sum(s.size for s in stats)
        print(f"traced {total / 1e6:.1f} MB in {sum(s.count for s in stats):,} blocks", file=out)
        for stat in stats[:40]:
            print(f"{stat.size / 1e6:8.1f} MB {stat.count:9,}  {stat.traceback}", file=out)
        if FIRST:
            print("\ngrown since the first dump:", file=out)
            for diff in snapshot.compare_to(FIRST[0], "traceback")[:15]:
                print(f"{diff.size_diff / 1e6:+8.2f} MB {diff.count_diff:+9,}", file=out)
                for line in diff.traceback.format()[-2 * FRAMES:]:
                    print(f"      {line}", file=out)
        else:
            FIRST.append(snapshot)


if __name__ == "__main__":
    if os.environ.get("SV_TRACE_MODE") == "types":
        signal.signal(signal.SIGUSR2, count_types)
    else:
        tracemalloc.start(FRAMES)
        signal.signal(signal.SIGUSR2, dump)
    sys.argv = ["monitor", *sys.argv[1:]]
    runpy.run_module("monitor", run_name="__main__", alter_sys=True)
