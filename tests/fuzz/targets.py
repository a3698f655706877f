"""Every parser that reads outside input, as a fuzz target: its seeds (valid inputs as a
peer or an operator writes them) and the errors it promises.  Anything else it raises is
a crash."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from tests.fuzz.engine import Target

REPO = Path(__file__).resolve().parents[2]


def _remove(folder: Path) -> None:
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()


def _file_target(name: str, seeds: list[bytes], load: Callable[[Path], Any],
                 clean: tuple[type[BaseException], ...], suffix: str) -> Target:
    """A parser that reads a file: each case is written to a temporary file first."""
    folder = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    path = folder / f"input{suffix}"

    def run(data: bytes) -> Any:
        path.write_bytes(data)
        return load(path)

    def teardown() -> None:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()

    return Target(name, seeds, run, clean, teardown=teardown)


def inventory() -> Target:
    from monitor.inventory import InventoryError
    from monitor.inventory.loader import parse_inventory
    seeds = [(REPO / "inventory.yaml").read_bytes()]
    seeds += [p.read_bytes() for p in sorted((REPO / "tests/inventory/invalid").glob("*.yaml"))]
    where = REPO / "inventory.yaml"

    def run(data: bytes) -> Any:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None  # load_inventory refuses it before parsing (tested apart)
        return parse_inventory(text, where, {}, secrets=False)  # secrets: tests/inventory

    return Target("inventory.yaml", seeds, run, (InventoryError,))


def settings() -> Target:
    from monitor.settings import SettingsError, load_settings
    seeds = [b'inventory = "/etc/monitor/inventory.yaml"\nlanguage = "zh"\nresolve_after = "5m"\n'
             b'http_listen = "0.0.0.0:9109"\nmetrics_listen = "127.0.0.1:9108"\n'
             b'[alerts]\nlink_secret = "env:LINK"\nrate_limit = 20\ngather = "5s"\n'
             b'[alerts.email]\nhost = "mail.example.cn"\nport = 587\nsecurity = "starttls"\n'
             b'sender = "sv@example.cn"\n[sla]\ntimezone = "Asia/Shanghai"\n'
             b'[sla.onsite]\nqingdao = "1h"\n[mqtt]\nhost = "127.0.0.1"\n',
             b'[faults]\ncameras_down_ratio = 0.3\n[sla.acknowledge]\n1 = "15m"\n']
    return _file_target("settings (TOML)", seeds, load_settings, (SettingsError,), ".toml")


def roster() -> Target:
    from alerts.roster import RosterError, load_roster
    seeds = [(REPO / "tests/alerts/roster.yaml").read_bytes(),
             b"timezone: Asia/Shanghai\npeople:\n  wang: {name: W, email: w@example.cn}\n"
             b"resident: {person: wang, start: 08:30, end: 17:00}\n"
             b"rota: {people: [wang], since: 2026-11-30, period: 7d}\nsupervisors: [wang]\n"]
    return _file_target("roster.yaml", seeds, load_roster, (RosterError,), ".yaml")


def holidays() -> Target:
    from monitor.tickets.calendar import HolidaysError, load_holidays
    seeds = [(REPO / "monitor/tickets/holidays.example.yaml").read_bytes(),
             (REPO / "tests/monitor/holidays/test-2027.yaml").read_bytes()]
    return _file_target("holidays.yaml", seeds, load_holidays, (HolidaysError,), ".yaml")


def snmp_ber() -> Target:
    from probes.snmp import ber
    from tests.probes.test_snmp_ber import SAMPLE
    seeds = [SAMPLE]
    return Target("SNMP v1/v2c reply (BER)", seeds, ber.decode_message, (ber.MalformedMessage,))


SDP = (b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=Media\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n"
       b"a=rtpmap:96 H264/90000\r\na=framesize:96 1920-1080\r\na=x-dimensions:1920,1080\r\n"
       b"a=cliprect:0,0,1080,1920\r\nm=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
       b"a=control:trackID=2\r\n")
class Logged(Exception):
    """The parser stayed up but logged (a traceback per datagram is a flood)."""


def snmp_v3() -> Target:
    """v3 datagrams into pysnmp's receive path as the daemon guards it (V3Client): an
    exception escaping it, or anything logged, is a crash; a datagram pysnmp trips over
    and the guard drops is a clean error."""
    import logging

    from probes.snmp import ber
    from probes.snmp.client import Agent
    from probes.snmp.usm import Usm
    from probes.snmp.v3 import V3Client
    from tests.probes.test_snmp import PYSNMP_TRIPS
    state: dict[str, Any] = {}
    seeds: list[bytes] = [PYSNMP_TRIPS]

    class Records(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            state["logged"] = record.getMessage()

    async def setup() -> None:
        loop = asyncio.get_running_loop()
        got: list[bytes] = []

        class Catch(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                got.append(data)

        transport, _ = await loop.create_datagram_endpoint(Catch, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        client = V3Client()
        for priv in (None, "AES"):  # a discovery request, authNoPriv and authPriv
            agent = Agent("127.0.0.1", port, version=3, timeout_s=0.1, retries=0,
                          usm=Usm("u", "SHA", "auth-pass-1", priv, priv and "priv-pass-1"))
            with contextlib.suppress(Exception):
                await client.get(agent, [ber.encode_oid((1, 3, 6, 1, 2, 1, 1, 3, 0))],
                                 loop.time() + 0.3)
        transport.close()
        seeds[:0] = got  # the real messages first
        from pysnmp.carrier.asyncio.dgram import udp
        state.update(client=client, domain=udp.DOMAIN_NAME, handler=Records(logging.WARNING),
                     usm=Usm("u", "SHA", "auth-pass-1", "AES", "priv-pass-1"))
        logging.getLogger().addHandler(state["handler"])

    async def teardown() -> None:
        logging.getLogger().removeHandler(state["handler"])
        state["client"].close()

    async def run(data: bytes) -> None:
        client = state["client"]
        before = client.garbage_total
        state.pop("logged", None)
        engine = client.engine(state["usm"])
        engine.message_dispatcher.receive_message(engine, state["domain"],
                                                  ("127.0.0.1", 161), data)
        await asyncio.sleep(0)
        if "logged" in state:
            raise Logged(state["logged"][:300])
        if client.garbage_total > before:
            raise ber.MalformedMessage("pysnmp tripped; the guard dropped it")

    from probes.snmp import ber as ber_module
    return Target("SNMPv3 reply (pysnmp, guarded)", seeds, run,
                  (ber_module.MalformedMessage,), setup=setup, teardown=teardown)


RTSP_REPLIES = [
    b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n",
    b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Digest realm=\"IP Camera\", "
    b"nonce=\"0a1b2c3d\", qop=\"auth\", opaque=\"x\"\r\nWWW-Authenticate: Basic realm=\"c\""
    b"\r\n\r\n",
    b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Type: application/sdp\r\nContent-Length: "
    + str(len(SDP)).encode() + b"\r\n\r\n" + SDP,
]


def rtsp() -> Target:
    from probes.video.rtsp import Authenticator, RtspConnection, RtspError, parse_sdp

    async def run(data: bytes) -> None:
        reader = asyncio.StreamReader(limit=16 * 1024)
        reader.feed_data(data)
        reader.feed_eof()
        conn = RtspConnection(reader, None, Authenticator("admin", "pw"))  # type: ignore[arg-type]
        response = await conn._read()
        if conn.auth is not None and conn.auth.accept(response):
            conn.auth.header("DESCRIBE", "rtsp://192.0.2.1/stream")
        if response.body:
            parse_sdp(response.body.decode("utf-8", "replace"))

    return Target("RTSP reply + SDP", RTSP_REPLIES, run, (RtspError,))


ONVIF_NS = ('xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
            'xmlns:tt="http://www.onvif.org/ver10/schema" '
            'xmlns:ter="http://www.onvif.org/ver10/error"')
ONVIF_REPLIES = {
    "GetDeviceInformation": (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {ONVIF_NS}><s:Body>'
        "<tds:GetDeviceInformationResponse><tds:Manufacturer>HIKVISION</tds:Manufacturer>"
        "<tds:Model>DS-2CD2T47G2</tds:Model><tds:FirmwareVersion>V5.7.3</tds:FirmwareVersion>"
        "<tds:SerialNumber>DS-2CD0001</tds:SerialNumber><tds:HardwareId>88</tds:HardwareId>"
        "</tds:GetDeviceInformationResponse></s:Body></s:Envelope>").encode(),
    "GetSystemDateAndTime": (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {ONVIF_NS}><s:Body>'
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        "<tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone><tt:UTCDateTime><tt:Time>"
        "<tt:Hour>3</tt:Hour><tt:Minute>4</tt:Minute><tt:Second>5</tt:Second></tt:Time>"
        "<tt:Date><tt:Year>2026</tt:Year><tt:Month>12</tt:Month><tt:Day>4</tt:Day></tt:Date>"
        "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        "</s:Body></s:Envelope>").encode(),
    "Fault": (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {ONVIF_NS}><s:Body><s:Fault>'
        "<s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized</s:Value>"
        "</s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en\">Sender not Authorized"
        "</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>").encode(),
}


class OnvifMapped(Exception):
    """The probe turned the reply into a result (the clean outcome)."""


def onvif() -> Target:
    """A device service reply through zeep with the settings onvif-zeep-async uses, then
    through the probe's own reading and error mapping (`probes.onvif.failure`)."""
    import onvif as onvif_package
    import zeep
    from onvif.settings import DEFAULT_SETTINGS

    from probes.onvif import OnvifFailure, _camera_time, failure
    wsdl = Path(onvif_package.__file__).parent / "wsdl" / "devicemgmt.wsdl"
    client = zeep.Client(str(wsdl), settings=DEFAULT_SETTINGS)
    service = client.create_service("{http://www.onvif.org/ver10/device/wsdl}DeviceBinding",
                                    "http://192.0.2.1/onvif/device_service")
    binding = service._binding
    ops = {name: binding.get(name) for name in ("GetDeviceInformation", "GetSystemDateAndTime")}

    class Reply:
        status_code = 200
        headers: ClassVar[dict[str, str]] = {
            "Content-Type": "application/soap+xml; charset=utf-8"}
        encoding = "utf-8"

        def __init__(self, content: bytes) -> None:
            self.content = content

    def run(data: bytes) -> None:
        name = "GetSystemDateAndTime" if b"DateAndTime" in data[:400] else \
            "GetDeviceInformation"
        try:
            answer = binding.process_reply(client, ops[name], Reply(data))
            if name == "GetSystemDateAndTime":
                _camera_time(answer)
        except OnvifFailure as exc:
            raise OnvifMapped from exc
        except Exception as exc:  # the probe maps these, or re-raises: a crash
            failure(exc, "192.0.2.1:80", None)
            raise OnvifMapped from exc

    return Target("ONVIF SOAP reply", list(ONVIF_REPLIES.values()), run, (OnvifMapped,))


class HttpCrash(Exception):
    """The daemon answered 500: a handler raised."""


def http() -> Target:
    """Raw requests to the daemon's guarded listener serving the ack pages (on a SQLite
    store with one ticket): any answer but a 5xx, or a closed connection, is clean."""
    import datetime as dt

    from aiohttp import web

    from alerts.links import make_token
    from alerts.web import routes
    from monitor.faults.levels import FaultLevel
    from monitor.httpd import Listener
    from monitor.store.store import Store
    from monitor.tickets.store import FaultTicket, TicketStore
    from tests.conftest import free_port

    folder = Path(tempfile.mkdtemp(prefix="fuzz-http-"))
    state: dict[str, Any] = {}
    secret = b"k" * 32
    token = make_token(secret, 1, 0, "li", 10**8, now=0)
    seeds = [f"GET /a/{token}/li HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
             f"POST /a/{token}/li HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n".encode(),
             b"GET /a/AAAA/li HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
             b"POST /a/x/%E4%B8%AD HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"5\r\nhello\r\n0\r\n\r\n",
             b"GET /metrics HTTP/1.0\r\n\r\n"]

    async def setup() -> None:
        store = await Store.open(f"sqlite+aiosqlite:///{folder / 'm.db'}")
        tickets = TicketStore(store)
        fault = FaultTicket("device:cam", FaultLevel.MINOR, "qd", "cam", "t", "", ("cam",), "")
        await tickets.open_fault(fault, dt.datetime.now(dt.UTC))

        def app(a: web.Application) -> None:
            a.add_routes(routes(tickets, secret))

        listener = Listener("http", app, f"127.0.0.1:{free_port()}", max_connections=64,
                            header_timeout_s=2)
        await listener.start()
        state.update(store=store, listener=listener)

    async def teardown() -> None:
        await state["listener"].close()
        await state["store"].close()
        _remove(folder)

    async def run(data: bytes) -> None:
        host, port = state["listener"].address.rsplit(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(data)
            writer.write_eof()
            answer = await reader.read(1 << 20)
        except ConnectionError:
            return
        finally:
            writer.close()
        if b" 500 " in answer.split(b"\r\n", 1)[0] or b"HTTP/1.1 500" in answer:
            raise HttpCrash(answer[:300].decode("latin-1"))

    return Target("HTTP request to the daemon", seeds, run, (), setup=setup,
                  teardown=teardown)


def mqtt() -> Target:
    """Acknowledgement payloads on <prefix>/ack: every one is answered (ok or refused with
    a reason); none may raise."""
    import datetime as dt

    from alerts.links import make_person_token, make_token
    from alerts.mqtt import MqttBridge
    from monitor.faults.levels import FaultLevel
    from monitor.store.store import Store
    from monitor.tickets.store import FaultTicket, TicketStore

    folder = Path(tempfile.mkdtemp(prefix="fuzz-mqtt-"))
    state: dict[str, Any] = {}
    secret = b"k" * 32
    link = make_token(secret, 1, 0, "li", 10**8, now=0)
    person = make_person_token(secret, "li", 10**8, now=0)
    seeds = [f'{{"number": "SV20261204-0001", "by": "li", "token": "{link}"}}'.encode(),
             f'{{"number": "SV20261204-0001", "by": "li", "token": "{person}", '
             '"note": "到场"}'.encode(),
             b'{"number": "SV20261204-0001", "by": "li"}', b'{"number": 5, "by": ["x"]}',
             b"[]", b"null", b'"x"']

    async def setup() -> None:
        store = await Store.open(f"sqlite+aiosqlite:///{folder / 'm.db'}")
        tickets = TicketStore(store)
        fault = FaultTicket("device:cam", FaultLevel.MINOR, "qd", "cam", "t", "", ("cam",), "")
        await tickets.open_fault(fault, dt.datetime(2026, 12, 4, tzinfo=dt.UTC))
        state.update(store=store, bridge=MqttBridge("127.0.0.1", 1, tickets, dict,
                                                    secret=secret))

    async def teardown() -> None:
        await state["store"].close()
        _remove(folder)

    async def run(data: bytes) -> None:
        result = await state["bridge"].ack(data)
        assert isinstance(result, dict) and "ok" in result

    return Target("MQTT ack payload", seeds, run, (), setup=setup, teardown=teardown)


TARGETS: dict[str, Callable[[], Target]] = {
    "inventory": inventory, "settings": settings, "roster": roster, "holidays": holidays,
    "snmp": snmp_ber, "snmp_v3": snmp_v3, "rtsp": rtsp, "onvif": onvif, "http": http, "mqtt": mqtt,
}
os.environ.setdefault("LINK", "x")
