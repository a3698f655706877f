"""Video quality diagnosis on a labelled corpus: precision and recall per fault, the
false-alarm rate on healthy pictures, and the CPU each sampled camera costs.

The corpus (`tests/video_corpus.py`): scenes composed from scikit-image's sample
photographs (garage, street, yard, lawn, brick wall, sky, plain wall with a passer-by,
night car park, infrared), with sensor noise, a running OSD clock and a Chinese
channel name, JPEG compression at three qualities, at 320x240, 640x360, 1280x720
and 1920x1080, scaled to the 320-pixel analysis width as the probe's grab does; and
each fault at several strengths.

Then the cost end to end: the video probe's grab (RTSP, H.264 decoding, scaling) and
the diagnosis, against GStreamer's RTSP server streaming a camera with an OSD at each
resolution (4 Mbit/s at 1080p), CPU per sampled camera (3 frames a second apart).

Run:  .venv/bin/python bench/vqd.py [--seeds N] [--no-rtsp] [--quick] [--show]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probes.video.baseline import READY, Baseline, assess
from probes.video.probe import NIGHT_LIMITS
from probes.video.quality import QualityLimits, judge, measure
from tests import video_corpus


def _baselines(cases: list[video_corpus.Case]) -> dict[tuple[str, int, int], Baseline]:
    """Each camera's baseline, learned from its first samples as the probe learns it."""
    out: dict[tuple[str, int, int], Baseline] = {}
    for key in {(c.scene, *c.resolution) for c in cases}:
        scene, w, h = key
        limits = NIGHT_LIMITS if video_corpus.SCENES[scene][2] else QualityLimits()
        baseline = None
        for frames in video_corpus.learning(scene, w, h):
            _, baseline = assess(measure(frames, limits.flat_std), limits, baseline)
        assert baseline is not None and baseline.ready, key
        out[key] = baseline
    return out


def _table(said: Counter[tuple[str, str]], title: str) -> None:
    reasons = sorted({e for e, _ in said} | {v for _, v in said})
    print(f"\n{title}\n")
    print(f"| {'reason':14} | cases | recall | precision |")
    print(f"| {'-' * 14} | ----- | ------ | --------- |")
    for reason in reasons:
        truth = sum(n for (e, _), n in said.items() if e == reason)
        told = sum(n for (_, v), n in said.items() if v == reason)
        hit = said[(reason, reason)]
        recall = f"{hit / truth:.2f}" if truth else "-"
        precision = f"{hit / told:.2f}" if told else "-"
        print(f"| {reason:14} | {truth:5} | {recall:>6} | {precision:>9} |")
    healthy = sum(n for (e, _), n in said.items() if e == "ok")
    alarms = healthy - said[("ok", "ok")]
    print(f"\nfalse alarms on healthy pictures: {alarms} of {healthy} "
          f"({alarms / max(1, healthy):.1%})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=2, help="variants per scene and fault")
    p.add_argument("--healthy-seeds", type=int, default=12,
                   help="variants per healthy scene (the false-alarm rate's denominator)")
    p.add_argument("--show", action="store_true", help="list every miss and false alarm")
    p.add_argument("--no-rtsp", action="store_true", help="skip the end-to-end cost")
    p.add_argument("--quick", action="store_true", help="the two smallest resolutions only")
    p.add_argument("--only-rtsp", action="store_true", help="the end-to-end cost alone")
    args = p.parse_args()
    if args.only_rtsp:
        end_to_end()
        return
    day = QualityLimits()
    t0 = time.monotonic()
    sizes = video_corpus.RESOLUTIONS[:2] if args.quick else video_corpus.RESOLUTIONS
    cases = [*video_corpus.healthy(sizes, seeds=args.healthy_seeds),
             *video_corpus.faulty(sizes, seeds=args.seeds)]
    baselines = _baselines(cases)
    built = time.monotonic() - t0
    absolute: Counter[tuple[str, str]] = Counter()  # (expected, said)
    relative: Counter[tuple[str, str]] = Counter()
    cpu = 0.0
    misses = []
    for case in cases:
        limits = NIGHT_LIMITS if case.night else day
        c0 = time.process_time()
        m = measure(case.frames, limits.flat_std)
        found = judge(m, limits)
        cpu += time.process_time() - c0
        against = judge(m, limits, baselines[(case.scene, *case.resolution)])
        for said, faults, how in ((absolute, found, "no baseline"),
                                  (relative, against, "baseline")):
            verdict = faults[0][0] if faults else "ok"
            said[(case.expected, verdict)] += 1
            if verdict != case.expected:
                misses.append((how, case.name, case.expected, verdict,
                               "; ".join(d for _, d in faults)))
    print(f"{len(cases)} cases ({built:.0f} s to build); diagnosis "
          f"{1000 * cpu / len(cases):.2f} ms CPU per sample of 3 frames at 320 wide")
    _table(relative, f"Against each camera's baseline (learned from {READY} samples):")
    _table(absolute, "Without a baseline (absolute rules, a camera's first samples):")
    if args.show:
        for how, name, expected, verdict, detail in misses:
            print(f"  [{how}] {name}: expected {expected}, said {verdict} ({detail})")
    if not args.no_rtsp:
        end_to_end()


def end_to_end(samples: int = 5) -> None:
    from probes.video.frames import grab
    from tests.rtsp_peer import RtspServer
    server = RtspServer()
    print("\n| stream | CPU per sampled camera | of which diagnosis | frames decoded | wall |")
    print("| ------ | ---------------------- | ------------------ | -------------- | ---- |")
    try:
        mounts = [(f"osd-live-{w}x{h}", f"{w}x{h}") for w, h in video_corpus.RESOLUTIONS]
        mounts.append(("osd-live-1920x1080-25fps", "1920x1080 25 fps"))
        for mount, name in mounts:
            url = server.url(mount)
            grab(url, count=3, spacing_s=1.0, timeout_s=10)  # warm the server's pipeline
            cpu = diag = 0.0
            decoded = 0.0
            t0 = time.monotonic()
            for _ in range(samples):
                c0 = time.process_time()
                sample = grab(url, count=3, spacing_s=1.0, timeout_s=10)
                decoded += (sample.fps or 0) * (sample.times[-1] - sample.times[0]) + 1
                c1 = time.process_time()
                judge(measure(sample.frames), QualityLimits())
                c2 = time.process_time()
                cpu += c2 - c0
                diag += c2 - c1
            print(f"| {name} H.264 | {1000 * cpu / samples:.0f} ms | "
                  f"{1000 * diag / samples:.1f} ms | {decoded / samples:.0f} at "
                  f"{sample.fps or 0:.0f} fps | {(time.monotonic() - t0) / samples:.1f} s |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
