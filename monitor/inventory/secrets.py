"""Secret references: credentials never sit in the inventory in clear.

A secret is written as ``env:NAME`` (an environment variable), ``file:/path``
(a file, trailing newline dropped; a relative path is relative to the inventory
file's folder) or ``credential:NAME`` (a systemd credential
from ``LoadCredential=``, read from ``$CREDENTIALS_DIRECTORY``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, WithJsonSchema

SOURCES = ("env", "file", "credential")


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
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SecretError(f"cannot read {path}: {exc.strerror}") from exc


def _parse(value: Any) -> SecretRef:
    if isinstance(value, SecretRef):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        ((source, name),) = value.items()
        value = f"{source}:{name}"
    if isinstance(value, str):
        source, sep, name = value.partition(":")
        if sep and source in SOURCES and name:
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
