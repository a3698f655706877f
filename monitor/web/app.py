"""Putting the desk on the daemon's public listener."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp_pydantic import oas

from monitor.access.sessions import Sessions
from monitor.access.users import UserStore
from monitor.inventory import Inventory
from monitor.settings import DeskSettings
from monitor.snapshot import Snapshot
from monitor.tickets.store import TicketStore
from monitor.web import (
    admin,
    api,
    console,
    inspections,
    pages,
    proxy,
    reports,
    screen,
    surveys,
)
from monitor.web.access import login_routes, middleware
from monitor.web.desk import DESK, Desk


def build(tickets: TicketStore, settings: DeskSettings, inventory: Callable[[], Inventory],
          snapshot: Callable[[], Snapshot] = Snapshot, language: str = "zh") -> Desk:
    """The desk over the daemon's ticket store."""
    store = tickets.store
    return Desk(tickets=tickets,
                users=UserStore(store, settings.login_failures,
                                dt.timedelta(seconds=settings.login_window)),
                sessions=Sessions(store, dt.timedelta(seconds=settings.session_idle),
                                  dt.timedelta(seconds=settings.session_max)),
                inventory=inventory, snapshot=snapshot,
                trusted_proxies=tuple(settings.trusted_proxies), language=language)


def install(app: web.Application, desk: Desk, version: str,
            zone: ZoneInfo | None = None) -> None:
    """Add the desk's middleware, pages, API, OpenAPI document and static files to `app`;
    pages show times in `zone` (the SLA settings' time zone)."""
    if zone is not None:
        pages.ZONE[0] = zone
    app[DESK] = desk
    if (forwarded := proxy.middleware(desk.trusted_proxies)) is not None:
        app.middlewares.append(forwarded)  # first: the access middleware sees the client
    app.middlewares.append(middleware(desk.sessions))
    app.add_routes(login_routes(desk.users, desk.sessions))
    app.add_routes(console.routes())
    app.add_routes(screen.routes())
    app.add_routes(inspections.routes())
    app.add_routes(reports.routes())
    app.add_routes(surveys.routes())
    app.add_routes(admin.routes())
    api.routes(app)
    app.router.add_static("/static", Path(str(files("monitor.web") / "static")),
                          append_version=False)
    # The document only; its Swagger page would load scripts from the internet, which
    # the customer's network does not reach.
    oas.setup(app, url_prefix="/api/v1/oas", title_spec="sv-monitor service desk API",
              version_spec=version,
              security={"bearer": {"type": "http", "scheme": "bearer"}})
