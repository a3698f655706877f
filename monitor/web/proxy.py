"""Requests through a reverse proxy (nginx terminating TLS in front of the desk).

Behind a proxy every request arrives from the proxy's address and over plain HTTP:
the login throttle would count all users as one address (and lock them out
together), the access audit would record the proxy, and cookies would lose their
Secure flag though the browser speaks HTTPS.  For a request whose peer is one of
``desk.trusted_proxies``, aiohttp-remotes' ``XForwardedFiltered`` takes the client
from ``X-Forwarded-For`` (right to left, the first address that is not a trusted
proxy) and the scheme from ``X-Forwarded-Proto``.  From any other peer those headers
are ignored: a client cannot choose its own address by sending them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp_remotes import XForwardedFiltered

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _peer(request: web.Request) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address of the connection's other end, whatever the headers say."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if not isinstance(peer, tuple) or not peer:
        return None  # a Unix socket, or a connection already gone
    try:
        address = ipaddress.ip_address(peer[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def middleware(trusted: Sequence[Network]) -> Middleware | None:
    """The middleware that believes `trusted` proxies; None when there are none."""
    if not trusted:
        return None
    forwarded = XForwardedFiltered(set(trusted))

    @web.middleware
    async def through_proxy(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = _peer(request)
        if peer is None or not any(peer in net for net in trusted):
            return await handler(request)
        return await forwarded.middleware(request, handler)

    return through_proxy
