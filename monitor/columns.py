"""Plain-text tables for the terminal, aligned by display width: a Chinese character
takes two columns (`wcwidth`), so CJK titles line up with ASCII ones."""

from __future__ import annotations

from collections.abc import Sequence

from wcwidth import wcswidth


def width(text: str) -> int:
    """Columns `text` takes in a terminal (a non-printable counts as one)."""
    w = wcswidth(text)
    return w if w >= 0 else len(text)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """`rows` under `header`, columns two spaces apart, padded by display width."""
    cells = [[str(c) for c in r] for r in [header, *rows]]
    widths = [max(width(r[i]) for r in cells if i < len(r)) for i in range(len(header))]
    return "\n".join("  ".join(c + " " * (w - width(c)) for c, w in zip(r, widths, strict=False))
                     .rstrip() for r in cells)
