"""A labelled corpus of camera pictures as the field sends them, for the picture
diagnosis (`probes.video.quality`): used by its tests and by `bench/vqd.py`.

Scenes are composed from the photographs scikit-image's wheel ships (a garage with a
motorcycle, a street with a rocket and sky, the cameraman's lawn, grass, brick):
streets, lawns, walls, a sky, a night car park and an infrared picture.  Every
frame gets what a deployed camera adds: sensor noise, an on-screen display (a
running date/time clock top left, a Chinese channel name bottom right, white with a
dark outline, as the common DVR and IPC defaults draw them) and JPEG compression.
Faults are applied at several strengths.  A `Case` is three frames one second
apart, scaled to the 320-pixel width the video probe analyses (as its `grab` does).
"""

from __future__ import annotations

import datetime as dt
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

Frame = npt.NDArray[np.uint8]
RESOLUTIONS = ((320, 240), (640, 360), (1280, 720), (1920, 1080))
ANALYSIS_WIDTH = 320  # what probes.video.frames.grab scales to
FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CLOCK0 = dt.datetime(2026, 12, 4, 16, 58, 3)


@dataclass(frozen=True)
class Case:
    """One labelled sample: what a camera sends, and what the diagnosis should say."""

    name: str
    expected: str  # "ok" or the reason
    frames: tuple[Frame, ...]  # at ANALYSIS_WIDTH
    night: bool = False
    resolution: tuple[int, int] = (640, 360)
    scene: str = "garage"  # the camera: a scene at a resolution


# -- scenes -------------------------------------------------------------------


@cache
def _photo(name: str) -> npt.NDArray[np.float32]:
    from skimage import data
    img = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.asarray(img[..., :3], dtype=np.float32)


def _fit(img: npt.NDArray[np.float32], w: int, h: int) -> npt.NDArray[np.float32]:
    """Cover-crop to w:h, then resize (Lanczos)."""
    ih, iw = img.shape[:2]
    scale = max(w / iw, h / ih)
    cw, ch = round(w / scale), round(h / scale)
    y0, x0 = (ih - ch) // 2, (iw - cw) // 2
    crop = np.clip(img[y0:y0 + ch, x0:x0 + cw], 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(crop).resize((w, h), Image.LANCZOS), dtype=np.float32)


def _tint(grey: npt.NDArray[np.float32], rgb: tuple[float, float, float],
          offset: tuple[float, float, float] = (0, 0, 0)) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = grey * np.array(rgb, np.float32) + np.array(offset, np.float32)
    return out


def _garage(w: int, h: int) -> npt.NDArray[np.float32]:
    return _fit(_photo("motorcycle"), w, h)


def _street(w: int, h: int) -> npt.NDArray[np.float32]:
    return _fit(_photo("rocket"), w, h)


def _yard(w: int, h: int) -> npt.NDArray[np.float32]:
    return _fit(_photo("coffee"), w, h) * 0.8 + 20


def _lawn(w: int, h: int) -> npt.NDArray[np.float32]:
    grass = _fit(_photo("grass"), w, h)
    return _tint(grass, (0.35, 0.75, 0.25), (20, 40, 10))  # a lawn: green, and only green


def _brick_wall(w: int, h: int) -> npt.NDArray[np.float32]:
    return _tint(_fit(_photo("brick"), w, h), (0.8, 0.45, 0.35), (40, 20, 15))


def _sky(w: int, h: int) -> npt.NDArray[np.float32]:
    """A blue sky over the bottom quarter of the street."""
    out = _street(w, h)
    horizon = int(h * 0.72)
    ramp = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
    top, low = np.array([60, 110, 190], np.float32), np.array([150, 185, 225], np.float32)
    out[:horizon] = top * (1 - ramp) + low * ramp
    return out


def _plain_wall(w: int, h: int) -> npt.NDArray[np.float32]:
    """A painted wall lit from one side: a gentle gradient, nothing else."""
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    return np.broadcast_to(np.array([182, 178, 168], np.float32) - 22 * x - 10 * y,
                           (h, w, 3)).copy()


def _night(w: int, h: int) -> npt.NDArray[np.float32]:
    """The garage at night: dim, two lamps."""
    out = _garage(w, h) * 0.18
    yy, xx = np.mgrid[0:h, 0:w]
    for cx, cy in ((0.25, 0.2), (0.8, 0.25)):
        d2 = ((xx - cx * w) / (0.06 * w)) ** 2 + ((yy - cy * h) / (0.06 * w)) ** 2
        out += (np.exp(-d2) * 200)[..., None]
    return out


def _infrared(w: int, h: int) -> npt.NDArray[np.float32]:
    """Night, infrared: grey, flat-lit, strong contrast near the camera."""
    grey = _garage(w, h).mean(axis=2, keepdims=True)
    x = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
    y = np.linspace(-1, 1, h, dtype=np.float32)[:, None, None]
    falloff = 1 - 0.45 * (x ** 2 + y ** 2)  # the IR lamp lights the middle
    return np.repeat(np.clip(grey * 1.1 * falloff + 10, 0, 255), 3, axis=2)


# name → (picture, sensor noise sigma at 320 wide, night?)
SCENES: dict[str, tuple[Callable[[int, int], npt.NDArray[np.float32]], float, bool]] = {
    "garage": (_garage, 2.0, False),
    "street": (_street, 2.0, False),
    "yard": (_yard, 2.0, False),
    "lawn": (_lawn, 2.0, False),
    "brick_wall": (_brick_wall, 2.0, False),
    "sky": (_sky, 1.5, False),
    "plain_wall": (_plain_wall, 1.5, False),
    "night_car_park": (_night, 5.0, True),
    "infrared": (_infrared, 4.0, True),
}


Light = tuple[float, tuple[float, float, float]]
# The same camera at other hours and weather: brighter, dimmer, warmer, cooler (what
# its auto exposure and white balance leave of it).
DAYLIGHT: tuple[Light, ...] = ((1.0, (1.0, 1.0, 1.0)), (0.85, (1.04, 1.0, 0.94)),
                               (1.12, (0.96, 1.0, 1.05)), (0.92, (1.0, 1.0, 1.0)),
                               (1.05, (1.03, 1.0, 0.97)), (0.8, (0.97, 1.0, 1.03)))


# -- what the camera adds -----------------------------------------------------


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if FONT.exists():
        return ImageFont.truetype(str(FONT), size)
    return ImageFont.load_default()


def osd(frame: Frame, t: float, channel: str = "前湾港 大门 CH01") -> Frame:
    """Burn in the date/time (top left, running) and the channel name (bottom right)."""
    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    h = frame.shape[0]
    font = _font(max(10, h // 20))
    stamp = (CLOCK0 + dt.timedelta(seconds=t)).strftime("%Y-%m-%d 星期五 %H:%M:%S")
    margin = max(4, h // 40)
    draw.text((margin, margin), stamp, font=font, fill=(255, 255, 255),
              stroke_width=max(1, h // 240), stroke_fill=(0, 0, 0))
    box = draw.textbbox((0, 0), channel, font=font)
    draw.text((frame.shape[1] - box[2] - margin, h - box[3] - margin), channel, font=font,
              fill=(255, 255, 255), stroke_width=max(1, h // 240), stroke_fill=(0, 0, 0))
    return np.asarray(img, dtype=np.uint8)


def jpeg(frame: Frame, quality: int) -> Frame:
    """Compression artefacts (an encoder at `quality`)."""
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.uint8)


def to_analysis(frame: Frame) -> Frame:
    """Scaled as the probe's grab scales (to 320 wide, bilinear)."""
    h = max(2, round(frame.shape[0] * ANALYSIS_WIDTH / frame.shape[1] / 2) * 2)
    return np.asarray(Image.fromarray(frame).resize((ANALYSIS_WIDTH, h), Image.BILINEAR),
                      dtype=np.uint8)


def _sensor(picture: npt.NDArray[np.float32], sigma_320: float, w: int,
            rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Sensor noise: sigma as seen at 320 wide, so larger per pixel at higher
    resolutions (scaling down averages (w/320)^2 pixels into one)."""
    sigma = sigma_320 * w / ANALYSIS_WIDTH
    out: npt.NDArray[np.float32] = picture + rng.normal(0, sigma, picture.shape).astype(
        np.float32)
    return out


def _u8(picture: npt.NDArray[np.float32]) -> Frame:
    return np.clip(np.round(picture), 0, 255).astype(np.uint8)


# -- faults -------------------------------------------------------------------

Fault = Callable[[npt.NDArray[np.float32], int, int, float, np.random.Generator],
                 npt.NDArray[np.float32]]


def _mover(picture: npt.NDArray[np.float32], w: int, h: int, t: float,
           size: float = 0.08) -> npt.NDArray[np.float32]:
    """A small dark object crossing the picture (a person, a car far away)."""
    out = picture.copy()
    s = int(size * w)
    x = int((0.2 + 0.15 * t) * w) % max(1, w - s)
    y = int(0.55 * h)
    out[y:y + int(1.6 * s), x:x + s] = np.array([60, 55, 50], np.float32)
    return out


def blur(strength: float) -> Fault:
    def apply(p: npt.NDArray[np.float32], w: int, h: int, t: float,
              rng: np.random.Generator) -> npt.NDArray[np.float32]:
        sigma = strength * w / ANALYSIS_WIDTH  # a defocus is a share of the picture
        return ndimage.gaussian_filter(p, sigma=(sigma, sigma, 0))
    return apply


def cast(gains: tuple[float, float, float]) -> Fault:
    def apply(p: npt.NDArray[np.float32], w: int, h: int, t: float,
              rng: np.random.Generator) -> npt.NDArray[np.float32]:
        return p * np.array(gains, np.float32)
    return apply


def cover(share: float, level: float = 70.0) -> Fault:
    """Something in front of the lens: a flat, slightly textured card over `share`."""
    def apply(p: npt.NDArray[np.float32], w: int, h: int, t: float,
              rng: np.random.Generator) -> npt.NDArray[np.float32]:
        out = p.copy()
        rows = int(h * share)
        out[h - rows:] = level + ndimage.gaussian_filter(
            rng.normal(0, 3, (rows, w, 1)).astype(np.float32), 2)
        return out
    return apply


def noise(sigma: float) -> Fault:
    """Interference, snow: grains a pixel wide at the analysis scale, so seen at it."""
    def apply(p: npt.NDArray[np.float32], w: int, h: int, t: float,
              rng: np.random.Generator) -> npt.NDArray[np.float32]:
        k = max(1, w // ANALYSIS_WIDTH)
        grains = rng.normal(0, sigma, (h // k + 1, w // k + 1, 3)).astype(np.float32)
        return p + np.repeat(np.repeat(grains, k, axis=0), k, axis=1)[:h, :w]
    return apply


def level(gain: float, offset: float) -> Fault:
    def apply(p: npt.NDArray[np.float32], w: int, h: int, t: float,
              rng: np.random.Generator) -> npt.NDArray[np.float32]:
        return p * gain + offset
    return apply


def _frames(scene: str, w: int, h: int, rng: np.random.Generator, *,
            fault: Fault | None = None, frozen: bool = False, screen: str | None = None,
            moving: bool = False, quality: int = 75, warm_up: bool = False,
            with_osd: bool = True, light: Light = DAYLIGHT[0]) -> tuple[Frame, ...]:
    picture_of, sigma, _ = SCENES[scene]
    gain, balance = light
    base = picture_of(w, h) * gain * np.array(balance, np.float32)
    frames = []
    still: npt.NDArray[np.float32] | None = None
    for i, t in enumerate((0.0, 1.0, 2.0)):
        if screen == "black":
            p = rng.normal(8, 0.6, (h, w, 3)).astype(np.float32)
        elif screen == "blue":
            p = np.broadcast_to(np.array([16, 32, 176], np.float32), (h, w, 3)).copy()
        elif screen == "grey":
            p = np.full((h, w, 3), 128, np.float32)
        else:
            p = _mover(base, w, h, t) if moving else base
            if fault is not None:
                p = fault(p, w, h, t, rng)
            if frozen:  # the sensor stopped: one picture, the OSD still runs
                if still is None:
                    still = _sensor(p, sigma, w, rng)
                p = still
            else:
                p = _sensor(p, sigma, w, rng)
        if warm_up and i == 0:  # a decoder's first picture: grey, half drawn
            p = p.copy()
            p[: h // 2] = 128
        frame = _u8(p)
        if with_osd:
            frame = osd(frame, t)
        frames.append(to_analysis(jpeg(frame, quality)))
    return tuple(frames)


def _rng(*key: object) -> np.random.Generator:
    """A generator seeded by `key` (the same in every process, unlike hash())."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def healthy(resolutions: tuple[tuple[int, int], ...] = RESOLUTIONS,
            seeds: int = 1) -> Iterator[Case]:
    """Working cameras: every scene, moving or still, at each resolution."""
    for (w, h) in resolutions:
        for scene, (_, _, night) in SCENES.items():
            for seed in range(seeds):
                rng = _rng(scene, w, seed)
                moving = scene in ("plain_wall", "street") or seed % 2 == 1
                quality = (85, 60, 40)[seed % 3]
                light = DAYLIGHT[seed % len(DAYLIGHT)]
                yield Case(f"{scene} {w}x{h} q{quality} light {light[0]:g}"
                           f"{' moving' if moving else ''}", "ok",
                           _frames(scene, w, h, rng, moving=moving, quality=quality,
                                   light=light), night, (w, h), scene)


def learning(scene: str, w: int, h: int, samples: int = 3) -> Iterator[tuple[Frame, ...]]:
    """A camera's first samples, from which it learns its baseline: other hours,
    other light, other noise than the cases judged."""
    for i in range(samples):
        yield _frames(scene, w, h, _rng("learn", scene, w, i), moving=i % 2 == 1,
                      quality=60, light=DAYLIGHT[(i + 3) % len(DAYLIGHT)])


DAY_SCENES = ("garage", "street", "yard", "lawn", "brick_wall", "sky")


def _faults_of(scene: str, w: int, h: int, seed: int) -> Iterator[Case]:
    rng = _rng("f", scene, w, seed)

    def case(name: str, expected: str, **how: Any) -> Case:
        return Case(f"{name}, {scene} {w}x{h} #{seed}", expected,
                    _frames(scene, w, h, rng, **how), False, (w, h), scene)
    yield case("frozen, OSD clock running", "frozen", frozen=True)
    yield case("frozen, decoder warm-up frame", "frozen", frozen=True, warm_up=True)
    for s in (2.5, 4.0, 6.0):
        yield case(f"blurred sigma {s}", "blurred", fault=blur(s))
    for gains in ((1.0, 0.7, 0.45), (0.55, 0.8, 1.0)):
        yield case(f"cast {gains}", "colour_cast", fault=cast(gains))
    for share in (0.6, 0.8):
        yield case(f"covered {share:.0%}", "occluded", fault=cover(share))
    yield case("noise", "noise", fault=noise(40))
    yield case("too dark", "too_dark", fault=level(0.2, 0))
    yield case("too bright", "too_bright", fault=level(0.4, 170))


def faulty(resolutions: tuple[tuple[int, int], ...] = RESOLUTIONS,
           seeds: int = 1) -> Iterator[Case]:
    """Each fault, at several strengths, on day scenes, at each resolution."""
    for (w, h) in resolutions:
        for seed in range(seeds):
            for scene in DAY_SCENES:
                yield from _faults_of(scene, w, h, seed)
            rng = _rng("s", w, seed)
            for screen, reason in (("black", "black_screen"), ("blue", "signal_loss"),
                                   ("grey", "signal_loss")):
                for quality in (85, 40):
                    yield Case(f"{screen} screen with OSD, {w}x{h} q{quality} #{seed}",
                               reason, _frames("garage", w, h, rng, screen=screen,
                                               quality=quality), False, (w, h), "garage")
                yield Case(f"{screen} screen without OSD, {w}x{h} #{seed}", reason,
                           _frames("garage", w, h, rng, screen=screen, with_osd=False),
                           False, (w, h), "garage")
