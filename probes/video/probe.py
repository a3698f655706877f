"""The ``video`` check: pull frames over RTSP and diagnose the picture.

Runs at its own, slower interval (a sampling rate: pulling frames costs far more
than DESCRIBE).  Pointed at the proxy-forwarding server's URL for a camera, it is
the end-to-end check of the video path: frames arrive through the proxy, and
are not frozen.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, time
from functools import partial

from pydantic import BaseModel, ConfigDict, Field

from probes.base import Duration, ProbeContext, ProbeKind, Target
from probes.result import ProbeResult, Reason, Status, Value
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

    frames: int = Field(default=3, ge=2, le=10, description="frames to keep")
    spacing: Duration = Field(default=1.0, gt=0, le=30,
                              description="stream time between kept frames")
    diagnose: bool = Field(default=True, description="judge image quality (false: frames only)")
    limits: QualityLimits = QualityLimits()
    night: NightHours | None = Field(default=None, description="night hours, if any")
    night_limits: QualityLimits = NIGHT_LIMITS
    masks: list[Rect] = Field(default=[], max_length=16,
                              description="regions left out of the diagnosis (an OSD "
                                          "the camera draws mid-picture, a privacy mask), "
                                          "as fractions {x, y, w, h} of the picture")


def _diagnose(sample: Sample, params: VideoParams,
              scheduled: bool) -> tuple[Measures, list[tuple[str, str]], bool]:
    """The measures, the faults, and whether night limits applied: in the `night`
    hours when they are configured, else whenever the picture is infrared (grey).
    A grey picture by day, when night hours are configured, is a camera stuck in
    infrared mode (its IR-cut filter): `no_colour`."""
    measures = measure(sample.frames, params.limits.flat_std, params.masks)
    night = scheduled if params.night is not None else measures.grey
    faults = judge(measures, params.night_limits if night else params.limits)
    if params.night is not None and not scheduled and measures.grey and params.limits.colour \
            and not any(VERDICTS[reason] for reason, _ in faults):
        faults.append(("no_colour", "a black-and-white picture by day: the camera is stuck "
                                    "in infrared mode (its IR-cut filter?)"))
    return measures, faults, night


async def run(target: Target, params: VideoParams, ctx: ProbeContext) -> ProbeResult:
    """Pull `frames` frames `spacing` apart and judge them."""
    creds = target.credentials
    loop = asyncio.get_running_loop()
    try:
        url = await resolve_url(target, params, ctx)
    except RtspError as exc:
        return ProbeResult(exc.status, exc.reason, str(exc))
    budget = max(1.0, ctx.remaining() - 0.5)  # PyAV's own deadline, inside ours
    try:
        sample = await loop.run_in_executor(
            ctx.clients.video_pool,
            partial(grab, with_credentials(url, creds.username, creds.password),
                    count=params.frames, spacing_s=params.spacing, timeout_s=budget,
                    transport=params.transport))
    except GrabError as exc:
        status = Status.TIMEOUT if exc.reason == "timeout" else Status.DOWN
        return ProbeResult(status, exc.reason, f"{url}: {exc}")
    values: dict[str, Value] = {
        "first_frame_s": sample.first_frame_s, "fps": sample.fps, "width": sample.width,
        "height": sample.height, "codec": sample.codec, "frames": len(sample.frames)}
    if len(sample.frames) < params.frames:
        return ProbeResult(Status.DOWN, "too_few_frames",
                           f"{len(sample.frames)} of {params.frames} frames within the budget",
                           values=values)
    if not params.diagnose:
        return ProbeResult.ok(f"{len(sample.frames)} frames, {sample.fps or 0:.1f} fps",
                              values=values)
    scheduled = params.night is not None and params.night.contains(datetime.now().time())
    measures, faults, night = await loop.run_in_executor(
        ctx.clients.video_pool, partial(_diagnose, sample, params, scheduled))
    values |= measures.as_values()
    values["night"] = night
    if not faults:
        return ProbeResult(Status.OK, Reason.OK,
                           f"{sample.width}x{sample.height} {sample.fps or 0:.1f} fps, "
                           f"picture ok", values=values)
    reason = faults[0][0]
    status = Status.DOWN if VERDICTS[reason] else Status.WARNING
    return ProbeResult(status, reason, "; ".join(d for _, d in faults), values=values)


PROBE = ProbeKind(
    name="video",
    params=VideoParams,
    run=run,
    summary="RTSP frames with PyAV: time to first frame, frame rate, image quality",
    default_interval_s=600.0,
    default_timeout_s=20.0,
    default_concurrency=8,
)
