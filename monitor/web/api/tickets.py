"""The API's tickets, sites, devices and parts."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Literal

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp_pydantic.oas.typing import r200, r400, r401, r403, r404, r409
from pydantic import BaseModel, Field

from monitor.access.roles import Permission, may_act
from monitor.access.sessions import Principal
from monitor.records.parts import PartsError
from monitor.records.scans import MAX_BYTES, Attachments, Scan, ScanError, close_with_scan
from monitor.tickets.query import TicketQuery, check_changes, search
from monitor.tickets.sla import CLOCKS, DONE_STAMP, clocks_paused
from monitor.tickets.store import ACTIVE, STATES, Action, Ticket, TicketError
from monitor.web.access import multipart_after_csrf, principal, read_bounded, streamed
from monitor.web.api.common import ErrorOut, View, error, json_response
from monitor.web.desk import DESK, Desk, device_status, device_statuses, devices_by_site

ActionName = Literal["ack", "solution", "onsite", "resolve", "close", "reopen", "comment",
                     "pause", "resume"]


class ClockOut(BaseModel):
    """One SLA clock of a ticket."""

    name: Literal["acknowledge", "solution", "onsite", "repair"]
    deadline: dt.datetime
    done_at: dt.datetime | None
    breached: bool


class EventOut(BaseModel):
    """One line of a ticket's timeline: a transition, a comment, a breach, a raise."""

    at: dt.datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    note: str


class CheckChangeOut(BaseModel):
    """One of a ticket's devices' checks changing state (or an event a probe saw)."""

    at: dt.datetime
    device_id: str
    check_name: str
    event: str
    old_state: str | None
    new_state: str | None
    reason: str | None
    detail: str | None


class AttachmentOut(BaseModel):
    """A scan kept with a ticket (``GET /ui/tickets/{number}/attachments/{id}``)."""

    id: int
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: dt.datetime


class TicketOut(BaseModel):
    """A service ticket."""

    number: str
    level: int = Field(ge=1, le=4)
    state: Literal["open", "acknowledged", "onsite", "resolved", "closed"]
    site_id: str
    site_name: str
    region: str
    device_id: str | None
    title: str = Field(description="in the daemon's language")
    titles: dict[str, str] = Field(description="the title in each language: zh, en")
    description: str
    members: list[str]
    opened_at: dt.datetime
    acknowledged_at: dt.datetime | None
    solution_at: dt.datetime | None
    onsite_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    engineer: str | None
    actions_taken: str
    parts_replaced: str
    customer_confirmation: str | None
    clocks: list[ClockOut]
    paused: bool
    reopened: int
    updated_at: dt.datetime
    timeline: list[EventOut] | None = Field(default=None,
                                            description="with one ticket, not in lists")
    checks: list[CheckChangeOut] | None = Field(
        default=None, description="with one ticket: its devices' checks changing state, "
                                  "from ten minutes before it opened")
    attachments: list[AttachmentOut] | None = Field(
        default=None, description="with one ticket: scanned paper records kept with it")


class TicketListOut(BaseModel):
    """A page of tickets, how many match, and the matches by level."""

    items: list[TicketOut]
    total: int
    by_level: dict[str, int]
    offset: int
    limit: int


class ActionIn(BaseModel):
    """An action on a ticket, taken by whoever is logged in."""

    action: ActionName
    note: str = Field(default="", max_length=4000)
    confirmation: str | None = Field(default=None, max_length=4000,
                                     description="close: the customer's words")


class MeOut(BaseModel):
    """Who is logged in, and what they may do and see."""

    name: str
    display_name: str
    role: str
    customer: str | None
    grants: list[str]
    sites: list[str] | None = Field(description="the sites visible; null: all")


class CheckOut(BaseModel):
    """One check of a device, as the core last published it."""

    name: str
    state: Literal["unknown", "up", "warning", "down"]
    since: dt.datetime | None
    reason: str | None
    detail: str | None
    flapping: bool


class DeviceOut(BaseModel):
    """A device of the inventory and the state of its checks."""

    id: str
    name: str
    kind: str
    site_id: str
    address: str
    parent: str | None
    status: Literal["unknown", "up", "warning", "down"] = Field(
        description="the worst of its checks' states")
    checks: list[CheckOut]


class DeviceListOut(BaseModel):
    """Devices, and how many there are in each status."""

    items: list[DeviceOut]
    by_status: dict[str, int]


class SiteOut(BaseModel):
    """A site, with its devices counted and its worst open ticket."""

    id: str
    name_zh: str
    name_en: str
    region: str
    role: str
    parent: str | None
    devices: int
    devices_down: int
    worst_open_level: int | None


class PartOut(BaseModel):
    """A spare part or loaner device, and where it is."""

    id: int
    serial: str
    name: str
    model: str
    state: Literal["stock", "installed", "loaned", "retired"]
    location: str
    updated_at: dt.datetime


class PartIn(BaseModel):
    """A part received into stock."""

    serial: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=128)
    model: str = Field(default="", max_length=128)
    location: str = Field(min_length=1, max_length=128, description="e.g. 济南备件库")
    note: str = Field(default="", max_length=4000)


class MoveIn(BaseModel):
    """A part moved: installed (for a ticket), loaned, returned, retired."""

    kind: Literal["installed", "loaned", "returned", "retired"]
    to: str = Field(min_length=1, max_length=128, description="a device, a site, a store")
    ticket: str | None = Field(default=None, description="the ticket it went into")
    note: str = Field(default="", max_length=4000)


def ticket_out(ticket: Ticket, desk: Desk, timeline: bool = False) -> TicketOut:
    """The API's form of a ticket."""
    deadlines = ticket.deadlines or {}
    breached = set(deadlines.get("breached", []))
    row = ticket.row
    clocks = [ClockOut(name=c, deadline=dt.datetime.fromisoformat(deadlines[c]),
                       done_at=row[DONE_STAMP[c]], breached=c in breached)
              for c in CLOCKS if c in deadlines]
    site = desk.inventory().sites.get(ticket.site_id)
    events = [EventOut(at=a["at"], actor=a["actor"], action=a["action"],
                       from_state=a["from_state"], to_state=a["to_state"], note=a["note"])
              for a in ticket.audit] if timeline else None
    return TicketOut(
        number=ticket.number, level=ticket.level, state=ticket.state,
        site_id=ticket.site_id, site_name=site.name_zh if site else ticket.site_id,
        region=ticket.region, device_id=ticket.device_id, title=ticket.title,
        titles={lang: ticket.title_in(lang) for lang in ("zh", "en")},
        description=ticket.description, members=list(ticket.members),
        opened_at=ticket.opened_at, acknowledged_at=ticket.acknowledged_at,
        solution_at=ticket.solution_at, onsite_at=ticket.onsite_at,
        resolved_at=ticket.resolved_at, closed_at=ticket.closed_at, engineer=ticket.engineer,
        actions_taken=ticket.actions_taken, parts_replaced=ticket.parts_replaced,
        customer_confirmation=ticket.customer_confirmation, clocks=clocks,
        paused=clocks_paused(deadlines), reopened=ticket.reopened,
        updated_at=ticket.updated_at, timeline=events)


class MeView(View):
    """The logged-in user."""

    async def get(self) -> r200[MeOut]:
        """Who is logged in (or whose token this is), with the sites they see."""
        who = self.who
        sites = self.desk.visible_sites(who)
        return json_response(MeOut(name=who.user.name, display_name=who.user.display_name,
                           role=who.user.role.value, customer=who.user.customer,
                           grants=sorted(who.grants),
                           sites=None if sites is None else sorted(sites)))


class TicketsView(View):
    """Tickets, filtered, sorted and paged."""

    async def get(self, state: str = "active", site: str | None = None,
                  region: str | None = None, level: int | None = None,
                  engineer: str | None = None, breached: bool = False,
                  near_minutes: float | None = None, since: dt.datetime | None = None,
                  until: dt.datetime | None = None,
                  sort: Literal["opened", "-opened", "level", "-level", "updated", "-updated",
                                "number", "-number"] = "-opened",
                  offset: int = 0, limit: int = 50) -> r200[TicketListOut] | r400[ErrorOut]:
        """List tickets.  `state`: active (default), all, or one state; `near_minutes`:
        a running clock due within that many minutes."""
        if not self.who.may(Permission.READ):
            return error(403, "this token may not read")
        if state not in ("active", "all", *STATES):
            return error(400, f"state: one of active, all, {', '.join(STATES)}")
        if not 1 <= limit <= 500 or offset < 0:
            return error(400, "limit: 1 to 500; offset: 0 or more")
        states = {"active": ACTIVE, "all": None}.get(state, (state,))
        query = TicketQuery(
            states=states, sites=self.desk.visible_sites(self.who), site=site, region=region,
            level=level, engineer=engineer, breached=breached,
            near=None if near_minutes is None else dt.timedelta(minutes=near_minutes),
            since=since, until=until, sort=sort, offset=offset, limit=limit)
        page = await search(self.desk.tickets.store, query)
        return json_response(TicketListOut(
            items=[ticket_out(t, self.desk) for t in page.items], total=page.total,
            by_level={str(k): v for k, v in sorted(page.by_level.items())},
            offset=offset, limit=limit))


class TicketView(View):
    """One ticket with its timeline."""

    async def get(self, number: str, /) -> r200[TicketOut] | r404[ErrorOut]:
        """A ticket and everything that happened to it."""
        ticket = await self.desk.visible_ticket(self.who, number)
        if ticket is None or not self.who.may(Permission.READ):
            return error(404, f"no ticket {number}")
        out = ticket_out(ticket, self.desk, timeline=True)
        store = self.desk.tickets.store
        out.checks = [CheckChangeOut(**c) for c in await check_changes(
            store, ticket.members or ([ticket.device_id] if ticket.device_id else []),
            ticket.opened_at, ticket.closed_at)]
        out.attachments = [AttachmentOut.model_validate(a, from_attributes=True)
                           for a in await Attachments(store).of(number)]
        return json_response(out)


class TicketActionView(View):
    """Acting on a ticket."""

    async def post(self, number: str, /, body: ActionIn
                   ) -> (r200[TicketOut] | r400[ErrorOut] | r401[ErrorOut] | r403[ErrorOut]
                         | r404[ErrorOut] | r409[ErrorOut]):
        """Take an action as the logged-in user: 403 if the role may not, 409 if the
        ticket's state does not allow it."""
        done = await act(self.desk, self.who, number, body)
        if isinstance(done, Refusal):
            return error(done.status, done.error)
        return json_response(ticket_out(done, self.desk, timeline=True))


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an action was not taken, with its HTTP status."""

    status: int
    error: str


async def act(desk: Desk, who: Principal, number: str, body: ActionIn) -> Ticket | Refusal:
    """Take `body`'s action on ticket `number` as `who` (the API and the console's forms)."""
    ticket = await desk.visible_ticket(who, number)
    if ticket is None:
        return Refusal(404, f"no ticket {number}")
    if not may_act(who.grants, body.action):
        return Refusal(403, f"{who.user.name} ({who.user.role.value}) may not "
                            f"{body.action} a ticket")
    if body.action in ("pause", "resume", "comment") and not body.note.strip():
        return Refusal(400, f"{body.action}: say why (note)")
    confirmation = body.confirmation
    if body.action == "close" and not confirmation:
        confirmation = f"confirmed by {who.user.display_name or who.user.name}"
    action: Action = body.action
    try:
        return await desk.tickets.act(number, action, who.user.name, body.note,
                                      confirmation=confirmation)
    except TicketError as exc:
        return Refusal(409, str(exc))


async def take_scan(desk: Desk, who: Principal, number: str,
                    reader: MultipartReader) -> Ticket:
    """Close ticket `number` on the paper confirmation in the form `reader` streams:
    fields ``signed_by`` and ``note`` and the file ``scan`` (the console and the API)."""
    fields: dict[str, str] = {}
    data, filename = b"", ""
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ScanError("a nested multipart form is not a scan")
        if part.name == "scan":
            filename = part.filename or ""
            data = await read_bounded(part, MAX_BYTES)
        elif part.name:
            fields[part.name] = (await read_bounded(part, 4096)).decode("utf-8", "replace")
    return await close_with_scan(desk.tickets, number, Scan.of(filename, data),
                                 signed_by=fields.get("signed_by", ""), actor=who.user.name,
                                 note=fields.get("note", ""))


def _devices(desk: Desk, sites: frozenset[str] | None) -> list[DeviceOut]:
    checks: dict[str, list[CheckOut]] = {}
    for key, view in desk.snapshot().checks.items():
        checks.setdefault(key.device_id, []).append(CheckOut(
            name=key.check, state=view.state,
            since=None if view.since is None else dt.datetime.fromtimestamp(view.since, dt.UTC),
            reason=view.reason, detail=view.detail, flapping=view.flapping))
    out = []
    for d in desk.inventory().devices.values():
        if sites is not None and d.site not in sites:
            continue
        mine = checks.get(d.id, [])
        out.append(DeviceOut(id=d.id, name=d.name, kind=d.kind.value, site_id=d.site,
                             address=d.address, parent=d.parent, checks=mine,
                             status=device_status([c.state for c in mine])))
    return out


class DevicesView(View):
    """The inventory's devices with their checks' states."""

    async def get(self, site: str | None = None, kind: str | None = None,
                  status: Literal["unknown", "up", "warning", "down"] | None = None
                  ) -> r200[DeviceListOut]:
        """Devices (of a site, a kind, a status), each with its checks' last states."""
        found = _devices(self.desk, self.desk.visible_sites(self.who))
        by_status: dict[str, int] = {}
        for d in found:
            by_status[d.status] = by_status.get(d.status, 0) + 1
        items = [d for d in found if (site is None or d.site_id == site)
                 and (kind is None or d.kind == kind) and (status is None or d.status == status)]
        return json_response(DeviceListOut(items=items, by_status=by_status))


async def site_summaries(desk: Desk, sites: frozenset[str] | None) -> list[SiteOut]:
    """Each site (of `sites`; None: all) with its devices, those down, and its worst
    open ticket."""
    inventory = desk.inventory()
    status = device_statuses(inventory, desk.snapshot())
    await asyncio.sleep(0)  # the loop's other work between the steps of a large estate
    by_site = devices_by_site(inventory)
    worst: dict[str, int] = {}
    for t in await desk.tickets.active_summaries():
        worst[t["site_id"]] = min(worst.get(t["site_id"], 9), t["level"])
    return [SiteOut(id=s.id, name_zh=s.name_zh, name_en=s.name_en, region=s.region,
                    role=s.role.value, parent=s.parent, devices=len(by_site[s.id]),
                    devices_down=sum(status[d.id] == "down" for d in by_site[s.id]),
                    worst_open_level=worst.get(s.id))
            for s in inventory.sites.values() if sites is None or s.id in sites]


class SitesView(View):
    """The sites, each with its devices down and its worst open ticket."""

    async def get(self) -> r200[list[SiteOut]]:
        """Every site the user may see."""
        out = await site_summaries(self.desk, self.desk.visible_sites(self.who))
        return web.Response(text="[" + ",".join(o.model_dump_json() for o in out) + "]",
                            content_type="application/json")


class PartsView(View):
    """The spare parts and loaner log."""

    async def get(self, state: Literal["stock", "installed", "loaned", "retired"] | None = None
                  ) -> r200[list[PartOut]]:
        """Every part (in a state)."""
        if not self.who.may(Permission.WORK):  # the team's log, not the customer's
            return error(403, "the parts log is the maintenance team's")
        parts = await self.desk.parts.parts(state)
        return web.Response(text="[" + ",".join(PartOut.model_validate(p, from_attributes=True)
                                                .model_dump_json() for p in parts) + "]",
                            content_type="application/json")

    async def post(self, body: PartIn) -> r200[PartOut] | r403[ErrorOut] | r409[ErrorOut]:
        """Receive a part into stock."""
        if not self.who.may(Permission.WORK):
            return error(403, "the parts log is the maintenance team's")
        try:
            part = await self.desk.parts.receive(body.serial, body.name, body.location,
                                                 actor=self.who.user.name, model=body.model,
                                                 note=body.note)
        except PartsError as exc:
            return error(409, str(exc))
        return json_response(PartOut.model_validate(part, from_attributes=True))


class PartMoveView(View):
    """Moving a part."""

    async def post(self, part_id: int, /, body: MoveIn
                   ) -> r200[PartOut] | r403[ErrorOut] | r404[ErrorOut] | r409[ErrorOut]:
        """Move a part; with `ticket`, the ticket's parts replaced and timeline say so."""
        if not self.who.may(Permission.WORK):
            return error(403, "the parts log is the maintenance team's")
        if body.ticket is not None and await self.desk.visible_ticket(
                self.who, body.ticket) is None:
            return error(404, f"no ticket {body.ticket}")
        try:
            part = await self.desk.parts.move(part_id, body.kind, body.to,
                                              actor=self.who.user.name, ticket=body.ticket,
                                              note=body.note)
        except PartsError as exc:
            return error(404 if str(exc).startswith("no part") else 409, str(exc))
        return json_response(PartOut.model_validate(part, from_attributes=True))


@streamed
async def scan_view(request: web.Request) -> web.StreamResponse:
    """``POST /api/v1/tickets/{number}/scan`` (multipart: ``signed_by``, ``note``, the
    file ``scan``): close a resolved ticket on the customer's paper signature.  Not in
    the OpenAPI document: aiohttp-pydantic describes JSON bodies only."""
    desk, who = request.app[DESK], principal(request)
    number = request.match_info["number"]
    if await desk.visible_ticket(who, number) is None:
        return error(404, f"no ticket {number}")
    if not who.may(Permission.WORK):
        return error(403, f"{who.user.name} ({who.user.role.value}) may not close a ticket "
                          "on a scan")
    try:
        ticket = await take_scan(desk, who, number, await multipart_after_csrf(request))
    except ScanError as exc:
        return error(400, str(exc))
    except TicketError as exc:
        return error(409, str(exc))
    return json_response(ticket_out(ticket, desk))


def routes(app: web.Application) -> None:
    """Add the views of tickets, sites, devices and parts to `app`."""
    app.router.add_view("/api/v1/parts", PartsView)
    app.router.add_view("/api/v1/parts/{part_id}/moves", PartMoveView)
    app.router.add_view("/api/v1/sites", SitesView)
    app.router.add_view("/api/v1/devices", DevicesView)
    app.router.add_view("/api/v1/me", MeView)
    app.router.add_view("/api/v1/tickets", TicketsView)
    app.router.add_view("/api/v1/tickets/{number}", TicketView)
    app.router.add_view("/api/v1/tickets/{number}/actions", TicketActionView)
    app.router.add_post("/api/v1/tickets/{number}/scan", scan_view)


