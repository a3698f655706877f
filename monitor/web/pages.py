"""Rendering the desk's pages: Jinja2 templates from ``monitor/web/templates``,
autoescaped, with the request's principal and CSRF token at hand."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from monitor.topology import PATH_PREFIX, paths_in

ENV = jinja2.Environment(loader=jinja2.PackageLoader("monitor.web", "templates"),
                         autoescape=True, undefined=jinja2.StrictUndefined,
                         trim_blocks=True, lstrip_blocks=True)


ZONE: list[ZoneInfo] = [ZoneInfo("Asia/Shanghai")]  # the desk's; set from the SLA settings


def local(value: dt.datetime | None, form: str = "%Y-%m-%d %H:%M") -> str:
    """A time as the customer reads it: in the SLA time zone (Asia/Shanghai)."""
    return "" if value is None else value.astimezone(ZONE[0]).strftime(form)


ENV.filters["local"] = local


def iso(value: dt.datetime) -> str:
    """A time as ECMAScript 5 reads it everywhere: UTC, milliseconds, "Z"."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{value.microsecond // 1000:03d}Z"


ENV.filters["iso"] = iso
ENV.filters["paths"] = paths_in  # a transmission fault's paths, from its description
ENV.filters["detail"] = lambda text: "\n".join(  # the description without them
    line for line in (text or "").splitlines() if not line.startswith(PATH_PREFIX))


def render(template: str, request: web.Request, status: int = 200,
           **context: Any) -> web.Response:
    """`template` rendered as an HTML response."""
    from monitor.web.access import PRINCIPAL  # (access renders pages too)
    who = request.get(PRINCIPAL)
    body = ENV.get_template(template).render(
        principal=who, csrf=context.pop("csrf", who.csrf if who is not None else ""),
        server_now=iso(dt.datetime.now(dt.UTC)), **context)
    return web.Response(text=body, status=status, content_type="text/html")
