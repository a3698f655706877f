"""The picture diagnosis on pictures as cameras send them (`tests/video_corpus.py`):
scenes from photographs, a running OSD clock and a Chinese channel name, sensor
noise, JPEG, at 320x240, 640x360, 1280x720 and 1920x1080.  (The whole labelled
corpus, with precision and recall, is `bench/vqd.py`; these are its cases that must
never regress.)"""

from __future__ import annotations

import numpy as np
import pytest

from probes.video.baseline import Baseline, assess
from probes.video.probe import NIGHT_LIMITS
from probes.video.quality import QualityLimits, Rect, judge, measure
from tests import video_corpus as vc


def verdict(frames: tuple[vc.Frame, ...], night: bool = False,
            masks: tuple[Rect, ...] = ()) -> str:
    limits = NIGHT_LIMITS if night else QualityLimits()
    found = judge(measure(frames, limits.flat_std, masks), limits)
    return found[0][0] if found else "ok"


@pytest.fixture(scope="module", params=vc.RESOLUTIONS, ids=lambda r: f"{r[0]}x{r[1]}")
def resolution(request: pytest.FixtureRequest) -> tuple[int, int]:
    return request.param  # type: ignore[no-any-return]


def test_no_video_with_an_osd_is_no_video(resolution: tuple[int, int]) -> None:
    """A black or blue screen with the camera's clock and name burnt in was only
    "too dark" (level 4): it is the camera without video."""
    w, h = resolution
    rng = vc._rng("test", w)
    for quality in (85, 40):
        assert verdict(vc._frames("garage", w, h, rng, screen="black", quality=quality)) \
            == "black_screen"
        assert verdict(vc._frames("garage", w, h, rng, screen="blue", quality=quality)) \
            == "signal_loss"
        assert verdict(vc._frames("garage", w, h, rng, screen="grey", quality=quality)) \
            == "signal_loss"


@pytest.mark.parametrize("scene", ["garage", "street", "sky"])
def test_a_frozen_picture_with_a_running_clock_is_frozen(resolution: tuple[int, int],
                                                         scene: str) -> None:
    """The sensor stopped, the OSD clock runs on: it read "ok"."""
    w, h = resolution
    rng = vc._rng("frozen", scene, w)
    assert verdict(vc._frames(scene, w, h, rng, frozen=True)) == "frozen"
    # The decoder's first picture differs from the rest: it must not hide it.
    assert verdict(vc._frames(scene, w, h, rng, frozen=True, warm_up=True)) == "frozen"


@pytest.mark.parametrize("scene", ["garage", "street", "yard", "sky", "plain_wall"])
def test_working_cameras_are_ok(resolution: tuple[int, int], scene: str) -> None:
    """Including a plain wall with a passer-by (was signal_loss, DOWN), and a still
    scene whose only change is the clock."""
    w, h = resolution
    rng = vc._rng("ok", scene, w)
    assert verdict(vc._frames(scene, w, h, rng, moving=True)) == "ok"
    if scene != "plain_wall":
        assert verdict(vc._frames(scene, w, h, rng, quality=40)) == "ok"


@pytest.mark.parametrize("scene", ["night_car_park", "infrared"])
def test_night_pictures_are_ok_at_night(resolution: tuple[int, int], scene: str) -> None:
    w, h = resolution
    assert verdict(vc._frames(scene, w, h, vc._rng("night", scene, w)), night=True) == "ok"


@pytest.mark.parametrize("scene", ["garage", "yard", "sky"])
def test_the_same_defocus_is_blurred_at_every_resolution(resolution: tuple[int, int],
                                                         scene: str) -> None:
    """A defocus is a share of the picture: the same at 320x240 as at 1920x1080 (it
    read blurred only at the smallest)."""
    w, h = resolution
    rng = vc._rng("blur", scene, w)
    assert verdict(vc._frames(scene, w, h, rng, fault=vc.blur(4.0))) == "blurred"


def test_sharpness_does_not_depend_on_resolution() -> None:
    values = []
    for w, h in vc.RESOLUTIONS:
        frames = vc._frames("garage", w, h, vc._rng("res", w), fault=vc.blur(4.0))
        values.append(measure(frames).sharpness)
    assert max(values) - min(values) < 0.1, values


def test_a_mask_leaves_a_mid_picture_osd_out() -> None:
    """Some cameras draw their name mid-picture: a black screen with it is judged
    black only once the inventory masks it."""
    frames = []
    for t in (0.0, 1.0, 2.0):
        black = np.clip(np.random.default_rng(int(t)).normal(8, 0.6, (360, 640, 3)),
                        0, 255).astype(np.uint8)
        with_text = vc.osd(black, t)
        from PIL import Image, ImageDraw
        img = Image.fromarray(with_text)
        ImageDraw.Draw(img).text((200, 150), "仓库 北门 通道03", font=vc._font(36),
                                 fill=(255, 255, 255))
        frames.append(vc.to_analysis(np.asarray(img)))
    assert verdict(tuple(frames)) != "black_screen"
    mask = Rect(x=0.25, y=0.35, w=0.6, h=0.25)
    assert verdict(tuple(frames), masks=(mask,)) == "black_screen"


def test_infrared_pictures_get_the_night_limits_by_themselves() -> None:
    """Without night hours configured, a grey (infrared) picture is judged with the
    night limits; with them configured, a grey picture by day is a camera stuck in
    infrared mode (no_colour, a warning)."""
    from probes.video.frames import Sample
    from probes.video.probe import NightHours, VideoParams, _diagnose
    w, h = 640, 360
    ir = vc._frames("infrared", w, h, vc._rng("ir", w))
    dark_ir = tuple(vc.to_analysis(vc.jpeg(vc.osd((np.asarray(f, np.float32) * 0.2)
                                                    .astype(np.uint8), t), 75))
                    for t, f in enumerate(vc._frames("infrared", w, h, vc._rng("ir2", w),
                                                     with_osd=False)))
    sample = Sample(frames=list(dark_ir))
    d = _diagnose(sample, VideoParams(url="rtsp://x/"), False)
    assert d.measures.grey and d.night and d.faults == [], d.faults  # dark, but it is night
    params = VideoParams(url="rtsp://x/", night=NightHours())
    d = _diagnose(Sample(frames=list(ir)), params, False)  # by day
    assert not d.night and [r for r, _ in d.faults] == ["no_colour"], d.faults
    d = _diagnose(Sample(frames=list(ir)), params, True)  # at night
    assert d.night and d.faults == []
    colour = vc._frames("garage", w, h, vc._rng("colour", w))
    assert not measure(colour).grey


def _learned(scene: str, w: int, h: int, night: bool = False) -> Baseline:
    limits = NIGHT_LIMITS if night else QualityLimits()
    baseline = None
    for frames in vc.learning(scene, w, h):
        _, baseline = assess(measure(frames, limits.flat_std), limits, baseline)
    assert baseline is not None and baseline.ready
    return baseline


def against(frames: tuple[vc.Frame, ...], baseline: Baseline, night: bool = False) -> str:
    limits = NIGHT_LIMITS if night else QualityLimits()
    found = judge(measure(frames, limits.flat_std), limits, baseline)
    return found[0][0] if found else "ok"


@pytest.mark.parametrize("scene", ["lawn", "brick_wall"])
def test_a_scene_of_one_hue_is_a_cast_only_until_its_baseline_is_learned(
        resolution: tuple[int, int], scene: str) -> None:
    """A lawn or a brick wall read colour_cast by the absolute rule (false alarms on
    healthy cameras); against its own baseline it is ok in other light, and a real
    cast on it is still found."""
    w, h = resolution
    rng = vc._rng("hue", scene, w)
    frames = vc._frames(scene, w, h, rng, light=vc.DAYLIGHT[1])
    assert verdict(frames) == "colour_cast"  # the absolute rule, before a baseline
    baseline = _learned(scene, w, h)
    for light in vc.DAYLIGHT:
        assert against(vc._frames(scene, w, h, rng, light=light, moving=True),
                       baseline) == "ok", light
    for gains in ((1.0, 0.7, 0.45), (0.55, 0.8, 1.0)):
        assert against(vc._frames(scene, w, h, rng, fault=vc.cast(gains)), baseline) \
            == "colour_cast", gains


def test_against_a_baseline_the_faults_are_still_found(resolution: tuple[int, int]) -> None:
    w, h = resolution
    baseline = _learned("street", w, h)
    rng = vc._rng("b-faults", w)
    expected = {"blurred": vc.blur(4.0), "occluded": vc.cover(0.6),
                "too_dark": vc.level(0.2, 0), "too_bright": vc.level(0.4, 170)}
    for reason, fault in expected.items():
        assert against(vc._frames("street", w, h, rng, fault=fault), baseline) == reason
    assert against(vc._frames("street", w, h, rng, frozen=True), baseline) == "frozen"
    black = vc._frames("street", w, h, rng, screen="black")
    assert against(black, baseline) == "black_screen"


def test_a_heavy_defocus_of_a_fine_texture_is_blurred_not_occluded() -> None:
    """Grass out of focus is flat like a card in front of the lens; against its
    baseline it lost its sharpness, which a cover does not take."""
    baseline = _learned("lawn", 640, 360)
    rng = vc._rng("defocus", 640)
    assert against(vc._frames("lawn", 640, 360, rng, fault=vc.blur(6.0)), baseline) \
        == "blurred"
    assert against(vc._frames("lawn", 640, 360, rng, fault=vc.cover(0.6)), baseline) \
        == "occluded"


def test_night_has_its_own_baseline() -> None:
    """A car park at night is darker and flatter than by day: it is learned apart,
    and the day's baseline never judges it."""
    from probes.video.baseline import recall, remember
    day = _learned("garage", 640, 360)
    night = _learned("night_car_park", 640, 360, night=True)
    learned = remember(remember({}, "day", day), "night", night)
    assert recall(learned, "day") == day and recall(learned, "night") == night
    rng = vc._rng("night-b", 640)
    assert against(vc._frames("night_car_park", 640, 360, rng), night, night=True) == "ok"


def test_a_fault_is_never_learned_as_normal() -> None:
    """Once ready, only healthy samples move the baseline: a cast kept for days does
    not become the camera's normal; and a picture without video teaches nothing,
    also while learning."""
    limits = QualityLimits()
    baseline = _learned("garage", 640, 360)
    rng = vc._rng("never", 640)
    cast = measure(vc._frames("garage", 640, 360, rng, fault=vc.cast((1.0, 0.7, 0.45))))
    for _ in range(200):
        faults, after = assess(cast, limits, baseline)
        assert faults[0][0] == "colour_cast" and after == baseline
    black = measure(vc._frames("garage", 640, 360, rng, screen="black"))
    assert assess(black, limits, None) == ([("black_screen", "black picture (luma 8)")], None)
    healthy = measure(vc._frames("garage", 640, 360, rng, light=vc.DAYLIGHT[4]))
    faults, after = assess(healthy, limits, baseline)
    assert faults == [] and after is not None and after.samples == baseline.samples + 1


def test_a_stored_baseline_that_no_longer_validates_is_relearned() -> None:
    from probes.video.baseline import recall
    assert recall({"day": {"samples": "many"}}, "day") is None
    assert recall({"day": [1, 2]}, "day") is None
    assert recall({}, "night") is None
