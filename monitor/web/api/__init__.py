"""``/api/v1``: the JSON API the console, the CLI and scripts use.

Each view is an aiohttp-pydantic `PydanticView`: its query, path and body are
checked against the annotations, and the OpenAPI document (``/api/v1/oas/spec``) is
generated from the same models.  Who may do what is `monitor.access.roles`; a
customer user sees only its account's sites, and a record of another site is "not
found" to it (404, not 403: it does not learn the number exists).

* `tickets`: tickets and their actions, sites, devices, spare parts;
* `records`: inspections, surveys and the monthly report.
"""

from __future__ import annotations

from aiohttp import web

from monitor.web.api import records, tickets
from monitor.web.api.tickets import ActionIn, Refusal, act, take_scan, ticket_out

__all__ = ["ActionIn", "Refusal", "act", "routes", "take_scan", "ticket_out"]


def routes(app: web.Application) -> None:
    """Add the API's views to `app`."""
    tickets.routes(app)
    records.routes(app)
