"""The guarded HTTP listener, on loopback: the connection cap, the header timeout (also
for keep-alive), the body limit, and accept errors logged once with a count."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from monitor.httpd import ACCEPT_FAILED, Listener, connection_cap, quiet_accept_errors
from tests.conftest import free_port


async def hello(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="hello")


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    def setup(app: web.Application) -> None:
        app.router.add_route("*", "/", hello)

    server = Listener("http", setup, f"127.0.0.1:{free_port()}", max_connections=4,
                      header_timeout_s=0.5, body_limit=1024)
    await server.start()
    yield server
    await server.close()


def port(listener: Listener) -> int:
    return int(listener.address.rsplit(":")[1])


async def test_over_the_cap_is_closed_at_once(listener: Listener) -> None:
    held = [await asyncio.open_connection("127.0.0.1", port(listener)) for _ in range(4)]
    await asyncio.sleep(0.1)
    assert listener.stats.active == 4
    reader, writer = await asyncio.open_connection("127.0.0.1", port(listener))
    try:
        data = await asyncio.wait_for(reader.read(1), 0.3)
    except ConnectionResetError:
        data = b""
    assert data == b"" and listener.stats.rejected["limit"] == 1
    for _, w in [*held, (reader, writer)]:
        w.close()


async def test_no_request_head_in_time_is_closed(listener: Listener) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port(listener))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # ... and never the blank line
    start = asyncio.get_running_loop().time()
    try:
        data = await asyncio.wait_for(reader.read(), 3)
    except ConnectionResetError:
        data = b""
    assert data == b"" and 0.4 < asyncio.get_running_loop().time() - start < 2
    assert listener.stats.rejected["header_timeout"] == 1
    writer.close()
    await asyncio.sleep(0.05)
    assert listener.stats.active == 0


async def test_keep_alive_wait_is_timed_too_and_requests_are_served(listener: Listener) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port(listener))
    for _ in range(2):  # two requests on one connection, each in time
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"hello"), 2)
        assert head.startswith(b"HTTP/1.1 200")
        await asyncio.sleep(0.3)
    try:
        data = await asyncio.wait_for(reader.read(), 3)  # then idle: closed
    except ConnectionResetError:
        data = b""
    assert data == b"" and listener.stats.rejected["header_timeout"] == 1
    writer.close()


async def test_a_body_over_the_limit_is_refused(listener: Listener) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://{listener.address}/", data=b"x" * 5000) as r:
            assert r.status == 413
        async with session.post(f"http://{listener.address}/", data=b"x" * 500) as r:
            assert r.status == 200


async def test_accept_errors_are_logged_once_and_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    count = [0]
    quiet_accept_errors(loop, lambda: count.__setitem__(0, count[0] + 1))
    with caplog.at_level(logging.ERROR, "monitor.httpd"):
        for _ in range(5):
            loop.call_exception_handler({"message": f"{ACCEPT_FAILED} (...)",
                                         "exception": OSError(24, "Too many open files")})
    assert count[0] == 5
    assert len([r for r in caplog.records if "cannot accept" in r.getMessage()]) == 1
    loop.set_exception_handler(None)


def test_the_cap_stays_under_the_open_files_limit() -> None:
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        assert connection_cap(10_000, 2) == 128 and connection_cap(50, 2) == 50
        assert connection_cap(10_000, 1) == 256
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_malformed_requests_are_counted_not_logged_each(
        listener: Listener, caplog: pytest.LogCaptureFixture) -> None:
    """aiohttp logs a traceback for each malformed request; here: a 400, a count, and
    one line a minute."""
    with caplog.at_level(logging.DEBUG):
        for _ in range(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", port(listener))
            writer.write(b"GET / HTTP/1.1\r\nHo\x01st: x\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 3)
            assert b" 400 " in answer.split(b"\r\n")[0], answer[:60]
            writer.close()
            await writer.wait_closed()
    assert listener.stats.rejected["bad_request"] == 5
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "malformed requests" in lines[0].getMessage()
    assert lines[0].exc_info is None
