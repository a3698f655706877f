"""Secret references read only what they should: a regular file of at most 64 KiB of
UTF-8, inside the inventory's folder when relative, never hanging on a FIFO; a
credential's name is a plain name.  Each problem is one clear line."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from monitor.inventory.secrets import SecretError, SecretRef, _parse


def ref(text: str) -> SecretRef:
    return _parse(text)


def test_a_plain_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    assert ref("file:pw").resolve({}, tmp_path) == "s3cret"
    assert ref(f"file:{tmp_path / 'pw'}").resolve({}) == "s3cret"


@pytest.mark.parametrize(("make", "error"), [
    (lambda p: os.mkfifo(p), "is not a regular file"),
    (lambda p: p.mkdir(), "is not a regular file"),
    (lambda p: p.write_bytes(b"x" * (64 * 1024 + 1)), "65537 bytes: a secret is at most 65536"),
    (lambda p: p.write_bytes(b"\xff\xfepassword"), "is not UTF-8 text"),
    (lambda p: None, "cannot read .*: No such file or directory"),
])
def test_what_is_not_a_secret_file(tmp_path: Path, make: object, error: str) -> None:
    path = tmp_path / "secret"
    make(path)  # type: ignore[operator]
    start = time.monotonic()
    with pytest.raises(SecretError, match=error):
        ref(f"file:{path}").resolve({})
    assert time.monotonic() - start < 1  # a FIFO with no writer: no hang


def test_a_device_is_not_a_secret() -> None:
    with pytest.raises(SecretError, match="not a regular file"):
        ref("file:/dev/zero").resolve({})


@pytest.mark.parametrize(("text", "error"), [
    ("file:../etc/shadow", "may not leave the inventory's folder"),
    ("file:a/../../x", "may not leave the inventory's folder"),
    ("credential:../x", "cannot contain '/'"),
    ("credential:a/b", "cannot contain '/'"),
    ("credential:..", "cannot contain '/' or be '.' or '..'"),
    ("env:A\0B", "NUL"),
    ("s3cret", "never a value in clear"),
])
def test_references_that_are_refused(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ref(text)


def test_a_credential(tmp_path: Path) -> None:
    (tmp_path / "smtp").write_text("pw")
    assert ref("credential:smtp").resolve({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "pw"
