"""What an alert says: a subject and text for mail and chat, and one SMS.

Chinese by default, English by the person's (or the setting's) language.  Mail and
chat say what failed (the probe's detail, shortened), where (the site's Chinese
name), the deadline that matters next, and link to the ticket's page as well as the
acknowledge link.  An SMS holds the level, site, device, what, since when, the next
deadline, the ticket number and the acknowledge link, in at most `sms_max_chars`
characters (default 140: one long SMS, shown as one message by Chinese phones; 70 is
one UCS-2 segment).  The title is shortened first, then the deadline is left out,
then the site is cut; the number and the link are never cut.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

LEVEL = {"zh": {1: "一级", 2: "二级", 3: "三级", 4: "四级"},
         "en": {1: "L1", 2: "L2", 3: "L3", 4: "L4"}}
KIND = {
    "zh": {"opened": "故障", "reopened": "故障复发", "raised": "故障加重", "resolved": "已恢复",
           "escalation": "升级", "reminder": "提醒", "sla_breach": "超时", "storm": "风暴"},
    "en": {"opened": "FAULT", "reopened": "FAULT AGAIN", "raised": "FAULT WORSE",
           "resolved": "RESOLVED",
           "escalation": "ESCALATED", "reminder": "REMINDER", "sla_breach": "SLA BREACH",
           "storm": "STORM"},
}
FAILED_CHARS = 160  # what failed, in mail and chat
DUE = {"zh": "{clock}期限", "en": "{clock} due"}
CLOCKS = {"zh": {"acknowledge": "响应", "solution": "方案", "onsite": "到场", "repair": "修复"},
          "en": {"acknowledge": "acknowledge", "solution": "solution", "onsite": "on site",
                 "repair": "repair"}}


@dataclass(frozen=True, slots=True)
class Notice:
    """What a message is about."""

    kind: str
    number: str
    level: int | None
    site: str
    device: str | None
    title: str
    since: dt.datetime
    link: str | None = None
    detail: str = ""
    count: int = 1  # a storm digest: how many tickets
    site_name: str = ""  # the site's Chinese name
    failed: str = ""  # what failed: the probe's detail, shortened
    due_clock: str | None = None  # the SLA clock due next, and when
    due_at: dt.datetime | None = None
    page: str | None = None  # the ticket's page in the console


def shorten(text: str, most: int) -> str:
    """`text` on one line, cut to `most` characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= most else line[:most - 1] + "…"


@dataclass(frozen=True, slots=True)
class Message:
    """One message, in the forms the channels need."""

    subject: str
    text: str
    sms: str


def render(notice: Notice, language: str, zone: ZoneInfo, sms_max_chars: int = 140) -> Message:
    """The message for `notice` in `language`."""
    lang = language if language in LEVEL else "zh"
    kind = KIND[lang][notice.kind]
    level = f"[{LEVEL[lang][notice.level]}]" if notice.level else ""
    since = notice.since.astimezone(zone).strftime("%m-%d %H:%M")
    site = notice.site_name or notice.site
    where = f"{site}/{notice.device}" if notice.device else site
    due = ""
    if notice.due_clock and notice.due_at and notice.kind != "resolved":
        due = (DUE[lang].format(clock=CLOCKS[lang].get(notice.due_clock, notice.due_clock))
               + " " + notice.due_at.astimezone(zone).strftime("%H:%M"))
    head = f"{level}{kind}"
    if notice.kind == "storm":
        title = (f"{notice.count} 个新故障，最严重：{notice.title}" if lang == "zh" else
                 f"{notice.count} new faults, worst: {notice.title}")
    elif notice.kind == "sla_breach":
        title = (f"{CLOCKS[lang].get(notice.detail, notice.detail)}期限已过：{notice.title}"
                 if lang == "zh" else
                 f"{CLOCKS[lang].get(notice.detail, notice.detail)} deadline passed: "
                 f"{notice.title}")
    else:
        title = notice.title
    subject = f"{head} {notice.number} {title}"
    ack = ""
    if notice.link and notice.kind not in ("resolved",):
        ack = (f"确认：{notice.link}" if lang == "zh" else f"Acknowledge: {notice.link}")
    zh = lang == "zh"
    place = f"{where} ({notice.site})" if notice.site_name and notice.site_name != notice.site \
        else where
    lines = [subject, f"{'站点' if zh else 'Site'}: {place}",
             f"{'开始' if zh else 'Since'}: {since}"]
    if notice.failed and notice.kind not in ("storm",):
        lines.append(f"{'故障详情' if zh else 'What failed'}: {notice.failed}")
    if notice.detail and notice.kind not in ("sla_breach",):
        lines.append(notice.detail)
    if due:
        lines.append(f"{'下一期限' if zh else 'Next deadline'}: {due}")
    if notice.page:
        lines.append(f"{'工单' if zh else 'Ticket'}: {notice.page}")
    if ack:
        lines.append(ack)
    sms = _sms(head, where, title, due, since[6:], notice.number,
               notice.link if ack else None, sms_max_chars)
    return Message(subject, "\n".join(lines), sms)


def _sms(head: str, where: str, title: str, due: str, since: str, number: str,
         link: str | None, limit: int) -> str:
    end = f" {number}" + (f" {link}" if link else "")
    for extra in ((f" {due}" if due else ""), ""):  # the deadline goes before the site
        tail = f" {since}{extra}{end}"
        text = f"{head}{where} {title}{tail}"
        if len(text) <= limit:
            return text
        room = limit - len(f"{head}{where} …{tail}")
        if room >= 6:  # enough of the title to say what
            return f"{head}{where} {title[:room]}…{tail}"
    tail = f" {since}{end}"
    room = limit - len(f"{head}…{tail}")
    return f"{head}{where[:max(0, room)]}…{tail}"
