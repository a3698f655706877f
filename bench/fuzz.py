"""Fuzz every parser that reads outside input with 100,000 seeded mutations each and
print, per parser: cases, inputs accepted, clean errors, crashes (a traceback or an
unexpected exception type), hangs (over 5 s) and the slowest case.

    python bench/fuzz.py [--cases 100000] [--seed 1] [--only inventory,snmp]

The targets and the mutator are the ones `make test` runs a few thousand cases of
(tests/fuzz/); a crash prints its input and traceback.  The README shows the table.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz.engine import fuzz
from tests.fuzz.targets import TARGETS


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", default="", help="comma-separated: " + ", ".join(TARGETS))
    args = p.parse_args()
    # The parsers' own warnings are not printed (the SNMPv3 target watches for them).
    logging.basicConfig(handlers=[logging.NullHandler()], level=logging.WARNING)
    logging.getLogger("zeep").setLevel(logging.CRITICAL)  # as the daemon sets it
    names = [n for n in TARGETS if not args.only or n in args.only.split(",")]
    print(f"{args.cases:,} cases per parser, seed {args.seed}, "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| parser | cases | accepted | clean errors | crashes | hangs (> 5 s) | slowest |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    failed = False
    details = []
    for name in names:
        r = fuzz(TARGETS[name](), args.cases, seed=args.seed)
        print(f"| {r.name} | {r.cases:,} | {r.accepted:,} | {r.clean:,} | {len(r.crashes)} "
              f"| {len(r.hangs)} | {r.slowest_s * 1000:.1f} ms |", flush=True)
        failed |= bool(r.crashes or r.hangs)
        details += [f"{r.name}: {data[:300]!r}\n{trace}" for data, trace in r.crashes[:3]]
        details += [f"{r.name} hang: {data[:300]!r}" for data in r.hangs[:3]]
    for text in details:
        print("\n" + text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
