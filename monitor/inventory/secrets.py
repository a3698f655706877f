"""Secret references: credentials never sit in the inventory in clear.

A secret is written as ``env:NAME`` (an environment variable), ``file:/path``
(a file, trailing newline dropped) or ``credential:NAME`` (a systemd credential
from ``LoadCredential=``, read from ``$CREDENTIALS_DIRECTORY``).

Where a file may be: an absolute path anywhere the daemon may read; a relative
path is relative to the inventory file's folder and may not leave it (``..``).  A
credential's name is a plain name (no ``/``, not ``.`` or ``..``).  What is read:
a regular file only (a FIFO, device or folder is an error, never a hang), at most
64 KiB, UTF-8.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, WithJsonSchema

SOURCES = ("env", "file", "credential")
MAX_BYTES = 64 * 1024


class SecretError(ValueError):
    """A secret reference that cannot be resolved."""


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret is read from."""

    source: Literal["env", "file", "credential"]
    name: str

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"

    def resolve(self, environ: Mapping[str, str] | None = None,
                base: Path | None = None) -> str:
        """The secret's value; `SecretError` says why it cannot be read."""
        env = os.environ if environ is None else environ
        if self.source == "env":
            if self.name not in env:
                raise SecretError(f"environment variable {self.name} is not set")
            return env[self.name]
        if self.source == "credential":
            folder = env.get("CREDENTIALS_DIRECTORY")
            if not folder:
                raise SecretError(
                    f"systemd credential {self.name}: CREDENTIALS_DIRECTORY is not set "
                    "(add LoadCredential= to the unit)")
            path = Path(folder) / self.name
        else:
            path = Path(self.name)
            if base is not None and not path.is_absolute():
                path = base / path
        return _read_file(path)


def _read_file(path: Path) -> str:
    """A secret file's text: a regular file, at most `MAX_BYTES`, UTF-8."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of hanging
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SecretError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretError(f"{path} is not a regular file")
        if info.st_size > MAX_BYTES:
            raise SecretError(f"{path} is {info.st_size} bytes: a secret is at most "
                              f"{MAX_BYTES}")
        data = os.read(fd, MAX_BYTES + 1)
    except OSError as exc:
        raise SecretError(f"cannot read {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise SecretError(f"{path}: a secret is at most {MAX_BYTES} bytes")
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise SecretError(f"{path} is not UTF-8 text (byte {exc.start})") from exc


def _parse(value: Any) -> SecretRef:
    if isinstance(value, SecretRef):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        ((source, name),) = value.items()
        value = f"{source}:{name}"
    if isinstance(value, str):
        source, sep, name = value.partition(":")
        if sep and source in SOURCES and name:
            if source == "credential" and ("/" in name or name in (".", "..")):
                raise ValueError(f"credential:{name}: a credential's name cannot contain "
                                 "'/' or be '.' or '..'")
            if source == "file" and not os.path.isabs(name) \
                    and os.path.normpath(name).split(os.sep)[0] == "..":
                raise ValueError(f"file:{name}: a relative path may not leave the "
                                 "inventory's folder (write an absolute path)")
            if "\0" in name:
                raise ValueError("a secret reference cannot contain a NUL character")
            return SecretRef(source, name)  # type: ignore[arg-type]
    raise ValueError(
        "a secret must be a reference ('env:NAME', 'file:/path' or 'credential:NAME'), "
        "never a value in clear")


SecretRefField = Annotated[
    SecretRef,
    BeforeValidator(_parse),
    WithJsonSchema({"type": "string", "pattern": "^(env|file|credential):.+$",
                    "description": "env:NAME, file:/path or credential:NAME"}),
]
