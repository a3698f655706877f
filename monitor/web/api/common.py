"""What every view of the API shares: who asks, the desk, JSON and error replies."""

from __future__ import annotations

from aiohttp import web
from aiohttp_pydantic import PydanticView
from pydantic import BaseModel

from monitor.access.sessions import Principal
from monitor.web.access import principal
from monitor.web.desk import DESK, Desk


class ErrorOut(BaseModel):
    """What went wrong."""

    error: str


def json_response(model: BaseModel, status: int = 200) -> web.Response:
    """`model` as the JSON reply."""
    return web.Response(text=model.model_dump_json(), status=status,
                        content_type="application/json")


def error(status: int, text: str) -> web.Response:
    """An error reply: ``{"error": text}``."""
    return json_response(ErrorOut(error=text), status)


class View(PydanticView):
    """A view of the desk's API, for a logged-in principal."""

    @property
    def desk(self) -> Desk:
        """The desk this view serves."""
        desk: Desk = self.request.app[DESK]
        return desk

    @property
    def who(self) -> Principal:
        """Who asks."""
        return principal(self.request)
