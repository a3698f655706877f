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
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from probes import lazy

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from probes.video.baseline import Baseline
    from probes.video.frames import Frame

    Gray = npt.NDArray[np.float32]
    Bool = npt.NDArray[np.bool_]
else:  # loaded at the first measure (probes.lazy)
    np = lazy.module("numpy")


class QualityLimits(BaseModel):
    """Thresholds of the image-quality judgements (luma and diffs on a 0-255 scale)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    black_luma: float = Field(default=20.0, description="flat frame darker than this: black")
    flat_std: float = Field(default=3.0, description="a block this flat (luma std) is uniform")
    frozen_diff: float = Field(default=0.05, description="frames closer than this: frozen")
    dark_luma: float = Field(default=50.0, description="mean luma below: too dark")
    bright_luma: float = Field(default=180.0, description="mean luma above: too bright")
    blur_sharpness: float = Field(default=0.6, description="share of the fine gradient a "
                                                           "re-blur removes, below: blurred")
    noise_sigma: float = Field(default=7.0, description="estimated noise sigma above: noisy")
    cast_factor: float = Field(default=1.0, description="relative chroma of the picture's "
                                                        "most neutral 2 % / 0.25, above: cast")
    occlusion_ratio: float = Field(default=0.45,
                                   description="largest flat region above: occluded")
    # Against a camera's own baseline (`probes.video.baseline`), once learned:
    cast_shift: float = Field(default=0.7, description="the typical colour moved more than "
                                                       "this (units of 0.25 chroma): cast")
    blur_drop: float = Field(default=0.8, description="sharpness below this share of "
                                                      "normal: blurred")
    occlusion_rise: float = Field(default=0.3, description="the largest flat region grew "
                                                           "by more than this: occluded")
    luma_change: float = Field(default=30.0, description="too dark/bright only this far "
                                                         "from normal mean luma")
    colour: bool = Field(default=True, description="judge colour casts (not at night: "
                                                   "sodium lamps, infrared)")


class Rect(BaseModel):
    """A region of the picture, in fractions of its width and height (0-1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)
    w: float = Field(gt=0, le=1)
    h: float = Field(gt=0, le=1)


@dataclass(frozen=True, slots=True)
class Measures:
    """What one sample measures, over the picture less its on-screen display."""

    luma: float
    luma_std: float
    sharpness: float  # how much fine detail a re-blur removes: little on a blurred lens
    noise: float
    cast: float | None  # None on a grey picture
    flat_ratio: float  # share of blocks that are flat
    occlusion: float  # share of blocks in the largest flat region of one level
    frame_diff: float | None  # the largest mean difference between frames; None: one frame
    uniformity: float = 0.0  # spread (std) of the flat blocks' levels: ~0 on a test screen
    overlay_ratio: float = 0.0  # share of blocks taken as OSD (found, or masked)
    flat_core: float = 0.0  # share of flat blocks between the OSD bands
    grey: bool = False  # no colour anywhere: an infrared (black-and-white) picture
    chroma: tuple[float, float] | None = None  # the typical colour (a, b); None: grey

    def as_values(self) -> dict[str, float | None]:
        """Named probe values."""
        return {"luma_mean": self.luma, "luma_std": self.luma_std,
                "sharpness": self.sharpness, "noise_sigma": self.noise,
                "colour_cast": self.cast, "flat_ratio": self.flat_ratio,
                "occlusion_ratio": self.occlusion, "frame_diff": self.frame_diff,
                "uniformity": self.uniformity, "osd_ratio": self.overlay_ratio,
                "infrared": self.grey}


BLOCK = 16  # pixels, at the 320-pixel analysis width
MOVED = 8.0  # a block whose mean changed this much between frames: something moved
OSD_BAND = 0.15  # cameras burn their clock and name into the top and bottom bands


def _luma(frame: Frame) -> Gray:
    rgb = frame.astype(np.float32)
    y: Gray = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    return y


def _tiles(y: Gray, size: int = BLOCK) -> Gray:
    h, w = (y.shape[0] // size) * size, (y.shape[1] // size) * size
    return y[:h, :w].reshape(h // size, size, w // size, size).swapaxes(1, 2)


def _per_pixel(blocks: Bool, shape: tuple[int, ...], size: int = BLOCK) -> Bool:
    """A block mask as a pixel mask of `shape` (pixels past the last block: False)."""
    out = np.zeros(shape[:2], dtype=bool)
    grown = np.repeat(np.repeat(blocks, size, axis=0), size, axis=1)
    out[:grown.shape[0], :grown.shape[1]] = grown
    return out


def _band(rows: int) -> int:
    """How many block rows at the top and at the bottom the OSD may take."""
    return max(1, round(rows * OSD_BAND))


def _osd(y: Gray) -> Bool:
    """Blocks of burnt-in text: bright strokes against darker edges, in the top and
    bottom bands, widened by a block either side (text runs along a line)."""
    tiles = _tiles(y)
    hi, lo = tiles.max(axis=(2, 3)), tiles.min(axis=(2, 3))
    # Light strokes and their dark outline (scaled down, thin strokes lose contrast).
    text: Bool = (hi >= 150) & (lo <= 90) & (hi - lo >= 60)
    rows = text.shape[0]
    band = _band(rows)
    text[band:rows - band] = False
    widened = text.copy()
    widened[:, 1:] |= text[:, :-1]
    widened[:, :-1] |= text[:, 1:]
    # Strokes reaching into the next row inwards (a large font, descenders): grown
    # there where that block has strokes too.
    strokes = (hi >= 150) & (hi - lo >= 40)
    grown = widened.copy()
    grown[band] |= widened[band - 1] & strokes[band]
    grown[rows - band - 1] |= widened[rows - band] & strokes[rows - band - 1]
    return grown


def _masked(shape: tuple[int, int], masks: Sequence[Rect]) -> Bool:
    """Blocks that touch one of the configured masks."""
    rows, cols = shape
    out = np.zeros((rows, cols), dtype=bool)
    for m in masks:
        out[int(m.y * rows):max(int(m.y * rows) + 1, int(np.ceil((m.y + m.h) * rows))),
            int(m.x * cols):max(int(m.x * cols) + 1, int(np.ceil((m.x + m.w) * cols)))] = True
    return out


def _noise_sigma(y: Gray, live: Bool) -> float:
    """Immerkær's fast noise estimate (the mask cancels image structure, not noise),
    over the live picture."""
    m = (y[:-2, :-2] - 2 * y[:-2, 1:-1] + y[:-2, 2:]
         - 2 * y[1:-1, :-2] + 4 * y[1:-1, 1:-1] - 2 * y[1:-1, 2:]
         + y[2:, :-2] - 2 * y[2:, 1:-1] + y[2:, 2:])
    keep = live[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * np.abs(m[keep]).mean() / 6) if keep.any() else 0.0


@dataclass(frozen=True, slots=True)
class Colour:
    cast: float | None  # `_cast`; None: too dark or grey to judge
    chroma: tuple[float, float] | None  # the typical colour, which a baseline compares
    grey: bool  # no colour at all: a camera in infrared mode


def _colour(frame: Frame, live: Bool) -> Colour:
    """The picture's colour, on every other pixel of every other row (colour
    statistics need no more, and a quarter of the pixels is a quarter of the cost)."""
    rgb = frame[::2, ::2].astype(np.float32)[live[::2, ::2]]
    y = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    # Opponent chroma axes (a: red-green, b: yellow-blue), as in CIELAB's a*, b*,
    # relative to brightness.
    lit = y > 20
    if lit.sum() < 25:
        return Colour(None, None, False)  # black: nothing to tell
    rgb, y = rgb[lit], y[lit]
    a = (rgb[:, 0] - rgb[:, 1]) / y
    b = ((rgb[:, 0] + rgb[:, 1]) / 2 - rgb[:, 2]) / y
    # Grey when even the most colourful tenth is grey.
    grey = float(np.percentile(np.hypot(a, b), 90)) < 0.06
    mid = y < 235
    mid &= y > 50  # (in the dark, chroma is mostly noise)
    if mid.sum() < max(25, len(lit) // 10):
        return Colour(None, None, grey)  # too dark to judge colour
    a, b = a[mid], b[mid]
    cast = _cast(a, b)
    if cast is None:
        return Colour(None, None, grey)
    return Colour(cast, (float(np.median(a)), float(np.median(b))), grey)


def _cast(a: Gray, b: Gray) -> float | None:
    """How far the picture's most neutral colours are from grey.

    A colour cast (a white balance gone wrong, a tinted dome) tints everything, the
    whites and greys included; a colourful scene -- a street, a yard, a sky over
    buildings -- still has near-neutral areas: tarmac, concrete, shadows.  So: the
    chroma relative to brightness of the most neutral 2 % of the mid-tone pixels,
    in units of 0.25 (a strong tint).  A scene of one hue (a lawn, a brick wall)
    reads as a cast too: that is what a per-camera baseline is for."""
    relative = np.hypot(a, b)
    if float(np.percentile(relative, 90)) < 0.06:
        return None  # a grey picture (infrared at night): no colour to judge
    return float(np.percentile(relative, 2)) / 0.25


def _sharpness(y: Gray, live: Bool) -> float:
    """The blur effect (Crété-Roffet et al., 2007), inverted: re-blur the picture and
    see how much of its gradient goes.  A sharp picture loses much, a defocused one
    little -- whatever its contrast or content.  On a 2x reduced picture (sensor noise
    averages out), over the live blocks only (a burnt-in clock is sharp on any lens)."""
    h, w = (y.shape[0] // 2) * 2, (y.shape[1] // 2) * 2
    small = y[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    keep = live[:h:2, :w:2]
    blurred = _box(_box(small, 0), 1)  # a 9x9 box, separable
    total = lost = 0.0
    for axis in (0, 1):
        d = np.abs(np.diff(small, axis=axis))
        db = np.abs(np.diff(blurred, axis=axis))
        k = keep[:-1, :] if axis == 0 else keep[:, :-1]
        total += float(d[k].sum())
        lost += float(np.maximum(0, d - db)[k].sum())
    return lost / total if total > 0 else 0.0


def _box(a: Gray, axis: int, n: int = 9) -> Gray:
    """A running mean of `n` along `axis` (edges padded by reflection)."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (n // 2, n // 2)
    c = np.cumsum(np.pad(a, pad, mode="reflect"), axis=axis, dtype=np.float64)
    c = np.insert(c, 0, 0, axis=axis)
    hi = np.take(c, range(n, c.shape[axis]), axis=axis)
    lo = np.take(c, range(0, c.shape[axis] - n), axis=axis)
    out: Gray = ((hi - lo) / n).astype(np.float32)
    return out


def measure(frames: Sequence[Frame], flat_std: float = 3.0,
            masks: Sequence[Rect] = ()) -> Measures:
    """Measurements of a sample (the last frame, and the differences between frames),
    over the picture less its on-screen display: text found in the top and bottom
    bands of every frame, and the configured `masks`."""
    lumas = [_luma(f) for f in frames]
    y = lumas[-1]
    tiles = _tiles(y)
    overlay = _masked(tiles.shape[:2], masks)
    for each in lumas:
        overlay |= _osd(each)
    live_blocks = ~overlay
    if not live_blocks.any():
        live_blocks = np.ones_like(overlay)
    live = _per_pixel(live_blocks, y.shape)
    means, stds = tiles.mean(axis=(2, 3)), tiles.std(axis=(2, 3))
    flat = (stds < flat_std) & live_blocks
    n_live = int(live_blocks.sum())
    rows = flat.shape[0]
    band = _band(rows)
    core = live_blocks[band:rows - band]
    flat_core = float(flat[band:rows - band].sum() / core.sum()) if core.any() else 0.0
    occlusion = uniformity = 0.0
    if flat.any():
        levels = np.round(means[flat] / 8)  # flat blocks of about the same level
        _, counts = np.unique(levels, return_counts=True)
        occlusion = float(counts.max() / n_live)
        uniformity = float(means[flat].std())
    # Frames seconds apart, over the live blocks.  With three or more, the first is
    # left out: a decoder's first picture may differ from the rest (warm-up), and
    # must not hide a frozen stream.
    usable = lumas[1:] if len(lumas) >= 3 else lumas
    # Where the picture has flat areas, there: an encoder re-encoding a frozen
    # picture flickers along its edges (requantisation), a working sensor's noise
    # shows everywhere, in the flat areas too.
    # Something moving (a block changed by more than any flicker) is never frozen.
    calm = (stds < 2 * flat_std) & live_blocks
    textured = live_blocks & ~calm
    where = _per_pixel(calm, y.shape) if calm.sum() >= 0.1 * n_live else live
    diffs = []
    for a, b in pairwise(usable):
        change = np.abs(b - a)
        moved = float(_tiles(change).mean(axis=(2, 3))[live_blocks].max())
        diffs.append(max(float(change[where].mean()), moved if moved >= MOVED else 0.0))
    values = y[live]
    colour = _colour(frames[-1], live)
    return Measures(
        luma=float(values.mean()), luma_std=float(values.std()),
        # (on the frames' mean: noise averages out across them, a lens's blur not)
        sharpness=_sharpness(np.mean(usable, axis=0),
                             _per_pixel(textured, y.shape) if textured.any() else live),
        noise=_noise_sigma(y, live),
        cast=colour.cast, chroma=colour.chroma, flat_ratio=float(flat.sum() / n_live),
        occlusion=occlusion, frame_diff=max(diffs) if diffs else None,
        uniformity=uniformity, overlay_ratio=float(overlay.mean()), flat_core=flat_core,
        grey=colour.grey)


# (reason, is the camera without usable video?)
VERDICTS = {
    "black_screen": True, "signal_loss": True, "frozen": True, "noise": False,
    "occluded": False, "too_dark": False, "too_bright": False, "blurred": False,
    "colour_cast": False, "no_colour": False,
}


def judge(m: Measures, limits: QualityLimits,
          baseline: Baseline | None = None) -> list[tuple[str, str]]:
    """The faults found, most serious first: (reason, detail).  With a ready
    `baseline` (`probes.video.baseline`), colour, cover, focus and exposure are
    judged as changes from what this camera normally shows; "no video" (black,
    signal loss, frozen) and noise are judged the same with or without one."""
    found: list[tuple[str, str]] = []
    still = m.frame_diff is None or m.frame_diff < 1.0
    # Uniform between the OSD bands (a camera's text there may be too small to be
    # found), and nearly so in them.
    empty = m.flat_core > 0.97 and m.flat_ratio > 0.85
    if empty and m.luma < limits.black_luma:
        return [("black_screen", f"black picture (luma {m.luma:.0f})")]
    if empty and m.uniformity < 4 and still:
        # One level everywhere and nothing moving: a DVR's "no video" screen, not a
        # plain wall (which has its light's gradient, and passers-by).
        return [("signal_loss", f"a uniform picture (luma {m.luma:.0f}): no signal")]
    if m.frame_diff is not None and m.frame_diff < limits.frozen_diff:
        found.append(("frozen", f"frames seconds apart differ by {m.frame_diff:.2f}"))
    if m.noise > limits.noise_sigma:
        found.append(("noise", f"noise sigma {m.noise:.1f} > {limits.noise_sigma:g}"))
    base = baseline if baseline is not None and baseline.ready else None
    dark = m.luma < limits.dark_luma
    # A defocus flattens a fine texture (grass, brick) into what looks like a cover:
    # against a baseline, a picture that lost its sharpness is blurred, not occluded.
    softer = base is not None and m.sharpness < base.sharpness * limits.blur_drop
    if base is not None:
        dark = dark and base.luma - m.luma > limits.luma_change
        if m.occlusion > max(limits.occlusion_ratio, base.occlusion + limits.occlusion_rise) \
                and not dark and not softer:
            found.append(("occluded", f"{m.occlusion:.0%} of the picture is one flat region "
                                      f"(normally {base.occlusion:.0%})"))
    elif m.occlusion > limits.occlusion_ratio and not dark:
        found.append(("occluded", f"{m.occlusion:.0%} of the picture is one flat region"))
    if dark:
        found.append(("too_dark", f"mean luma {m.luma:.0f} < {limits.dark_luma:g}"
                      + (f" (normally {base.luma:.0f})" if base else "")))
    if m.luma > limits.bright_luma and (base is None
                                        or m.luma - base.luma > limits.luma_change):
        found.append(("too_bright", f"mean luma {m.luma:.0f} > {limits.bright_luma:g}"
                      + (f" (normally {base.luma:.0f})" if base else "")))
    if m.noise <= limits.noise_sigma:
        if base is not None:
            if softer:
                found.append(("blurred", f"sharpness {m.sharpness:.3f}, normally "
                                         f"{base.sharpness:.3f}"))
        elif m.sharpness < limits.blur_sharpness:
            found.append(("blurred", f"sharpness {m.sharpness:.3f} < "
                                     f"{limits.blur_sharpness:g}"))
    if limits.colour and not dark:
        shift = base.chroma_shift(m) if base is not None else None
        if shift is not None:
            if shift > limits.cast_shift:
                found.append(("colour_cast", f"the colour moved {shift:.2f} from this "
                                             f"camera's normal > {limits.cast_shift:g}"))
        elif m.cast is not None and m.cast > limits.cast_factor:
            found.append(("colour_cast", f"colour cast factor {m.cast:.2f} > "
                                         f"{limits.cast_factor:g}"))
    return found
