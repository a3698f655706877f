"""What one camera's picture normally looks like, learned while it works.

A lawn is green, a brick wall red, a car park at night half dark and flat, a view of
the sea has little fine detail: by absolute rules each reads as a fault (a colour
cast, an occlusion, a blur) though nothing is wrong.  What is wrong with a camera is
a *change* from what it normally shows.  So each video check learns a baseline --
day and night apart, since a camera's night picture is another picture -- from its
first samples without a "no video" verdict, and then judges colour, cover, focus and
exposure against it (`quality.judge`); the absolute rules judge only until a
baseline is ready.

Once ready it follows slow change (seasons, a tree growing) from the samples it
finds healthy, and nothing else: a fault is never learned as normal.  It is kept
with the check's state (restarts keep it) and forgotten by
``monitor baseline reset`` when a camera was re-aimed or replaced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from probes.video.quality import VERDICTS, Measures, QualityLimits, judge

READY = 3  # samples before a baseline is used
SLOW = 0.05  # then, how much each healthy sample moves it


class Baseline(BaseModel):
    """A camera's normal measures at one time of day (running means)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    samples: int = Field(ge=1)
    luma: float
    sharpness: float
    occlusion: float
    chroma: tuple[float, float] | None = None  # None: a grey picture (infrared)

    @property
    def ready(self) -> bool:
        return self.samples >= READY

    @classmethod
    def first(cls, m: Measures) -> Baseline:
        return cls(samples=1, luma=m.luma, sharpness=m.sharpness, occlusion=m.occlusion,
                   chroma=m.chroma)

    def learn(self, m: Measures) -> Baseline:
        """This baseline moved towards `m`: a plain mean while learning, then slowly."""
        w = max(1.0 / (self.samples + 1), SLOW)

        def mix(old: float, new: float) -> float:
            return old + w * (new - old)

        chroma = self.chroma
        if m.chroma is not None:
            chroma = m.chroma if chroma is None else (mix(chroma[0], m.chroma[0]),
                                                      mix(chroma[1], m.chroma[1]))
        return Baseline(samples=min(self.samples + 1, 10_000), luma=mix(self.luma, m.luma),
                        sharpness=mix(self.sharpness, m.sharpness),
                        occlusion=mix(self.occlusion, m.occlusion), chroma=chroma)

    def chroma_shift(self, m: Measures) -> float | None:
        """How far the picture's typical colour moved from this baseline's, in units
        of 0.25 relative chroma (a strong tint); None when either is grey."""
        if self.chroma is None or m.chroma is None:
            return None
        return math.hypot(m.chroma[0] - self.chroma[0], m.chroma[1] - self.chroma[1]) / 0.25


def recall(learned: Mapping[str, Any], mode: str) -> Baseline | None:
    """The baseline stored under `mode` ("day" or "night"), if there is a valid one
    (a stored one from an older version that no longer validates is relearned)."""
    raw = learned.get(mode)
    if not isinstance(raw, Mapping):
        return None
    try:
        return Baseline.model_validate(raw)
    except ValidationError:
        return None


def remember(learned: Mapping[str, Any], mode: str, baseline: Baseline) -> dict[str, Any]:
    """`learned` with `mode`'s baseline replaced (JSON-ready)."""
    return {**learned, mode: baseline.model_dump(mode="json")}


def assess(m: Measures, limits: QualityLimits,
           baseline: Baseline | None) -> tuple[list[tuple[str, str]], Baseline | None]:
    """Judge `m` (against `baseline` once it is ready) and learn from it: the faults
    found and the baseline to keep.  A sample without video teaches nothing; while
    learning, every other does; once ready, only a sample found healthy."""
    faults = judge(m, limits, baseline)
    if any(VERDICTS[reason] for reason, _ in faults):
        return faults, baseline
    if baseline is None:
        return faults, Baseline.first(m)
    if not baseline.ready or not faults:
        return faults, baseline.learn(m)
    return faults, baseline
