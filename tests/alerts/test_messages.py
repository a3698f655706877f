"""What the engineer reads: what failed, where (the Chinese site name), the next
deadline and the ticket's page in mail; and an SMS that always fits one message."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.messages import Notice, render

ZONE = ZoneInfo("Asia/Shanghai")
SINCE = dt.datetime(2026, 12, 5, 2, 3, tzinfo=dt.UTC)
LINK = "http://10.1.1.5:9108/a/" + "x" * 43 + "/zhang"  # as long as a real ack link
NOTICE = Notice("opened", "SV20261205-0007", 3, "qd-port", "qd-cam07",
                "摄像机无视频：码头摄像机 (黑屏) (qd-cam07)", SINCE, LINK,
                site_name="前湾港监控室", failed="qd-cam07/video: down black_screen — mean "
                "luma 3.1 of 255 over 5 frames (baseline 118)", due_clock="acknowledge",
                due_at=SINCE + dt.timedelta(hours=1),
                page="http://10.1.1.5:9108/ui/tickets/SV20261205-0007")


def test_the_mail_says_what_failed_where_the_next_deadline_and_links_the_ticket() -> None:
    mail = render(NOTICE, "zh", ZONE)
    assert mail.subject == "[三级]故障 SV20261205-0007 摄像机无视频：码头摄像机 (黑屏) (qd-cam07)"
    lines = mail.text.splitlines()
    assert "站点: 前湾港监控室/qd-cam07 (qd-port)" in lines
    assert "故障详情: qd-cam07/video: down black_screen — mean luma 3.1 of 255 over 5 frames " \
           "(baseline 118)" in lines
    assert "下一期限: 响应期限 11:03" in lines  # local time: 10:03 + 1 h
    assert "工单: http://10.1.1.5:9108/ui/tickets/SV20261205-0007" in lines
    assert f"确认：{LINK}" in lines
    english = render(NOTICE, "en", ZONE).text
    assert "Next deadline: acknowledge due 11:03" in english and "What failed: " in english


def test_the_sms_fits_one_message_with_the_deadline_when_there_is_room() -> None:
    sms = render(NOTICE, "zh", ZONE).sms
    assert len(sms) <= 140, (len(sms), sms)
    assert sms.startswith("[三级]故障前湾港监控室/qd-cam07 ")
    assert sms.endswith(f" 10:03 响应期限 11:03 SV20261205-0007 {LINK}")


def test_a_resolved_message_names_no_deadline() -> None:
    text = render(Notice("resolved", NOTICE.number, 3, "qd-port", "qd-cam07", NOTICE.title,
                         SINCE, LINK, site_name="前湾港监控室", due_clock="repair",
                         due_at=SINCE), "zh", ZONE).text
    assert "期限" not in text and "确认" not in text


@settings(max_examples=300, deadline=None)
@given(title=st.text(min_size=1, max_size=200), site=st.text(min_size=1, max_size=60),
       device=st.text(min_size=1, max_size=64), level=st.sampled_from([1, 2, 3, 4]),
       kind=st.sampled_from(["opened", "raised", "escalation", "reminder", "sla_breach"]),
       limit=st.sampled_from([70, 140]))
def test_every_sms_fits_and_keeps_the_number_and_the_link(
        title: str, site: str, device: str, level: int, kind: str, limit: int) -> None:
    notice = Notice(kind, "SV20261205-0007", level, "s", device, title, SINCE, LINK,
                    detail="repair", site_name=site, due_clock="repair",
                    due_at=SINCE + dt.timedelta(days=5))
    sms = render(notice, "zh", ZONE, limit).sms
    if len(f"[一级]故障… 10:03 SV20261205-0007 {LINK}") <= limit:
        assert len(sms) <= limit, (len(sms), sms)
    assert "SV20261205-0007" in sms and LINK in sms
