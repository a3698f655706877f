"""The ``onvif`` check (onvif-zeep-async): identity, clock, stream URI, PTZ, recording.

One run asks, in order:
  * GetSystemDateAndTime, without credentials as the spec allows: the device's
    clock against ours (``clock_drift_s``).  Drift breaks WS-UsernameToken digests
    (beyond ±300 s most devices refuse them) and evidence timestamps.  Requests
    are then signed with the device's time, so a drifting camera is still checked;
  * GetServices (GetCapabilities on old devices) for the service addresses;
  * GetDeviceInformation: a model or firmware change since the last run is
    inventory drift (an event);
  * GetProfiles and GetStreamUri: the RTSP URI (``stream_uri``);
  * PTZ GetStatus, where the profile has PTZ: its error state;
  * where asked (DVR/NVR), the search service's GetRecordingSummary: how long ago
    the last recording data was written.  A device without the service is told
    so in the result, never passed as recording.

The parsed WSDLs are cached by onvif-zeep-async for the whole process, and each
device's client (its HTTP session, its service bindings and addresses) is kept
from one run to the next (`probes.onvif_clients`), closed after any failure.  The
weekly PTZ move builds its own.  zeep forbids DTDs and entities, so an XXE
payload is not resolved.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from typing import Any

import aiohttp
import zeep.exceptions
from lxml import etree
from pydantic import Field

from monitor.vocab import Duration, Status
from probes.base import ProbeContext, ProbeKind, ProbeParams, Target
from probes.clients import SharedClients
from probes.onvif_clients import Lent, ONVIFCamera, ONVIFError  # (tames the import)
from probes.result import ProbeEvent, ProbeResult, Reason, Value

MAX_AUTH_SKEW_S = 300  # the usual WS-Security window
CLOCK_MOVED_S = 5.0  # a kept client whose device clock moved this much is rebuilt


class OnvifParams(ProbeParams):
    """Parameters of an ``onvif`` check."""

    port: int = Field(default=80, ge=1, le=65535)
    ptz: bool = Field(default=True, description="ask PTZ GetStatus when the profile has PTZ")
    recording: bool = Field(default=False, description="DVR/NVR: recording must be current")
    recording_max_age: Duration = Field(default=600.0, gt=0,
                                        description="newest recorded data older: not recording")
    events: bool = Field(default=True,
                         description="subscribe to the device's events (PullPoint) where it "
                                     "offers them: tamper, video loss and storage failure "
                                     "re-run its checks at once (probes/onvif_events.py)")


class OnvifFailure(Exception):
    """A run that ended early, as its result."""

    def __init__(self, result: ProbeResult) -> None:
        super().__init__(result.detail)
        self.result = result


def _fault_text(exc: zeep.exceptions.Fault) -> str:
    codes = [getattr(code, "localname", str(code)) for code in exc.subcodes or ()]
    return f"{exc.message} ({', '.join(codes)})" if codes else str(exc.message)


def _is_auth_fault(exc: zeep.exceptions.Fault) -> bool:
    text = _fault_text(exc).lower()
    return "authoriz" in text or "authenticat" in text


def failure(exc: BaseException, where: str, drift: float | None) -> ProbeResult:
    """Map the library's unwrapped errors (PEERS.md) onto results."""
    values: dict[str, Value] = {"clock_offset_s": drift}
    if isinstance(exc, zeep.exceptions.Fault):
        text = _fault_text(exc)
        if _is_auth_fault(exc):
            # Requests are signed with the device's own time, so a skewed clock is
            # already compensated: what is refused is the user or the password.
            return ProbeResult(Status.DOWN, Reason.AUTH_FAILED,
                               f"{where}: wrong credentials ({text})", values=values)
        return ProbeResult(Status.ERROR, Reason.SOAP_FAULT, f"{where}: {text}", values=values)
    if isinstance(exc, etree.XMLSyntaxError | zeep.exceptions.XMLParseError |
                  zeep.exceptions.XMLSyntaxError | zeep.exceptions.ValidationError |
                  zeep.exceptions.DTDForbidden | zeep.exceptions.EntitiesForbidden):
        return ProbeResult(Status.ERROR, Reason.MALFORMED_RESPONSE, f"{where}: {exc}",
                           values=values)
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return ProbeResult(Status.DOWN, Reason.REFUSED, f"{where}: connection refused")
        return ProbeResult(Status.DOWN, Reason.UNREACHABLE, f"{where}: {exc.os_error}")
    if isinstance(exc, TimeoutError):  # the library's own request timeout
        return ProbeResult(Status.TIMEOUT, Reason.TIMEOUT, f"{where}: {exc}", values=values)
    if isinstance(exc, aiohttp.ClientError | ONVIFError | zeep.exceptions.TransportError):
        return ProbeResult(Status.ERROR, Reason.PROTOCOL_ERROR, f"{where}: {exc}", values=values)
    if _raised_in_parser(exc):
        # zeep (non-strict, as onvif-zeep-async sets it) has no error of its own for a
        # reply of the wrong shape: it trips over it (TypeError, AttributeError, …).
        return ProbeResult(Status.ERROR, Reason.MALFORMED_RESPONSE,
                           f"{where}: a reply of the wrong shape ({type(exc).__name__}: "
                           f"{str(exc)[:120]})", values=values)
    raise exc


_PARSERS = ("/zeep/", "/lxml/", "src/lxml/")


def _raised_in_parser(exc: BaseException) -> bool:
    """Whether `exc` came out of the SOAP/XML libraries' own code (the innermost frame)."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return last is not None and any(p in last.tb_frame.f_code.co_filename for p in _PARSERS)


def _camera_time(answer: Any) -> dt.datetime:
    utc = getattr(answer, "UTCDateTime", None)
    date: Any = getattr(utc, "Date", None)
    time_: Any = getattr(utc, "Time", None)
    try:
        return dt.datetime(date.Year, date.Month, date.Day, time_.Hour, time_.Minute,
                           time_.Second, tzinfo=dt.UTC)
    except (AttributeError, TypeError, ValueError, OverflowError):
        raise OnvifFailure(ProbeResult(
            Status.ERROR, Reason.MALFORMED_RESPONSE,
            "GetSystemDateAndTime carried no valid UTC time")) from None


async def run(target: Target, params: OnvifParams, ctx: ProbeContext) -> ProbeResult:
    """Ask the device service, media, PTZ and (for a DVR) search -- within the run's
    budget: the library's own timeouts are longer than a check's, and a device that
    answers a byte at a time would otherwise hold the run past it."""
    where = f"{target.address}:{params.port}"
    try:
        async with asyncio.timeout_at(ctx.deadline - 0.1):
            return await _run(target, params, ctx, where)
    except TimeoutError:
        return ProbeResult(Status.TIMEOUT, Reason.TIMEOUT,
                           f"{where}: no complete answer within the budget")


async def _run(target: Target, params: OnvifParams, ctx: ProbeContext,
               where: str) -> ProbeResult:
    creds = target.credentials
    seen: dict[str, float] = {}  # the clock offset, once read (for a failure's text)
    try:
        async with ctx.clients.onvif.lend(target.address, params.port, creds.username,
                                          creds.password) as lent:
            result = await _ask(lent, params, where, seen)
    except OnvifFailure as exc:
        return exc.result
    except Exception as exc:  # the library's errors are not wrapped: map them here
        return failure(exc, where, seen.get("drift"))
    return _with_drift_events(result, ctx)


async def _ask(lent: Lent, params: OnvifParams, where: str,
               seen: dict[str, float]) -> ProbeResult:
    """One run's questions, on a client kept from the last run (or a new one)."""
    camera = lent.camera
    devicemgmt = await camera.create_devicemgmt_service()
    asked_at = dt.datetime.now(dt.UTC)
    try:
        clock = await devicemgmt.authless_GetSystemDateAndTime()
    except zeep.exceptions.Fault as exc:
        if not _is_auth_fault(exc):
            raise
        # A device that wants credentials for its clock too (the spec says it
        # must not; some do): ask signed, with our own clock.  Refused again,
        # the credentials are wrong -- or its clock is beyond its window.
        asked_at = dt.datetime.now(dt.UTC)
        try:
            clock = await devicemgmt.GetSystemDateAndTime()
        except zeep.exceptions.Fault as signed:
            if _is_auth_fault(signed):
                raise OnvifFailure(ProbeResult(
                    Status.DOWN, Reason.AUTH_FAILED,
                    f"{where}: wrong credentials ({_fault_text(signed)}; the device asks "
                    "for them even for its clock, so a clock over 300 s off ours looks "
                    "alike)")) from None
            raise
    drift = seen["drift"] = (_camera_time(clock) - asked_at).total_seconds()
    signed_with = camera.dt_diff.total_seconds() if camera.dt_diff is not None else 0.0
    if not lent.fresh and abs(drift - signed_with) > CLOCK_MOVED_S:
        await lent.renew()  # its clock was set since: sign with the new one
        camera = lent.camera
    if lent.fresh:
        await camera.update_xaddrs()  # signs with the device's time from here on
        lent.fresh = False
    devicemgmt = await camera.create_devicemgmt_service()
    info = await devicemgmt.GetDeviceInformation()
    if info is None or not (info.Manufacturer or info.Model):
        raise OnvifFailure(ProbeResult(Status.ERROR, Reason.MALFORMED_RESPONSE,
                                       f"{where}: GetDeviceInformation came back empty"))
    values: dict[str, Value] = {
        "clock_offset_s": drift, "clock_drift_s": abs(drift),
        "manufacturer": info.Manufacturer, "model": info.Model,
        "firmware": info.FirmwareVersion, "serial": info.SerialNumber}
    return await _media_and_more(camera, params, values, where)


async def _media_and_more(camera: ONVIFCamera, params: OnvifParams,
                          values: dict[str, Value], where: str) -> ProbeResult:
    media = await camera.create_media_service()
    profiles = await media.GetProfiles()
    if not profiles:
        return ProbeResult(Status.DOWN, Reason.NO_PROFILE, f"{where} has no media profile",
                           values=values)
    profile = profiles[0]
    uri = await media.GetStreamUri({"ProfileToken": profile.token, "StreamSetup": {
        "Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}})
    values["stream_uri"] = uri.Uri if uri is not None else None
    problems: list[tuple[Status, str, str]] = []
    if params.ptz and getattr(profile, "PTZConfiguration", None) is not None \
            and "http://www.onvif.org/ver20/ptz/wsdl" in camera.xaddrs:
        try:
            ptz = await camera.create_ptz_service()
            status = await ptz.GetStatus({"ProfileToken": profile.token})
        except (zeep.exceptions.Fault, ONVIFError, zeep.exceptions.TransportError,
                etree.XMLSyntaxError, zeep.exceptions.XMLParseError, ValueError,
                TypeError, AttributeError) as exc:
            if isinstance(exc, ValueError | TypeError | AttributeError) \
                    and not _raised_in_parser(exc):
                raise
            # The PTZ service's own reply is broken (a firmware that builds an invalid
            # PTZStatus): a PTZ fault of this camera, the rest of it still checked.
            status = None
            problems.append((Status.WARNING, Reason.PTZ_ERROR, "PTZ GetStatus gave no readable "
                             f"status ({type(exc).__name__}: {str(exc)[:100]})"))
        else:
            error = _str(getattr(status, "Error", None))
            values["ptz_error"] = error
            position = getattr(status, "Position", None)
            pan_tilt = getattr(position, "PanTilt", None)
            if pan_tilt is not None:
                values["ptz_pan"] = _float(getattr(pan_tilt, "x", None))
                values["ptz_tilt"] = _float(getattr(pan_tilt, "y", None))
            if status is None or (error and error.strip().upper() != "NONE"):
                problems.append((Status.WARNING, Reason.PTZ_ERROR,
                                 f"PTZ reports {error or 'no status'}"))
    if params.recording:
        _recording = await _recording_age(camera)
        values["recording_supported"] = _recording is not None
        if _recording is None:
            problems.append((Status.WARNING, Reason.RECORDING_UNSUPPORTED,
                             "the device offers no ONVIF search service: recording unknown"))
        else:
            values["recording_age_s"] = _recording
            if _recording > params.recording_max_age:
                problems.append((Status.DOWN, Reason.NOT_RECORDING,
                                 f"the newest recording is {_recording / 60:.0f} min old"))
    drift = values["clock_drift_s"]
    if isinstance(drift, float) and drift > MAX_AUTH_SKEW_S:
        problems.append((Status.WARNING, Reason.CLOCK_SKEW_AUTH,
                         f"the clock is {values['clock_offset_s']:+.0f} s off: ONVIF clients "
                         "that do not compensate are refused (WS-Security digests)"))
    if problems:
        worst = max(problems, key=lambda p: (p[0] is Status.DOWN, p[0] is Status.WARNING))
        return ProbeResult(worst[0], worst[1], "; ".join(p[2] for p in problems), values=values)
    return ProbeResult.ok(f"{values['manufacturer']} {values['model']}, "
                          f"firmware {values['firmware']}", values=values)


def _str(value: object) -> str | None:
    """Text from a reply field that should be text (a broken reply nests elements)."""
    return value if isinstance(value, str) else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


async def _recording_age(camera: ONVIFCamera) -> float | None:
    if "http://www.onvif.org/ver10/search/wsdl" not in camera.xaddrs:
        return None
    search = await camera.create_search_service()
    summary = await search.GetRecordingSummary()
    until = getattr(summary, "DataUntil", None)
    if until is None:
        return math.inf
    if until.tzinfo is None:
        until = until.replace(tzinfo=dt.UTC)
    age: float = max(0.0, (dt.datetime.now(dt.UTC) - until).total_seconds())
    return age


async def discover_stream_uri(target: Target, port: int, clients: SharedClients,
                              profile: str = "first") -> str:
    """A profile's RTSP URI, from the device (for `rtsp` and `video` checks): the
    first (the main stream), or the `smallest` at least 320 wide (the sub-stream,
    which the picture diagnosis needs no more than: it analyses 320 wide)."""
    from probes.video.rtsp import RtspError
    creds = target.credentials
    try:
        async with clients.onvif.lend(target.address, port, creds.username,
                                      creds.password) as lent:
            if lent.fresh:
                await lent.camera.update_xaddrs()
                lent.fresh = False
            media = await lent.camera.create_media_service()
            profiles = await media.GetProfiles()
            if not profiles:
                raise RtspError(Reason.NO_PROFILE, f"{target.address}:{port} has no media profile")
            chosen = smallest(profiles) if profile == "smallest" else profiles[0]
            uri = await media.GetStreamUri({"ProfileToken": chosen.token, "StreamSetup": {
                "Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}})
    except RtspError:
        raise
    except Exception as exc:
        result = failure(exc, f"{target.address}:{port} (ONVIF)", None)
        raise RtspError(Reason(result.reason), f"stream URI discovery: {result.detail}",
                        result.status) from exc
    if uri is None or not str(uri.Uri or "").startswith("rtsp"):
        raise RtspError(Reason.MALFORMED_RESPONSE, "GetStreamUri gave no rtsp:// URI", Status.ERROR)
    return str(uri.Uri)


def smallest(profiles: list[Any]) -> Any:
    """The profile of the smallest resolution at least 320 wide (the first profile
    when none says its resolution)."""
    sized = []
    for p in profiles:
        resolution = getattr(getattr(p, "VideoEncoderConfiguration", None), "Resolution", None)
        w, h = getattr(resolution, "Width", None), getattr(resolution, "Height", None)
        if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
            sized.append((w < 320, w * h, p))
    if not sized:
        return profiles[0]
    usable = [s for s in sized if not s[0]] or sized
    return min(usable, key=lambda s: s[1])[2]


def _with_drift_events(result: ProbeResult, ctx: ProbeContext) -> ProbeResult:
    """Inventory drift: model or firmware differ from the previous run's."""
    if ctx.previous is None:
        return result
    events = []
    for key in ("model", "firmware"):
        old, new = ctx.previous.values.get(key), result.values.get(key)
        if isinstance(old, str) and isinstance(new, str) and old != new:
            events.append(ProbeEvent("inventory_drift", f"{key} changed: {old!r} → {new!r}",
                                     {"field": key, "old": old, "new": new}))
    if not events:
        return result
    if result.status is Status.OK:
        detail = "; ".join(e.detail for e in events)
        return ProbeResult(Status.WARNING, Reason.INVENTORY_DRIFT, detail, result.latency_s,
                           result.values, tuple(events))
    return ProbeResult(result.status, result.reason, result.detail, result.latency_s,
                       result.values, tuple(events))


PROBE = ProbeKind(
    name="onvif",
    params=OnvifParams,
    run=run,
    summary="ONVIF: device information, clock drift, stream URI, PTZ status, DVR recording",
    default_interval_s=300.0,
    default_timeout_s=20.0,
    default_concurrency=50,
    default_thresholds={"clock_drift_s": {"warning": 10.0, "reason": Reason.CLOCK_DRIFT}},
)


class PtzMoveParams(ProbeParams):
    """Parameters of an ``onvif_ptz_move`` check (the deep check: it moves the camera)."""

    port: int = Field(default=80, ge=1, le=65535)
    pan: float = Field(default=0.05, gt=-1, lt=1, description="relative pan of the test move")
    tolerance: float = Field(default=0.01, gt=0, description="how close counts as arrived")
    settle: Duration = Field(default=3.0, gt=0, le=30, description="wait for each move")


async def _position(ptz: Any, token: str) -> tuple[float, float]:
    status = await ptz.GetStatus({"ProfileToken": token})
    pan_tilt = getattr(getattr(status, "Position", None), "PanTilt", None)
    if pan_tilt is None:
        raise OnvifFailure(ProbeResult(Status.ERROR, Reason.MALFORMED_RESPONSE,
                                       "PTZ GetStatus carried no position"))
    return float(pan_tilt.x), float(pan_tilt.y)


async def _wait_for(ptz: Any, token: str, goal: tuple[float, float], tolerance: float,
                    settle: float) -> tuple[float, float]:
    import asyncio
    loop = asyncio.get_running_loop()
    end = loop.time() + settle
    while True:
        here = await _position(ptz, token)
        if abs(here[0] - goal[0]) <= tolerance and abs(here[1] - goal[1]) <= tolerance:
            return here
        if loop.time() >= end:
            return here
        await asyncio.sleep(0.2)


async def run_ptz_move(target: Target, params: PtzMoveParams, ctx: ProbeContext) -> ProbeResult:
    """Move a little, check it moved, go back to where it was, check it is back."""
    where = f"{target.address}:{params.port}"
    creds = target.credentials
    camera = ONVIFCamera(target.address, params.port, creds.username or "",
                         creds.password or "", no_cache=True, adjust_time=True)
    try:
        await camera.update_xaddrs()
        if "http://www.onvif.org/ver20/ptz/wsdl" not in camera.xaddrs:
            return ProbeResult(Status.WARNING, Reason.PTZ_UNSUPPORTED, f"{where} offers no PTZ")
        profiles = await (await camera.create_media_service()).GetProfiles()
        token = profiles[0].token
        ptz = await camera.create_ptz_service()
        start = await _position(ptz, token)
        goal = (start[0] + params.pan, start[1])
        await ptz.RelativeMove({"ProfileToken": token,
                                "Translation": {"PanTilt": {"x": params.pan, "y": 0}}})
        moved = await _wait_for(ptz, token, goal, params.tolerance, params.settle)
        await ptz.AbsoluteMove({"ProfileToken": token,
                                "Position": {"PanTilt": {"x": start[0], "y": start[1]}}})
        back = await _wait_for(ptz, token, start, params.tolerance, params.settle)
    except OnvifFailure as exc:
        return exc.result
    except Exception as exc:
        return failure(exc, where, None)
    finally:
        await camera.close()
    error = abs(back[0] - start[0]) + abs(back[1] - start[1])
    values: dict[str, Value] = {"ptz_moved": moved[0] - start[0], "ptz_return_error": error}
    if abs(moved[0] - goal[0]) > params.tolerance:
        return ProbeResult(Status.DOWN, Reason.PTZ_STUCK,
                           f"asked to pan {params.pan:+.2f}, moved {moved[0] - start[0]:+.3f}",
                           values=values)
    if error > params.tolerance:
        return ProbeResult(Status.WARNING, Reason.PTZ_NOT_RETURNED,
                           f"did not return to its position (off by {error:.3f})", values=values)
    return ProbeResult.ok(f"panned {params.pan:+.2f} and returned", values=values)


PTZ_MOVE = ProbeKind(
    name="onvif_ptz_move",
    params=PtzMoveParams,
    run=run_ptz_move,
    summary="ONVIF PTZ deep check: a small move and back (weekly; disabled by default)",
    default_interval_s=7 * 86400.0,
    default_timeout_s=30.0,
    default_concurrency=5,
)
