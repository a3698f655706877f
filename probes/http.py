"""The ``http`` check: status, a body match, and the TLS certificate's remaining days.

One aiohttp session for every device (`SharedClients.http`).  Bodies are read up
to `max_body` bytes and no further; the certificate is read from the connection
itself, so an expiring certificate is seen even when verification is off
(devices with self-signed certificates are the rule, not the exception).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from cryptography import x509
from pydantic import Field, model_validator

from monitor.vocab import Status
from probes.base import ProbeContext, ProbeKind, ProbeParams, Target
from probes.result import ProbeResult, Reason, Value

MAX_BODY = 1024 * 1024


class HttpParams(ProbeParams):
    """Parameters of an ``http`` check."""

    url: str | None = Field(default=None, pattern=r"^https?://", description="full URL")
    scheme: Literal["http", "https"] = "http"
    port: int | None = Field(default=None, ge=1, le=65535)
    path: str = "/"
    method: Literal["GET", "HEAD", "POST"] = "GET"
    expect_status: list[int] = Field(default=[200, 204, 301, 302, 304],
                                     description="statuses that mean the service works")
    body_match: str | None = Field(default=None, description="regex the body must match")
    verify_tls: bool = Field(default=False, description="check the certificate chain")
    max_body: int = Field(default=64 * 1024, ge=0, le=MAX_BODY)

    @model_validator(mode="after")
    def _regex(self) -> HttpParams:
        if self.body_match is not None:
            try:
                re.compile(self.body_match)
            except re.error as exc:
                raise ValueError(f"body_match: bad regular expression: {exc}") from exc
        return self


def http_url(target: Target, params: HttpParams) -> str:
    """The URL to ask."""
    if params.url:
        return params.url
    host = f"[{target.address}]" if ":" in target.address else target.address
    port = f":{params.port}" if params.port else ""
    path = params.path if params.path.startswith("/") else "/" + params.path
    return f"{params.scheme}://{host}{port}{path}"


async def certificate_days(url: str) -> float | None:
    """Days until the certificate served at `url` expires (None over plain HTTP).

    A handshake of its own: aiohttp releases the connection of a short reply before
    the caller could look at it, and unverified certificates are read just the same.
    """
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection(parts.hostname, parts.port or 443, ssl=context)
    try:
        ssl_object: ssl.SSLObject | None = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    return (cert.not_valid_after_utc - datetime.now(UTC)).total_seconds() / 86400


def failure(exc: BaseException, url: str) -> ProbeResult:
    """A result for an aiohttp failure."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return ProbeResult.down(Reason.TLS_INVALID, f"{url}: certificate not trusted: "
                                              f"{exc.certificate_error}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        inner = exc.os_error
        if isinstance(inner, ConnectionRefusedError):
            return ProbeResult.down(Reason.REFUSED, f"{url}: connection refused")
        return ProbeResult.down(Reason.UNREACHABLE, f"{url}: {inner.strerror or inner}")
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError |
                  aiohttp.ServerDisconnectedError):
        return ProbeResult.error(Reason.PROTOCOL_ERROR, f"{url}: {exc}")
    return ProbeResult.error(Reason.PROTOCOL_ERROR, f"{url}: {type(exc).__name__}: {exc}")


async def run(target: Target, params: HttpParams, ctx: ProbeContext) -> ProbeResult:
    """Request the URL; judge status, body and certificate."""
    url = http_url(target, params)
    auth = None
    if target.credentials.username:
        auth = aiohttp.BasicAuth(target.credentials.username, target.credentials.password or "")
    values: dict[str, Value] = {}
    try:
        async with ctx.clients.http.request(
                params.method, url, auth=auth, ssl=params.verify_tls,
                allow_redirects=False) as response:
            values["status_code"] = response.status
            body = await response.content.read(params.max_body)
        days = await certificate_days(url)
        if days is not None:
            values["tls_cert_days_left"] = days
    except aiohttp.ClientError as exc:
        return failure(exc, url)
    except ssl.SSLError as exc:
        return ProbeResult.down(Reason.TLS_INVALID, f"{url}: {exc.reason or exc}")
    except OSError as exc:
        return ProbeResult.down(Reason.UNREACHABLE, f"{url}: {exc.strerror or exc}")
    if response.status not in params.expect_status:
        reason = Reason.AUTH_FAILED if response.status in (401, 403) else Reason.HTTP_STATUS
        return ProbeResult(Status.DOWN, reason, f"{url} answered {response.status}",
                           values=values)
    if params.body_match is not None:
        text = body.decode("utf-8", "replace")
        if not re.search(params.body_match, text):
            return ProbeResult(Status.DOWN, Reason.BODY_MISMATCH,
                               f"{url}: the body does not match {params.body_match!r}",
                               values=values)
    return ProbeResult.ok(f"{url} answered {response.status}", values=values)


def session_kwargs() -> dict[str, Any]:
    """How the shared session is made (bounded headers; no cookies shared across devices)."""
    return {"cookie_jar": aiohttp.DummyCookieJar(),
            "connector": aiohttp.TCPConnector(limit=0, force_close=True),
            "max_line_size": 16 * 1024, "max_field_size": 16 * 1024}


PROBE = ProbeKind(
    name="http",
    params=HttpParams,
    run=run,
    summary="HTTP(S): status, body match, TLS certificate days left",
    default_interval_s=60.0,
    default_timeout_s=10.0,
    default_concurrency=200,
    default_thresholds={"tls_cert_days_left": {"warning": 30, "down": 7, "below": True,
                                               "reason": Reason.TLS_CERT_EXPIRING}},
)
