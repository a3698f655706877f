"""The service desk, served by the daemon: the login, the ticket console and the
JSON API under ``/api/v1`` (with its OpenAPI document at ``/api/v1/oas/spec``).

Why this stack: the daemon already serves `/metrics`, `/healthz` and the ack links
with aiohttp, behind the guards of `monitor.httpd` (connection cap, header timeout,
body limit).  The desk joins that server instead of adding a second one
(Starlette/FastAPI would need uvicorn beside it: a second HTTP stack to harden, and
26 MB more than the 4 MB of aiohttp-pydantic and Jinja2, measured here).
aiohttp-pydantic checks each request against the same pydantic models the OpenAPI
document is generated from; Jinja2 renders the pages (autoescaped).

Access is `monitor.access`: sessions for browsers, bearer tokens for scripts and the
CLI, CSRF tokens on every unsafe request made with a cookie.
"""
