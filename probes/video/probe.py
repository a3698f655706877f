"""The ``video`` check: pull frames over RTSP and diagnose the picture.

Runs at its own, slower interval (a sampling rate: pulling frames costs far more
than DESCRIBE).  Pointed at the proxy-forwarding server's URL for a camera, it is
the end-to-end check of the video path: frames arrive through the proxy, and
are not frozen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from monitor.vocab import Duration, Status
from probes.base import ProbeContext, ProbeKind, Target
from probes.result import ProbeResult, Reason, Value
from probes.video.baseline import READY, Baseline, assess, recall, remember
from probes.video.frames import GrabError, Sample, grab, with_credentials
from probes.video.quality import VERDICTS, Measures, QualityLimits, Rect, judge, measure
from probes.video.rtsp import RtspError, StreamParams, resolve_url

NIGHT_LIMITS = QualityLimits(dark_luma=12.0, noise_sigma=20.0, blur_sharpness=0.45,
                             colour=False)


class NightHours(BaseModel):
    """When the night limits apply (local time; may span midnight)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time = time(19, 0)
    end: time = time(7, 0)

    def contains(self, now: time) -> bool:
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end


class VideoParams(StreamParams):
    """Parameters of a ``video`` check."""

    # The diagnosis works at 320 wide: a discovered stream is the sub-stream (decoding
    # a 1080p main stream costs ~4 ms a frame here, for nothing the analysis keeps).
    profile: Literal["first", "smallest"] = Field(
        default="smallest", description="with onvif_port: the smallest profile at least "
                                        "320 wide (the sub-stream), or the first")

    frames: int = Field(default=3, ge=2, le=10, description="frames to keep")
    spacing: Duration = Field(default=1.0, gt=0, le=30,
                              description="stream time between kept frames")
    diagnose: bool = Field(default=True, description="judge image quality (false: frames only)")
    limits: QualityLimits = QualityLimits()
    night: NightHours | None = Field(default=None, description="night hours, if any")
    night_limits: QualityLimits = NIGHT_LIMITS
    baseline: bool = Field(default=True,
                           description="learn this camera's normal picture (day and night "
                                       "apart) and judge colour, cover, focus and exposure "
                                       "as changes from it (probes/video/baseline.py)")
    masks: list[Rect] = Field(default=[], max_length=16,
                              description="regions left out of the diagnosis (an OSD "
                                          "the camera draws mid-picture, a privacy mask), "
                                          "as fractions {x, y, w, h} of the picture")


@dataclass(frozen=True, slots=True)
class Diagnosis:
    measures: Measures
    faults: list[tuple[str, str]]
    night: bool  # the night limits applied
    baseline: Baseline | None  # this time of day's, after this sample


def _diagnose(sample: Sample, params: VideoParams, scheduled: bool,
              learned: Mapping[str, Any] | None = None) -> Diagnosis:
    """The measures, the faults, whether night limits applied, and the baseline.

    Night limits apply in the `night` hours when they are configured, else whenever
    the picture is infrared (grey).  A grey picture by day, when night hours are
    configured, is a camera stuck in infrared mode (its IR-cut filter): `no_colour`.
    With `learned` (what earlier runs learned; None: no baseline), the picture is
    judged against this camera's baseline for the time of day, which it updates."""
    measures = measure(sample.frames, params.limits.flat_std, params.masks)
    night = scheduled if params.night is not None else measures.grey
    limits = params.night_limits if night else params.limits
    baseline = None
    if learned is None:
        faults = judge(measures, limits)
    else:
        faults, baseline = assess(measures, limits, recall(learned, _mode(night)))
    if params.night is not None and not scheduled and measures.grey and params.limits.colour \
            and not any(VERDICTS[reason] for reason, _ in faults):
        faults.append(("no_colour", "a black-and-white picture by day: the camera is stuck "
                                    "in infrared mode (its IR-cut filter?)"))
    return Diagnosis(measures, faults, night, baseline)


def _mode(night: bool) -> str:
    return "night" if night else "day"


async def run(target: Target, params: VideoParams, ctx: ProbeContext) -> ProbeResult:
    """Pull `frames` frames `spacing` apart and judge them."""
    creds = target.credentials
    try:
        url = await resolve_url(target, params, ctx)
    except RtspError as exc:
        return ProbeResult(exc.status, exc.reason, str(exc))
    return await look(with_credentials(url, creds.username, creds.password), url, params,
                      ctx, ctx.learned if params.baseline else None)


async def look(url: str, shown: str, params: VideoParams, ctx: ProbeContext,
               learned: Mapping[str, Any] | None) -> ProbeResult:
    """Pull frames from `url` (`shown` in messages: no credentials) and judge the
    picture -- against the baseline in `learned`, when given (the ``video`` check's, and
    the ``path`` check's third step)."""
    loop = asyncio.get_running_loop()
    budget = max(1.0, ctx.remaining() - 0.5)  # PyAV's own deadline, inside ours
    try:
        sample = await loop.run_in_executor(
            ctx.clients.video_pool,
            partial(grab, url, count=params.frames, spacing_s=params.spacing,
                    timeout_s=budget, transport=params.transport))
    except GrabError as exc:
        status = Status.TIMEOUT if exc.reason == "timeout" else Status.DOWN
        return ProbeResult(status, exc.reason, f"{shown}: {exc}")
    values: dict[str, Value] = {
        "first_frame_s": sample.first_frame_s, "fps": sample.fps, "width": sample.width,
        "height": sample.height, "codec": sample.codec, "frames": len(sample.frames)}
    if len(sample.frames) < params.frames:
        return ProbeResult(Status.DOWN, Reason.TOO_FEW_FRAMES,
                           f"{len(sample.frames)} of {params.frames} frames within the budget",
                           values=values)
    if not params.diagnose:
        return ProbeResult.ok(f"{len(sample.frames)} frames, {sample.fps or 0:.1f} fps",
                              values=values)
    scheduled = params.night is not None and params.night.contains(datetime.now().time())
    d = await loop.run_in_executor(
        ctx.clients.video_pool,
        partial(_diagnose, sample, params, scheduled, learned))
    values |= d.measures.as_values()
    values["night"] = d.night
    values["baseline_samples"] = d.baseline.samples if d.baseline is not None else 0
    kept = None
    if d.baseline is not None and learned is not None:
        kept = remember(learned, _mode(d.night), d.baseline)
    if not d.faults:
        learning = "" if d.baseline is None or d.baseline.ready else \
            f", learning its normal picture ({d.baseline.samples} of {READY})"
        return ProbeResult(Status.OK, Reason.OK,
                           f"{sample.width}x{sample.height} {sample.fps or 0:.1f} fps, "
                           f"picture ok{learning}", values=values, learned=kept)
    reason = d.faults[0][0]
    status = Status.DOWN if VERDICTS[reason] else Status.WARNING
    return ProbeResult(status, reason, "; ".join(text for _, text in d.faults), values=values,
                       learned=kept)


PROBE = ProbeKind(
    name="video",
    params=VideoParams,
    run=run,
    summary="RTSP frames with PyAV: time to first frame, frame rate, image quality",
    default_interval_s=600.0,
    default_timeout_s=20.0,
    default_concurrency=8,
)
