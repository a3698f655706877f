"""An ONVIF device emulator for the tests, on the ONVIF WSDL schemas (aiohttp).

Why not an off-the-shelf emulator: `ipycam` (PyPI), the one that serves ONVIF
here, has no recording or search service (a DVR's), its PTZ GetStatus replies
fail to build, it demands credentials for GetSystemDateAndTime (the spec says
no), and it starts WS-Discovery multicast on 0.0.0.0 (PEERS.md).  This serves
the operations the `onvif` check uses, with the element names and namespaces of
the WSDLs (device 1.0, media 1.0, PTZ 2.0, search 1.0), and checks
WS-UsernameToken digests with the device's own clock, which a test can set off.
Hostile modes answer garbage, an XXE payload, 100 MB, or one byte a second.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field

from aiohttp import web

NS = {
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "tse": "http://www.onvif.org/ver10/search/wsdl",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "tns1": "http://www.onvif.org/ver10/topics",
}
ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?>'
            '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            + " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items())
            + ' xmlns:ter="http://www.onvif.org/ver10/error"><s:Body>{body}</s:Body></s:Envelope>')


@dataclass
class Device:
    """What the emulated device says and does."""

    username: str = "admin"
    password: str = "onvif-pass"
    clock_offset_s: float = 0.0
    manufacturer: str = "Hikvision"
    model: str = "DS-2DE4425IW-DE"
    firmware: str = "V5.6.3 build 190923"
    serial: str = "DS-2DE4425IW-DE20190923AACHD12345678"
    ptz: bool = True
    ptz_error: str = "NONE"
    ptz_stuck: bool = False  # moves are accepted and do nothing
    pan: float = 0.25
    tilt: float = -0.5
    search: bool = False  # a DVR/NVR offers the search service
    last_recording: dt.datetime | None = None
    recording_lag_s: float | None = None  # still recording: the newest data is this old
    rtsp_uri: str = "rtsp://127.0.0.1:554/Streaming/Channels/101"
    # A second, smaller profile (the sub-stream), as most cameras have; None: main only
    sub_rtsp_uri: str | None = None
    mode: str = "normal"  # normal, garbage, xxe, huge, drip
    # action → the raw HTTP body sent instead of its answer (`{envelope}` in it is
    # replaced by the SOAP envelope around `{body}`): replies of hostile shapes
    broken: dict[str, str] = field(default_factory=dict)
    auth_for_clock: bool = False  # GetSystemDateAndTime needs credentials too
    events: bool = False  # offers the event service (PullPoint subscriptions)
    # (topic, data item, value, operation) waiting for the next PullMessages
    pending: list[tuple[str, str, str, str]] = field(default_factory=list)
    subscriptions: int = 0  # CreatePullPointSubscription calls answered
    calls: list[str] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def emit(self, topic: str, item: str = "State", value: str = "true",
             operation: str = "Changed") -> None:
        """An event, e.g. ``tns1:VideoSource/SignalLoss``: delivered to the pulling
        subscriber (a test's way of making the camera report something)."""
        self.pending.append((topic, item, value, operation))
        self._arrived.set()

    async def pull(self, wait_s: float) -> list[tuple[str, str, str, str]]:
        """PullMessages: what is pending, waiting up to `wait_s` for something."""
        if not self.pending:
            self._arrived.clear()
            try:
                async with asyncio.timeout(wait_s):
                    await self._arrived.wait()
            except TimeoutError:
                pass
        out, self.pending[:] = list(self.pending), []
        return out

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.clock_offset_s)


def _fault(reason: str, subcode: str = "ter:NotAuthorized") -> web.Response:
    body = ("<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>"
            f"{subcode}</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en\">"
            f"{reason}</s:Text></s:Reason></s:Fault>")
    return web.Response(text=ENVELOPE.format(body=body), status=400,
                        content_type="application/soap+xml")


def _authorized(device: Device, request_xml: str) -> bool:
    def tag(name: str) -> str | None:
        m = re.search(rf"<(?:[\w-]+:)?{name}[^>]*>([^<]*)</", request_xml)
        return m.group(1) if m else None

    user, digest, nonce, created = (tag(n) for n in ("Username", "Password", "Nonce", "Created"))
    if not (user and digest and nonce and created) or user != device.username:
        return False
    stamp = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    if abs((stamp - device.now()).total_seconds()) > 300:
        return False  # outside the device's time window: its clock against ours
    expected = base64.b64encode(hashlib.sha1(
        base64.b64decode(nonce) + created.encode() + device.password.encode()).digest()).decode()
    return digest == expected


def _services(base: str, device: Device) -> str:
    entries = [("tds", "device"), ("trt", "media")]
    if device.ptz:
        entries.append(("tptz", "ptz"))
    if device.search:
        entries.append(("tse", "search"))
    if device.events:
        entries.append(("tev", "events"))
    return "".join(
        f"<tds:Service><tds:Namespace>{NS[p]}</tds:Namespace><tds:XAddr>{base}/onvif/{name}"
        "</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version>"
        "</tds:Service>" for p, name in entries)


def _answer(device: Device, action: str, base: str, request_xml: str = "") -> str:
    now = device.now()
    if action == "GetSystemDateAndTime":
        return ("<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
                "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false"
                "</tt:DaylightSavings><tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone>"
                f"<tt:UTCDateTime><tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}"
                f"</tt:Minute><tt:Second>{now.second}</tt:Second></tt:Time><tt:Date><tt:Year>"
                f"{now.year}</tt:Year><tt:Month>{now.month}</tt:Month><tt:Day>{now.day}</tt:Day>"
                "</tt:Date></tt:UTCDateTime></tds:SystemDateAndTime>"
                "</tds:GetSystemDateAndTimeResponse>")
    if action == "GetServices":
        return f"<tds:GetServicesResponse>{_services(base, device)}</tds:GetServicesResponse>"
    if action == "GetDeviceInformation":
        return (f"<tds:GetDeviceInformationResponse><tds:Manufacturer>{device.manufacturer}"
                f"</tds:Manufacturer><tds:Model>{device.model}</tds:Model><tds:FirmwareVersion>"
                f"{device.firmware}</tds:FirmwareVersion><tds:SerialNumber>{device.serial}"
                "</tds:SerialNumber><tds:HardwareId>88</tds:HardwareId>"
                "</tds:GetDeviceInformationResponse>")
    if action == "GetProfiles":
        ptz = ('<tt:PTZConfiguration token="ptz0"><tt:Name>PTZ</tt:Name><tt:UseCount>1'
               '</tt:UseCount><tt:NodeToken>node0</tt:NodeToken></tt:PTZConfiguration>'
               if device.ptz else "")
        def profile(token: str, name: str, width: int, height: int) -> str:
            encoder = (f'<tt:VideoEncoderConfiguration token="venc_{token}"><tt:Name>{token}'
                       "</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>"
                       f"<tt:Resolution><tt:Width>{width}</tt:Width><tt:Height>{height}"
                       "</tt:Height></tt:Resolution><tt:Quality>3</tt:Quality>"
                       "</tt:VideoEncoderConfiguration>")
            return (f'<trt:Profiles token="{token}" fixed="true"><tt:Name>{name}</tt:Name>'
                    f"{encoder}{ptz}</trt:Profiles>")
        subs = profile("Profile_2", "subStream", 640, 360) if device.sub_rtsp_uri else ""
        return ("<trt:GetProfilesResponse>" + profile("Profile_1", "mainStream", 1920, 1080)
                + subs + "</trt:GetProfilesResponse>")
    if action == "GetStreamUri":
        uri = device.sub_rtsp_uri if "Profile_2" in request_xml and device.sub_rtsp_uri \
            else device.rtsp_uri
        return (f"<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{uri}</tt:Uri>"
                "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>"
                "false</tt:InvalidAfterReboot><tt:Timeout>PT60S</tt:Timeout></trt:MediaUri>"
                "</trt:GetStreamUriResponse>")
    if action == "GetStatus":
        return ("<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>"
                f'<tt:PanTilt x="{device.pan}" y="{device.tilt}" space="http://www.onvif.org/ver10/tptz/'
                'PanTiltSpaces/PositionGenericSpace"/><tt:Zoom x="0.1" space="http://www.onvif.'
                'org/ver10/tptz/ZoomSpaces/PositionGenericSpace"/></tt:Position><tt:MoveStatus>'
                "<tt:PanTilt>IDLE</tt:PanTilt><tt:Zoom>IDLE</tt:Zoom></tt:MoveStatus>"
                f"<tt:Error>{device.ptz_error}</tt:Error><tt:UtcTime>"
                f"{now.strftime('%Y-%m-%dT%H:%M:%SZ')}</tt:UtcTime></tptz:PTZStatus>"
                "</tptz:GetStatusResponse>")
    if action in ("RelativeMove", "AbsoluteMove"):
        raise NotImplementedError  # handled with the request body, in `soap`
    if action == "GetRecordingSummary":
        last = device.last_recording
        if device.recording_lag_s is not None:
            last = now - dt.timedelta(seconds=device.recording_lag_s)
        until = f"<tt:DataUntil>{last.strftime('%Y-%m-%dT%H:%M:%SZ')}</tt:DataUntil>" if last \
            else ""
        return ("<tse:GetRecordingSummaryResponse><tse:Summary><tt:DataFrom>"
                f"2026-01-01T00:00:00Z</tt:DataFrom>{until}<tt:NumberRecordings>"
                f"{1 if last else 0}</tt:NumberRecordings></tse:Summary>"
                "</tse:GetRecordingSummaryResponse>")
    raise LookupError(action)


EVENT_ACTIONS = ("CreatePullPointSubscription", "PullMessages", "Renew", "Unsubscribe",
                 "SetSynchronizationPoint")


async def _event_answer(device: Device, action: str, base: str, request_xml: str) -> str:
    now = device.now()

    def stamp(t: dt.datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    until = f"<wsnt:TerminationTime>{stamp(now + dt.timedelta(seconds=60))}</wsnt:TerminationTime>"
    current = f"<wsnt:CurrentTime>{stamp(now)}</wsnt:CurrentTime>"
    if action == "CreatePullPointSubscription":
        device.subscriptions += 1
        return ("<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
                f"<wsa:Address>{base}/onvif/pullpoint</wsa:Address></tev:SubscriptionReference>"
                f"{current}{until}</tev:CreatePullPointSubscriptionResponse>")
    if action == "PullMessages":
        m = re.search(r"Timeout>PT(?:(\d+)M)?([\d.]+)S<", request_xml)
        wait = (int(m.group(1) or 0) * 60 + float(m.group(2))) if m else 10.0
        messages = "".join(
            "<wsnt:NotificationMessage><wsnt:Topic Dialect=\"http://www.onvif.org/ver10/tev/"
            f"topicExpression/ConcreteSet\">{topic}</wsnt:Topic><wsnt:Message>"
            f'<tt:Message UtcTime="{stamp(now)}" PropertyOperation="{operation}"><tt:Source>'
            '<tt:SimpleItem Name="VideoSourceConfigurationToken" Value="VideoSource_1"/>'
            f'</tt:Source><tt:Data><tt:SimpleItem Name="{item}" Value="{value}"/></tt:Data>'
            "</tt:Message></wsnt:Message></wsnt:NotificationMessage>"
            for topic, item, value, operation in await device.pull(min(wait, 5.0)))
        return (f"<tev:PullMessagesResponse><tev:CurrentTime>{stamp(now)}</tev:CurrentTime>"
                f"<tev:TerminationTime>{stamp(now + dt.timedelta(seconds=60))}"
                f"</tev:TerminationTime>{messages}</tev:PullMessagesResponse>")
    if action == "Renew":
        return f"<wsnt:RenewResponse>{until}{current}</wsnt:RenewResponse>"
    if action == "Unsubscribe":
        return "<wsnt:UnsubscribeResponse/>"
    return "<tev:SetSynchronizationPointResponse/>"


XXE = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/hostname">]>'
       '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
       '<x>&secret;</x></s:Body></s:Envelope>')


def onvif_app(device: Device) -> web.Application:
    """The emulated device's HTTP application."""

    async def soap(request: web.Request) -> web.StreamResponse:
        text = await request.text()
        m = re.search(r"<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)", text)
        action = m.group(1) if m else "?"
        device.calls.append(action)
        if device.mode != "normal" and action != "GetSystemDateAndTime":
            return await _hostile(request, device.mode)
        if (action != "GetSystemDateAndTime" or device.auth_for_clock) \
                and not _authorized(device, text):
            return _fault("Sender not authorized")
        if action in device.broken:
            return web.Response(text=device.broken[action], status=200,
                                content_type="application/soap+xml")
        base = f"http://{request.host}"
        if action in ("RelativeMove", "AbsoluteMove"):
            m = re.search(r'PanTilt[^>]*\bx="([-0-9.eE]+)"[^>]*\by="([-0-9.eE]+)"', text)
            if m and not device.ptz_stuck:
                x, y = float(m.group(1)), float(m.group(2))
                if action == "RelativeMove":
                    device.pan, device.tilt = device.pan + x, device.tilt + y
                else:
                    device.pan, device.tilt = x, y
            return web.Response(text=ENVELOPE.format(body=f"<tptz:{action}Response/>"),
                                content_type="application/soap+xml")
        if action in EVENT_ACTIONS and device.events:
            body = await _event_answer(device, action, base, text)
            return web.Response(text=ENVELOPE.format(body=body),
                                content_type="application/soap+xml")
        try:
            body = _answer(device, action, base, text)
        except LookupError:
            return _fault(f"Action not supported: {action}", "ter:ActionNotSupported")
        return web.Response(text=ENVELOPE.format(body=body),
                            content_type="application/soap+xml")

    app = web.Application()
    app.router.add_post("/onvif/{service}", soap)
    return app


async def _hostile(request: web.Request, mode: str) -> web.StreamResponse:
    if mode == "garbage":
        return web.Response(text="<html><body>Not SOAP at all", content_type="text/xml")
    if mode == "xxe":
        return web.Response(text=XXE, content_type="application/soap+xml")
    response = web.StreamResponse(headers={"Content-Type": "application/soap+xml"})
    await response.prepare(request)
    if mode == "huge":
        await response.write(b"<?xml version='1.0'?><s:Envelope xmlns:s='x'><s:Body><a>")
        for _ in range(1600):  # 100 MB
            await response.write(b"y" * 65536)
    elif mode == "drip":
        for byte in ENVELOPE.encode():
            await response.write(bytes([byte]))
            await asyncio.sleep(1)
    return response


def main() -> None:
    """Serve one emulated device (benchmark, demo and tests)."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m demo.peers.onvif_device")
    parser.add_argument("port", type=int)
    parser.add_argument("rtsp_uri", nargs="?", default=Device.rtsp_uri)
    parser.add_argument("address", nargs="?", default="127.0.0.1")
    parser.add_argument("--dvr", action="store_true",
                        help="a DVR: no PTZ, a search service that reports recordings")
    parser.add_argument("--recording-lag", type=float, default=30.0, metavar="SECONDS",
                        help="--dvr: the newest recorded data is this old (default 30)")
    parser.add_argument("--password", default=Device.password)
    args = parser.parse_args()
    device = Device(rtsp_uri=args.rtsp_uri, password=args.password)
    if args.dvr:
        device.ptz, device.search, device.recording_lag_s = False, True, args.recording_lag
        device.model, device.serial = "DS-7816N-K2", "DS-7816N-K21620190923CCRRD12345678"
    web.run_app(onvif_app(device), host=args.address, port=args.port, access_log=None,
                print=lambda *_: print("ready", flush=True))


if __name__ == "__main__":
    main()
