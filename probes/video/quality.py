"""Image-quality diagnosis (视频质量诊断) on sampled frames, with numpy.

Each measurement is one number per sample, each judgement a named reason with
its threshold (`QualityLimits`, from configuration).  How false alarms are kept
low:

* *frozen* needs every pair of frames, seconds apart in stream time, to differ by
  less than `frozen_diff` (mean absolute difference, 0-255).  A still scene from a
  working sensor still changes by its noise (1-5), a frozen encoder or a stuck
  DVR channel by ~0: a quiet car park is not frozen.
* *colour cast* is the distance of the mean chroma from grey *divided by* the
  spread of the chroma (the cast factor K), so a naturally colourful scene is
  not a cast; it is not judged on a grey (infrared) picture at all.
* *black screen*, *signal loss* and *occlusion* look at flatness in blocks: a
  frame flat everywhere is lost signal (black, or a DVR's blue "no video"
  screen); a scene more than half covered by one flat region is occluded.  A dark
  picture is judged dark, not occluded.
* at night (the check's `night` hours) a second set of limits applies: darker
  and noisier pictures are normal then.
* and, as for every check, a fault must repeat `fail_after` runs to become a state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from probes.video.frames import Frame

Gray = npt.NDArray[np.float32]


class QualityLimits(BaseModel):
    """Thresholds of the image-quality judgements (luma and diffs on a 0-255 scale)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    black_luma: float = Field(default=20.0, description="flat frame darker than this: black")
    flat_std: float = Field(default=3.0, description="a block this flat (luma std) is uniform")
    frozen_diff: float = Field(default=0.25, description="frames closer than this: frozen")
    dark_luma: float = Field(default=50.0, description="mean luma below: too dark")
    bright_luma: float = Field(default=180.0, description="mean luma above: too bright")
    blur_sharpness: float = Field(default=0.05, description="edge / contrast below: blurred")
    noise_sigma: float = Field(default=9.0, description="estimated noise sigma above: noisy")
    cast_factor: float = Field(default=0.8, description="chroma offset / spread above: cast")
    occlusion_ratio: float = Field(default=0.45,
                                   description="largest flat region above: occluded")


@dataclass(frozen=True, slots=True)
class Measures:
    """What one sample measures."""

    luma: float
    luma_std: float
    sharpness: float  # edge energy relative to contrast: a blurred lens has little of it
    noise: float
    cast: float | None  # None on a grey picture
    flat_ratio: float  # share of blocks that are flat
    occlusion: float  # share of blocks in the largest flat region of one level
    frame_diff: float | None  # the largest mean difference between frames; None: one frame

    def as_values(self) -> dict[str, float | None]:
        """Named probe values."""
        return {"luma_mean": self.luma, "luma_std": self.luma_std,
                "sharpness": self.sharpness, "noise_sigma": self.noise,
                "colour_cast": self.cast, "flat_ratio": self.flat_ratio,
                "occlusion_ratio": self.occlusion, "frame_diff": self.frame_diff}


def _luma(frame: Frame) -> Gray:
    rgb = frame.astype(np.float32)
    y: Gray = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    return y


def _laplacian(y: Gray) -> Gray:
    return (y[1:-1, :-2] + y[1:-1, 2:] + y[:-2, 1:-1] + y[2:, 1:-1] - 4 * y[1:-1, 1:-1])


def _noise_sigma(y: Gray) -> float:
    """Immerkær's fast noise estimate: the mask cancels image structure, not noise."""
    m = (y[:-2, :-2] - 2 * y[:-2, 1:-1] + y[:-2, 2:]
         - 2 * y[1:-1, :-2] + 4 * y[1:-1, 1:-1] - 2 * y[1:-1, 2:]
         + y[2:, :-2] - 2 * y[2:, 1:-1] + y[2:, 2:])
    return float(np.sqrt(np.pi / 2) * np.abs(m).mean() / 6)


def _cast(frame: Frame) -> float | None:
    rgb = frame.astype(np.float32)
    # Opponent chroma axes (a: red-green, b: yellow-blue), as in CIELAB's a*, b*.
    a = rgb[..., 0] - rgb[..., 1]
    b = (rgb[..., 0] + rgb[..., 1]) / 2 - rgb[..., 2]
    da, db = float(a.mean()), float(b.mean())
    spread = float(np.sqrt(((a - da) ** 2 + (b - db) ** 2).mean()))
    offset = float(np.hypot(da, db))
    if offset < 4 and spread < 4:
        return None  # a grey picture (infrared at night): no colour to judge
    return offset / max(spread, 1.0)


def _sharpness(y: Gray) -> float:
    """Laplacian variance on a 4x reduced picture, over the picture's own variance.

    Reducing first averages sensor noise away (it would pass for edges); dividing by
    the variance keeps a dim or washed-out picture from passing for a blurred one.
    """
    h, w = (y.shape[0] // 4) * 4, (y.shape[1] // 4) * 4
    small = y[:h, :w].reshape(h // 4, 4, w // 4, 4).mean(axis=(1, 3))
    return float(_laplacian(small).var() / max(float(y.var()), 1.0))


def _blocks(y: Gray, size: int = 16) -> tuple[Gray, Gray]:
    h, w = (y.shape[0] // size) * size, (y.shape[1] // size) * size
    tiles = y[:h, :w].reshape(h // size, size, w // size, size).swapaxes(1, 2)
    return tiles.mean(axis=(2, 3)), tiles.std(axis=(2, 3))


def measure(frames: Sequence[Frame], flat_std: float = 3.0) -> Measures:
    """Measurements of a sample (the last frame, and the differences between frames)."""
    lumas = [_luma(f) for f in frames]
    y = lumas[-1]
    means, stds = _blocks(y)
    flat = stds < flat_std
    occlusion = 0.0
    if flat.any():
        levels = np.round(means[flat] / 8)  # flat blocks of about the same level
        _, counts = np.unique(levels, return_counts=True)
        occlusion = float(counts.max() / flat.size)
    diffs = [float(np.abs(b - a).mean()) for a, b in pairwise(lumas)]
    return Measures(
        luma=float(y.mean()), luma_std=float(y.std()),
        sharpness=_sharpness(y), noise=_noise_sigma(y), cast=_cast(frames[-1]),
        flat_ratio=float(flat.mean()), occlusion=occlusion,
        frame_diff=max(diffs) if diffs else None)


# (reason, is the camera without usable video?)
VERDICTS = {
    "black_screen": True, "signal_loss": True, "frozen": True, "noise": False,
    "occluded": False, "too_dark": False, "too_bright": False, "blurred": False,
    "colour_cast": False,
}


def judge(m: Measures, limits: QualityLimits) -> list[tuple[str, str]]:
    """The faults found, most serious first: (reason, detail)."""
    found: list[tuple[str, str]] = []
    if m.flat_ratio > 0.97 and m.luma_std < 2 * limits.flat_std:
        if m.luma < limits.black_luma:
            return [("black_screen", f"black picture (luma {m.luma:.0f})")]
        return [("signal_loss", f"a uniform picture (luma {m.luma:.0f}): no signal")]
    if m.frame_diff is not None and m.frame_diff < limits.frozen_diff:
        found.append(("frozen", f"frames seconds apart differ by {m.frame_diff:.2f}"))
    if m.noise > limits.noise_sigma:
        found.append(("noise", f"noise sigma {m.noise:.1f} > {limits.noise_sigma:g}"))
    dark = m.luma < limits.dark_luma
    if m.occlusion > limits.occlusion_ratio and not dark:
        found.append(("occluded", f"{m.occlusion:.0%} of the picture is one flat region"))
    if dark:
        found.append(("too_dark", f"mean luma {m.luma:.0f} < {limits.dark_luma:g}"))
    if m.luma > limits.bright_luma:
        found.append(("too_bright", f"mean luma {m.luma:.0f} > {limits.bright_luma:g}"))
    if m.sharpness < limits.blur_sharpness and m.noise <= limits.noise_sigma:
        found.append(("blurred", f"sharpness {m.sharpness:.3f} < {limits.blur_sharpness:g}"))
    if m.cast is not None and m.cast > limits.cast_factor:
        found.append(("colour_cast", f"colour cast factor {m.cast:.2f} > {limits.cast_factor:g}"))
    return found
