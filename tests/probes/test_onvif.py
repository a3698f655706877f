"""The onvif and onvif_ptz_move checks against the ONVIF device emulator
(demo/peers/onvif_device.py says why an emulator of our own)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

import pytest

from demo.peers.onvif_device import Device
from monitor.vocab import Status
from probes import onvif
from probes.base import Credentials, ProbeContext, Target
from probes.clients import SharedClients
from probes.result import ProbeResult
from tests.conftest import free_port
from tests.probes.budget import run_probe

pytestmark = pytest.mark.peers
CREDS = Credentials("admin", "onvif-pass")




async def check(clients: SharedClients, port: int, kind: Any = onvif.PROBE,
                creds: Credentials = CREDS, budget: float = 10.0,
                previous: ProbeResult | None = None, **params: Any) -> ProbeResult:
    target = Target("cam", "camera", "127.0.0.1", creds)
    if previous is not None:  # the scheduler's path has no previous result: call directly
        return await kind.run(target, kind.params(port=port, **params),
                              ProbeContext(asyncio.get_running_loop().time() + budget, clients,
                                           previous))
    return await run_probe(kind, target, kind.params(port=port, **params), clients, budget)


async def test_a_camera(emulate: Any, clients: SharedClients) -> None:
    device = Device()
    r = await check(clients, await emulate(device))
    assert r.status is Status.OK, r
    v = r.values
    assert (v["manufacturer"], v["model"], v["firmware"]) == \
        ("Hikvision", "DS-2DE4425IW-DE", "V5.6.3 build 190923")
    assert v["stream_uri"] == device.rtsp_uri
    assert v["ptz_error"] == "NONE" and (v["ptz_pan"], v["ptz_tilt"]) == (0.25, -0.5)
    assert abs(v["clock_offset_s"]) < 1.5  # type: ignore[arg-type]
    assert "GetSystemDateAndTime" in device.calls and "GetStatus" in device.calls


@pytest.mark.parametrize(("minutes_ago", "status", "reason"), [
    (2, Status.OK, "ok"), (120, Status.DOWN, "not_recording")])
async def test_a_dvr_recording(emulate: Any, clients: SharedClients, minutes_ago: int,
                               status: Status, reason: str) -> None:
    last = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)
    port = await emulate(Device(ptz=False, search=True, last_recording=last))
    r = await check(clients, port, recording=True, recording_max_age="10m")
    assert (r.status, r.reason) == (status, reason), r
    assert r.values["recording_age_s"] == pytest.approx(minutes_ago * 60, abs=2)


async def test_no_search_service_is_said_not_pretended(emulate: Any,
                                                       clients: SharedClients) -> None:
    r = await check(clients, await emulate(Device()), recording=True)
    assert (r.status, r.reason) == (Status.WARNING, "recording_unsupported")
    assert r.values["recording_supported"] is False


async def test_clock_drift(emulate: Any, clients: SharedClients) -> None:
    # 15 minutes off: the check still gets in (it signs with the device's time) and
    # says that other clients will not.
    r = await check(clients, await emulate(Device(clock_offset_s=900)))
    assert (r.status, r.reason) == (Status.WARNING, "clock_skew_auth"), r
    assert r.values["clock_drift_s"] == pytest.approx(900, abs=2)
    assert r.values["clock_offset_s"] == pytest.approx(900, abs=2)


async def test_ptz_error_and_wrong_password(emulate: Any, clients: SharedClients) -> None:
    r = await check(clients, await emulate(Device(ptz_error="Motor stalled")))
    assert (r.status, r.reason) == (Status.WARNING, "ptz_error")
    r = await check(clients, await emulate(Device(password="changed")))
    assert (r.status, r.reason) == (Status.DOWN, "auth_failed")
    assert "Sender not authorized" in r.detail


async def test_firmware_change_is_inventory_drift(emulate: Any, clients: SharedClients) -> None:
    device = Device()
    port = await emulate(device)
    first = await check(clients, port)
    device.firmware = "V5.7.0 build 230101"
    second = await check(clients, port, previous=first)
    assert (second.status, second.reason) == (Status.WARNING, "inventory_drift")
    (event,) = second.events
    assert event.values == {"field": "firmware", "old": "V5.6.3 build 190923",
                            "new": "V5.7.0 build 230101"}


@pytest.mark.parametrize(("device", "status", "reason"), [
    (Device(), Status.OK, "ok"),
    (Device(ptz_stuck=True), Status.DOWN, "ptz_stuck"),
    (Device(ptz=False), Status.WARNING, "ptz_unsupported"),
])
async def test_ptz_deep_check_moves_and_returns(emulate: Any, clients: SharedClients,
                                                device: Device, status: Status,
                                                reason: str) -> None:
    start = (device.pan, device.tilt)
    r = await check(clients, await emulate(device), kind=onvif.PTZ_MOVE, settle=1)
    assert (r.status, r.reason) == (status, reason), r
    assert (device.pan, device.tilt) == pytest.approx(start)  # left where it was


@pytest.mark.parametrize(("mode", "status", "reason"), [
    ("garbage", Status.ERROR, "malformed_response"),
    ("xxe", Status.ERROR, "malformed_response"),
    ("huge", Status.ERROR, "malformed_response"),
    ("drip", Status.TIMEOUT, "timeout"),
])
async def test_hostile_devices_end_as_results_within_budget(
        emulate: Any, clients: SharedClients, mode: str, status: Status, reason: str) -> None:
    port = await emulate(Device(mode=mode))
    start = time.monotonic()
    r = await check(clients, port, budget=4)
    assert (r.status, r.reason) == (status, reason), r
    assert time.monotonic() - start < 4.5
    if mode == "xxe":
        assert "EntitiesForbidden" in r.detail  # the entity was refused, not resolved
        secret = Path("/etc/hostname").read_text().strip()  # noqa: ASYNC240
        assert secret not in r.detail and secret not in str(r.values)


async def test_nothing_listening(clients: SharedClients) -> None:
    r = await check(clients, free_port())
    assert (r.status, r.reason) == (Status.DOWN, "refused")


async def test_stream_uri_discovered_over_onvif(emulate: Any, clients: SharedClients,
                                                rtsp_server: Any) -> None:
    """No URL in the inventory: the rtsp and video checks ask the camera for it."""
    from probes.video import probe as video
    from probes.video import rtsp
    device = Device(rtsp_uri=rtsp_server.url("live"))
    port = await emulate(device)
    target = Target("cam", "camera", "127.0.0.1", CREDS)
    r = await run_probe(rtsp.PROBE, target, rtsp.RtspParams(onvif_port=port), clients, 10)
    assert (r.status, r.values["codec"]) == (Status.OK, "H264"), r
    r = await run_probe(video.PROBE, target, video.VideoParams(onvif_port=port), clients, 15)
    assert r.status is Status.OK, r
    r = await run_probe(video.PROBE, target, video.VideoParams(onvif_port=port), clients, 15)
    # discovered once per choice of profile (main for rtsp, the smallest for video), cached
    assert device.calls.count("GetStreamUri") == 2
    broken = await emulate(Device(password="other"))
    r = await run_probe(rtsp.PROBE, target, rtsp.RtspParams(onvif_port=broken), clients, 10)
    assert (r.status, r.reason) == (Status.DOWN, "auth_failed")
    assert r.detail.startswith("stream URI discovery:")


async def test_the_picture_is_diagnosed_on_the_sub_stream(emulate: Any, clients: SharedClients,
                                                        rtsp_server: Any) -> None:
    """A camera with a 1080p main stream and a 640x360 sub-stream: the video check
    decodes the sub-stream (its analysis is 320 wide; 1080p costs ~4 ms a frame to
    decode), the rtsp check and `profile: first` the main one."""
    from probes.video import probe as video
    from probes.video import rtsp
    device = Device(rtsp_uri=rtsp_server.url("osd-live-1920x1080"),
                    sub_rtsp_uri=rtsp_server.url("osd-live-640x360"))
    port = await emulate(device)
    target = Target("cam", "camera", "127.0.0.1", CREDS)
    r = await run_probe(video.PROBE, target, video.VideoParams(onvif_port=port), clients, 15)
    assert r.status is Status.OK and (r.values["width"], r.values["height"]) == (640, 360), r
    r = await run_probe(video.PROBE, target, video.VideoParams(onvif_port=port, profile="first"),
                        clients, 15)
    assert (r.values["width"], r.values["height"]) == (1920, 1080), r
    r = await run_probe(rtsp.PROBE, target, rtsp.RtspParams(onvif_port=port), clients, 10)
    assert r.status is Status.OK
    assert device.calls.count("GetStreamUri") == 2  # one per profile, then cached


def test_the_smallest_profile_is_at_least_320_wide() -> None:
    from types import SimpleNamespace as N

    def profile(token: str, w: int | None, h: int | None) -> Any:
        enc = N(Resolution=N(Width=w, Height=h)) if w is not None else None
        return N(token=token, VideoEncoderConfiguration=enc)
    main, sub, tiny = profile("m", 1920, 1080), profile("s", 704, 576), profile("t", 176, 144)
    assert onvif.smallest([main, tiny, sub]).token == "s"
    assert onvif.smallest([tiny]).token == "t"  # nothing larger: still a picture
    assert onvif.smallest([profile("x", None, None), main]).token == "m"
    assert onvif.smallest([profile("x", None, None)]).token == "x"


# -- replies of every hostile shape, per action --------------------------------

def _valid(action: str) -> str:
    from demo.peers.onvif_device import ENVELOPE, _answer
    return ENVELOPE.format(body=_answer(Device(search=True), action, "http://127.0.0.1:1"))


SHAPES = {
    "truncated": lambda a: _valid(a)[: len(_valid(a)) * 2 // 3],
    "html": lambda a: "<html><body><h1>500 Internal Server Error</h1></body></html>",
    "empty": lambda a: "",
    "empty-body": lambda a: _envelope(""),
    "other-element": lambda a: _envelope("<tds:SomethingElseResponse><tt:X>1</tt:X>"
                                         "</tds:SomethingElseResponse>"),
    "text-for-numbers": lambda a: re.sub(r'(>|x=")-?\d+(\.\d+)?(<|")', r"\1abc\3",
                                         _valid(a)),
    "huge-numbers": lambda a: re.sub(r">(\d+)<", ">" + "9" * 400 + "<", _valid(a)),
    "impossible-date": lambda a: _valid(a).replace("<tt:Month>", "<tt:Month>1").replace(
        "<tt:Day>", "<tt:Day>4"),
    "bad-xsi-type": lambda a: re.sub(r"<tt:(\w+)>", r'<tt:\1 xsi:type="not a:valid:name">',
                                     _valid(a).replace(
                                         "<s:Envelope ", '<s:Envelope xmlns:xsi='
                                         '"http://www.w3.org/2001/XMLSchema-instance" '), count=2),
    "nested-where-text": lambda a: re.sub(
        r"<tt:(Error|Manufacturer|Uri|DataUntil)>[^<]*</tt:\1>",
        r"<tt:\1><tt:Inner><tt:Deeper>x</tt:Deeper></tt:Inner></tt:\1>", _valid(a)),
    "not-utf8": lambda a: _valid(a).replace("Hikvision", "Hik\udcff\udcfevision"),
}
ACTIONS = ["GetSystemDateAndTime", "GetServices", "GetDeviceInformation", "GetProfiles",
           "GetStreamUri", "GetStatus", "GetRecordingSummary"]


def _envelope(body: str) -> str:
    from demo.peers.onvif_device import ENVELOPE
    return ENVELOPE.format(body=body)


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("action", ACTIONS)
async def test_no_reply_of_any_shape_crashes_the_probe(emulate: Any, clients: SharedClients,
                                                        action: str, shape: str) -> None:
    """A camera's broken reply is a result about the camera (malformed_response, or
    what the reply still says), never probe_crashed with a traceback."""
    text = SHAPES[shape](action)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("latin-1")
    device = Device(search=True, broken={action: text})
    r = await check(clients, await emulate(device), recording=True, budget=5)
    assert r.reason != "probe_crashed", (action, shape, r.detail)
    assert r.status in (Status.OK, Status.WARNING, Status.ERROR, Status.DOWN), r


async def test_a_camera_that_wants_credentials_for_its_clock(emulate: Any,
                                                             clients: SharedClients) -> None:
    """GetSystemDateAndTime refused without credentials (the spec says it must not be):
    it read auth_failed with the right password."""
    r = await check(clients, await emulate(Device(auth_for_clock=True)))
    assert r.status is Status.OK, r
    assert abs(r.values["clock_offset_s"]) < 1.5  # type: ignore[arg-type]
    r = await check(clients, await emulate(Device(auth_for_clock=True, password="other")))
    assert (r.status, r.reason) == (Status.DOWN, "auth_failed"), r


async def test_ipycam_a_third_party_onvif_implementation(clients: SharedClients) -> None:
    """ipycam's ONVIF service (tests/onvif_peer.py): it wants credentials for its clock
    and its PTZ GetStatus reply does not build (`Invalid tag name 'ptz:PTZStatus'`).
    That is a PTZ fault of the camera, with everything else still read -- it was
    auth_failed with the right password, then a malformed_response for the whole run."""
    from tests.onvif_peer import IpycamOnvif
    peer = IpycamOnvif(password="ipycam-pass")
    try:
        right = Credentials("admin", "ipycam-pass")
        r = await check(clients, peer.port, creds=right)
        assert (r.status, r.reason) == (Status.WARNING, "ptz_error"), r
        assert "PTZStatus" in r.detail
        assert (r.values["manufacturer"], r.values["model"]) == ("PythonCam", "VirtualCam-1")
        assert str(r.values["stream_uri"]).startswith("rtsp://")
        r = await check(clients, peer.port, creds=Credentials("admin", "wrong"))
        assert (r.status, r.reason) == (Status.DOWN, "auth_failed"), r
    finally:
        peer.stop()


async def test_the_run_keeps_its_own_deadline(emulate: Any, clients: SharedClients) -> None:
    """Called without the scheduler around it (as the rtsp and video checks' stream
    URI discovery runs it), a device answering a byte a second ended as the
    library's TimeoutError -- an exception out of the probe -- after its own
    timeout, not the run's."""
    port = await emulate(Device(mode="drip"))
    target = Target("cam", "camera", "127.0.0.1", CREDS)
    start = time.monotonic()
    r = await onvif.PROBE.run(target, onvif.OnvifParams(port=port),
                              ProbeContext(asyncio.get_running_loop().time() + 2.0, clients))
    assert (r.status, r.reason) == (Status.TIMEOUT, "timeout"), r
    assert time.monotonic() - start < 2.1
    # and the library's own timeout, should it come first, is a timeout too
    mapped = onvif.failure(TimeoutError("Request timed out"), "cam", None)
    assert (mapped.status, mapped.reason) == (Status.TIMEOUT, "timeout")


async def test_one_client_per_device_is_kept_between_runs(emulate: Any,
                                                          clients: SharedClients) -> None:
    """A run built a new client (an HTTP session, zeep bindings, two round trips for
    the service addresses) every time; now the next run starts from the last one's."""
    device = Device()
    port = await emulate(device)
    for _ in range(3):
        r = await check(clients, port)
        assert r.status is Status.OK, r
    assert clients.onvif.made == 1 and len(clients.onvif) == 1
    assert device.calls.count("GetServices") == 1  # the addresses were found once
    assert device.calls.count("GetDeviceInformation") == 3  # every run still asks
    # The camera's clock was set meanwhile: the kept client signed with the old
    # offset and would be refused; it is rebuilt on the new one.
    device.clock_offset_s = 600
    r = await check(clients, port)
    assert r.reason == "clock_skew_auth" and r.values["clock_offset_s"] == \
        pytest.approx(600, abs=2), r
    assert device.calls.count("GetServices") == 2


async def test_a_failed_run_closes_its_client(emulate: Any, clients: SharedClients) -> None:
    """After a fault, a broken reply or a timeout the next run starts afresh (a
    rebooted device may have new addresses); new credentials make a new client."""
    device = Device()
    port = await emulate(device)
    assert (await check(clients, port)).status is Status.OK
    device.mode = "garbage"
    assert (await check(clients, port)).status is not Status.OK
    assert len(clients.onvif) == 0
    device.mode = "normal"
    assert (await check(clients, port)).status is Status.OK
    assert clients.onvif.made == 2
    device.mode = "drip"
    assert (await check(clients, port, budget=2.0)).status is Status.TIMEOUT
    assert len(clients.onvif) == 0
    device.mode = "normal"
    device.password = "rotated"
    assert (await check(clients, port, creds=Credentials("admin", "rotated"))).status \
        is Status.OK
    assert (await check(clients, port)).reason == "auth_failed"  # the old password
    assert clients.onvif.made == 4  # (the drip run took the kept one)


async def test_the_clients_kept_are_bounded(emulate: Any) -> None:
    from probes.onvif_clients import OnvifClients
    shared = SharedClients()
    shared.__dict__["onvif"] = OnvifClients(size=2)
    try:
        ports = [await emulate(Device()) for _ in range(3)]
        for port in ports:
            assert (await check(shared, port)).status is Status.OK
        assert len(shared.onvif) == 2
        assert (await check(shared, ports[0])).status is Status.OK  # the oldest: rebuilt
        assert shared.onvif.made == 4
    finally:
        await shared.close()


async def test_runs_of_one_device_at_once_leave_no_client_unclosed(
        emulate: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several runs of one device give their clients back at once: one is kept, every
    other closed (giving back overwrote a client unclosed while closing another:
    9 of 20 leaked in bench/video.py)."""
    import gc
    import warnings

    from probes import onvif_clients
    port = await emulate(Device())
    shared = SharedClients()
    closed: list[object] = []
    real_close = onvif_clients._close

    async def counting(camera: Any) -> None:
        closed.append(camera)
        await real_close(camera)
    monkeypatch.setattr(onvif_clients, "_close", counting)
    results = await asyncio.gather(*(check(shared, port) for _ in range(20)))
    assert all(r.status is Status.OK for r in results)
    assert len(shared.onvif) == 1
    assert len(closed) == shared.onvif.made - 1
    await shared.close()
    assert len(closed) == shared.onvif.made
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        gc.collect()
