"""`monitor tickets` and `monitor report` against a store with history in it."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.events import CheckKey, StateChanged
from monitor.faults.levels import FaultLevel
from monitor.state import CheckState
from monitor.store.store import Store
from monitor.tickets.store import FaultTicket, TicketStore
from monitor.vocab import Status
from probes.result import ProbeResult

UTC = dt.UTC


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))


async def fill(url: str) -> list[str]:
    store = await Store.open(url)
    tickets = TicketStore(store)
    numbers = []
    for key, level, opened in (("device:cam07", FaultLevel.MINOR, "2026-11-10 09:00"),
                               ("device:sw-up", FaultLevel.MAJOR, "2026-11-20 15:00")):
        fault = FaultTicket(key, level, "qd-room", key.split(":")[1], f"故障 {key}", "",
                            (key.split(":")[1],), "qingdao")
        numbers.append((await tickets.open_fault(fault, when(opened))).number)
    # The first: acknowledged in 10 min, solution late (3 h), on site, resolved.
    t0 = when("2026-11-10 09:00")
    await tickets.act(numbers[0], "ack", "wang", now=t0 + dt.timedelta(minutes=10))
    await tickets.act(numbers[0], "onsite", "wang", now=t0 + dt.timedelta(minutes=50))
    await tickets.breaches(t0 + dt.timedelta(hours=2, minutes=1))
    await tickets.act(numbers[0], "solution", "wang", now=t0 + dt.timedelta(hours=3))
    await tickets.act(numbers[0], "resolve", "wang", "换电源", t0 + dt.timedelta(hours=4))
    # cam07 was down for 3 hours of November.
    result = ProbeResult(Status.DOWN, "timeout")
    for at, old, new in (("2026-11-10 09:00", CheckState.UP, CheckState.DOWN),
                         ("2026-11-10 12:00", CheckState.DOWN, CheckState.UP)):
        event = StateChanged(CheckKey("cam07", "video"), "video", "camera", "qd-room", old, new,
                             when(at).timestamp(), result, False)
        await store.record([event], [])
    event = StateChanged(CheckKey("sw-up", "icmp"), "icmp", "switch", "qd-room",
                         CheckState.UNKNOWN, CheckState.UP, when("2026-11-01 00:00").timestamp(),
                         ProbeResult.ok(), False)
    await store.record([event], [])
    # The daemon ran all of November but for the afternoon of the 25th (an upgrade).
    for start, end in (("2026-10-31 12:00", "2026-11-25 13:00"),
                       ("2026-11-25 19:00", "2026-12-01 08:00")):
        run = await store.run_started("host", 1, when(start))
        await store.run_seen(run, when(end), stopped=True)
    await store.close()
    return numbers


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    monkeypatch.setenv("MONITOR_DATABASE_URL", url)
    return asyncio.run(fill(url))


def test_list_show_and_act(database: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    first, second = database
    assert main(["tickets", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["编号", "级别", "状态"]
    assert len(out) == 2 and second in out[1] and "二级" in out[1] and "待处理" in out[1]
    assert main(["tickets", "list", "--state", "all", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [t["number"] for t in listed] == [second, first]
    assert listed[1]["state"] == "resolved"

    assert main(["tickets", "ack", second, "--by", "li", "--note", "已派单"]) == 0
    card = capsys.readouterr().out
    assert "状态: 已确认" in card and "li ack — 已派单" in card and "工程师: li" in card
    assert main(["tickets", "close", first]) == 1
    assert "customer's confirmation" in capsys.readouterr().err
    assert main(["tickets", "close", first, "--confirmation", "客户确认"]) == 0
    assert "状态: 已关闭" in capsys.readouterr().out
    assert main(["tickets", "ack", "SV19990101-0001"]) == 1
    with pytest.raises(SystemExit):
        main(["tickets", "ack"])  # a number is needed


def test_english_mode_shows_english_titles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    monkeypatch.setenv("MONITOR_DATABASE_URL", url)

    async def open_one() -> str:
        store = await Store.open(url)
        fault = FaultTicket("device:cam07", FaultLevel.MINOR, "qd-room", "cam07",
                            "视频黑屏：码头摄像机 (cam07)", "", ("cam07",), "qingdao",
                            {"zh": "视频黑屏：码头摄像机 (cam07)",
                             "en": "black picture: 码头摄像机 (cam07)"})
        number = (await TicketStore(store).open_fault(fault, when("2026-12-05 09:00"))).number
        await store.close()
        return number

    number = asyncio.run(open_one())
    for language, title in (("en", "black picture: 码头摄像机 (cam07)"),
                            ("zh", "视频黑屏：码头摄像机 (cam07)")):
        monkeypatch.setenv("MONITOR_LANGUAGE", language)
        assert main(["tickets", "list"]) == 0
        listed = capsys.readouterr().out
        assert title in listed, language
        assert main(["tickets", "show", number]) == 0
        assert title in capsys.readouterr().out


def test_list_filters_and_the_actor_is_a_desk_user(
        database: list[str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The list filters as the console does; once the desk has users, `--by` must be
    one whose role may take the action."""
    first, second = database
    assert main(["tickets", "list", "--state", "all", "--level", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and second in out[1]
    assert main(["tickets", "list", "--state", "all", "--engineer", "wang"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and first in out[1]
    assert main(["tickets", "list", "--state", "all", "--breached"]) == 0
    assert first in capsys.readouterr().out  # its solution clock ran out
    assert main(["tickets", "list", "--state", "all", "--site", "elsewhere"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1  # the header alone
    assert main(["tickets", "list", "--state", "all", "--limit", "1"]) == 0
    assert "1 of 2" in capsys.readouterr().err

    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert main(["users", "add", "li", "--role", "customer", "--customer", "qd",
                 "--password-stdin"]) == 0
    capsys.readouterr()
    assert main(["tickets", "ack", second, "--by", "anyone"]) == 1
    assert "not a service-desk user" in capsys.readouterr().err
    assert main(["tickets", "ack", second, "--by", "li"]) == 1
    assert "li (customer) may not ack a ticket" in capsys.readouterr().err
    assert main(["tickets", "close", first, "--by", "li", "--confirmation", "好"]) == 0


INVENTORY = """
regions: [qingdao]
sites:
  - {id: qd-room, name_zh: 监控室, name_en: Room, region: qingdao, role: monitoring_room}
credentials:
  snmp: {community: "env:NOT_SET_ANYWHERE"}
devices:
  - {id: cam07, name: Cam 7, kind: camera, site: qd-room, address: 192.0.2.7,
     checks: [{kind: icmp}]}
  - {id: sw-up, name: Switch, kind: switch, site: qd-room, address: 192.0.2.1,
     credentials: snmp, checks: [{kind: snmp}]}
  - {id: cam08, name: Cam 8, kind: camera, site: qd-room, address: 192.0.2.8,
     checks: [{kind: icmp}]}
maintenance:
  - {id: cabling, devices: [sw-up], start: "2026-11-20T14:00:00+08:00",
     end: "2026-11-20T16:00:00+08:00", note: 机柜整理}
"""


def test_monthly_report(database: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    """The report over a month with a gap in observation and a maintenance window; the
    inventory's secrets are not needed to write it (and not read)."""
    first, second = database
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    monkeypatch.setenv("MONITOR_INVENTORY", str(tmp_path / "inventory.yaml"))
    asyncio.run(inspect_november(tmp_path / "inventory.yaml"))
    assert main(["report", "--month", "2026-11", "--output", str(tmp_path / "out")]) == 0
    html_path, pdf_path, tickets_csv, avail_csv = (
        Path(p) for p in capsys.readouterr().out.split())
    page = html_path.read_text()
    check_pdf(pdf_path, first)
    assert "视频监控系统运维月度报告 2026年11月" in page
    assert "2小时内提出解决方案 (1.4.1)" in page and first in page
    assert "2026-11-25 13:00</td><td>2026-11-25 19:00" in page  # not observed
    assert "cabling</td><td>sw-up</td><td>2026-11-20 14:00</td><td>2026-11-20 16:00" in page
    # November's inspection and its week-45 routine are in; December's patrol is not
    assert "<td>每月系统巡检</td><td>2026-11</td><td>qd-room</td><td>draft</td>" in page
    assert "<td>每周例行开机</td><td>2026-W45</td>" in page and "<td>巡视</td>" not in page
    with avail_csv.open(encoding="utf-8-sig") as fh:
        rows = {(r["scope"], r["name"]): r for r in csv.DictReader(fh)}
    observed = 30 * 24 - 6  # hours
    cam07 = rows[("device", "cam07")]
    assert float(cam07["availability"]) == pytest.approx(1 - 3 / observed, abs=1e-6)
    assert int(cam07["unknown_s"]) == 6 * 3600
    # the switch: its window is out of the measured time; never observed: cam08
    switch = rows[("device", "sw-up")]
    assert (float(switch["availability"]), int(switch["maintenance_s"])) == (1.0, 2 * 3600)
    assert rows[("device", "cam08")]["availability"] == ""
    assert int(rows[("device", "cam08")]["unknown_s"]) == 30 * 24 * 3600
    assert float(rows[("kind", "camera")]["availability"]) == pytest.approx(
        1 - 3 / observed, abs=1e-6)
    with tickets_csv.open(encoding="utf-8-sig") as fh:
        lines = list(csv.DictReader(fh))
    assert [r["number"] for r in lines] == [first, second]
    assert lines[0]["breached"] == "solution"
    assert main(["report", "--month", "2026-13"]) == 1


async def inspect_november(inventory_path: Path) -> None:
    import os

    from monitor.inventory import load_inventory
    from monitor.records.inspections import Inspections
    from monitor.snapshot import Snapshot
    inventory = load_inventory(inventory_path, secrets=False)
    store = await Store.open(os.environ["MONITOR_DATABASE_URL"])
    log = Inspections(store)
    for kind, period in (("monthly", "2026-11"), ("routine", "2026-W45"),
                         ("patrol", "2026-12-01")):
        await log.start("qd-room", kind, period, inventory, Snapshot(), actor="wang")
    await store.close()


def check_pdf(path: Path, number: str) -> None:
    """The PDF as the customer receives it: its text is there (the Chinese too, so the
    fonts carry their character maps), its fonts are the system's Noto CJK, embedded,
    and its pages render (pdfium) with ink on them."""

    import pypdfium2
    from pypdf import PdfReader
    reader = PdfReader(path)
    text = "".join(page.extract_text() for page in reader.pages)
    assert "视频监控系统运维月度报告 2026年11月" in text and number in text
    assert "用户单位（签字、盖章）" in text  # the signature block
    fonts = {str(f["/BaseFont"]) for page in reader.pages
             for f in page["/Resources"]["/Font"].values()}  # type: ignore[index,union-attr]
    assert any("Noto-Sans-CJK-SC" in f for f in fonts), fonts  # embedded (a subset)
    pdf = pypdfium2.PdfDocument(path)
    try:
        image = pdf[0].render(scale=1.5).to_pil().convert("L")
    finally:
        pdf.close()
    dark = image.histogram()[:128]  # grey levels below half
    dark = sum(dark) / (image.width * image.height)
    assert 0.005 < dark < 0.5, dark  # text on a white page, not blank, not black


def test_monitor_duty(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    roster = Path(__file__).parent / "alerts" / "roster.yaml"
    settings = tmp_path / "monitor.toml"
    settings.write_text(f'inventory = "{tmp_path / "none.yaml"}"\n[alerts]\nroster = "{roster}"\n')
    assert main(["--settings", str(settings), "duty", "--at", "2026-12-04T17:05"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "时间: 2026-12-04 17:05 Fri"
    assert out[1] == "  值班: 李工 (li) — sms, wecom"
    assert out[2].startswith("  升级 1: 王工 (wang)")
    assert out[-1].startswith("  升级 3: 陈经理 (chen)")
    assert main(["--settings", str(settings), "duty", "--at", "2026-12-04T10:00"]) == 0
    assert "(办公时间)" in capsys.readouterr().out.splitlines()[0]
