"""Seeded mutation fuzzing of every parser that reads outside input (tests/fuzz/): a few
thousand cases each in `make test`, none may crash or hang.  `python bench/fuzz.py` runs
100,000 per parser and prints the table the README shows."""

from __future__ import annotations

import os

import pytest

from tests.fuzz.engine import fuzz
from tests.fuzz.targets import TARGETS

CASES = int(os.environ.get("FUZZ_CASES", "2000"))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_no_input_crashes_or_hangs_a_parser(name: str) -> None:
    report = fuzz(TARGETS[name](), CASES, seed=20261204)
    assert report.cases == CASES
    crashes = [f"{data[:200]!r}\n{trace}" for data, trace in report.crashes[:3]]
    assert not report.crashes, f"{len(report.crashes)} crashes:\n" + "\n".join(crashes)
    assert not report.hangs, [h[:200] for h in report.hangs[:3]]
    # the mutations reach past the first check: some inputs pass, some are refused
    assert report.accepted + report.clean == CASES


def test_the_first_seed_is_a_valid_input() -> None:
    """A target whose seeds all fail would fuzz only its first line of defence."""
    for name, make in TARGETS.items():
        report = fuzz(make(), 1)
        assert report.accepted == 1, (name, report)


# Inputs the fuzzer once crashed a parser with; each is a clean error now.
FOUND = [
    ("rtsp", b'RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Digest realm=, '
             b'nonce="x"\r\n\r\n'),
    ("rtsp", b'RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm%"IP"\r\n\r\n'),
    ("rtsp", b"RTSP/1.0 200 OK\r\nContent-Length: " + b"9" * 5003 + b"\r\n\r\n"),
    ("rtsp", "RTSP/1.0 200 OK\r\nContent-Length: ²\r\n\r\n".encode()),
    ("settings", b'inventory = "x"\nwhen = 2026-13-01\n'),
    ("onvif", b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/'
              b'soap-envelope"><s:Body/></s:Envelope>'),
    ("onvif", b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/'
              b'soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><s:Body>'
              b"<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime/>"
              b"</tds:GetSystemDateAndTimeResponse></s:Body></s:Envelope>"),
]


@pytest.mark.parametrize(("name", "data"), FOUND)
def test_what_the_fuzzer_found_stays_fixed(name: str, data: bytes) -> None:
    target = TARGETS[name]()
    target.seeds = [data]
    report = fuzz(target, 1)
    assert not report.crashes and not report.hangs, report.crashes[:1]
