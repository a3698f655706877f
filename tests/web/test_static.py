"""The console's script runs on the old browsers of a government network (IE 11, 360 in
IE mode): ECMAScript 5.1 only, checked by an ES5.1-only parser, and the times it parses
are in ES5's own format, which every engine reads."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyjsparser
import pytest

from monitor.web.pages import iso
from tests.conftest import REPO
from tests.web.conftest import DeskSite
from tests.web.test_access_http import login, session

SCRIPT = REPO / "monitor" / "web" / "static" / "desk.js"
ES5_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def test_the_script_is_ecmascript_5() -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    pyjsparser.parse(text)
    for later in ("async function f() { await g(); }", "var f = () => 1;", "var s = `x`;",
                  "class A {}"):  # what the parser is there to catch
        with pytest.raises(pyjsparser.JsSyntaxError):
            pyjsparser.parse(later)
    # what it lets through (it reads let and const), and ES2015+ library calls
    code = re.sub(r"//[^\n]*", "", text)
    for word in (r"\blet\b", r"\bconst\b", r"\.padStart\(", r"\bfetch\(", r"\bPromise\b",
                 r"\.includes\(", r"\bfor\s*\([^)]*\bof\b"):
        assert not re.search(word, code), word


def test_times_are_in_es5_format() -> None:
    cst = dt.timezone(dt.timedelta(hours=8))
    assert iso(dt.datetime(2026, 12, 5, 9, 0, 1, 123456, tzinfo=cst)) == \
        "2026-12-05T01:00:01.123Z"


async def test_pages_give_their_times_in_es5_format(desk_site: DeskSite,
                                                    tmp_path: Path) -> None:
    async with session() as http:
        await login(http, desk_site.url, "zhang")
        for path in ("/ui/tickets", f"/ui/tickets/{desk_site.tickets['cam07']}", "/screen"):
            async with http.get(desk_site.url + path) as page:
                text = await page.text()
            times = re.findall(r'(?:datetime|data-deadline|content)="(\d{4}-[^"]+)"', text)
            assert times, path
            assert all(re.fullmatch(ES5_TIME, t) for t in times), (path, times)
