"""Inventory problems, each naming the file, the line and the site or device."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an inventory file."""

    file: Path
    line: int | None
    subject: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.subject}: {self.message}" if self.subject else \
            f"{where}: {self.message}"


class InventoryError(Exception):
    """The inventory is not valid; `problems` lists every reason found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (str(p.file), p.line or 0))
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[type[InventoryError], tuple[list[Problem]]]:
        return InventoryError, (self.problems,)  # (it crosses from the loading process)
