"""Plain-text tables that align at any width: column widths come from the cells."""

from __future__ import annotations

from collections.abc import Sequence


def table(rows: Sequence[Sequence[str]], right: Sequence[bool], indent: str = "  ") -> list[str]:
    """Lines of ``rows`` with each column as wide as its widest cell; ``right`` says
    which columns align right (numbers). A row shorter than the others is a free line
    (written as it is, after the indent)."""
    width = max((len(r) for r in rows), default=0)
    full = [r for r in rows if len(r) == width]
    widths = [max(len(r[i]) for r in full) for i in range(width)] if full else []
    lines = []
    for row in rows:
        if len(row) != width:
            lines.append((indent + "".join(row)).rstrip())
            continue
        cells = [
            cell.rjust(widths[i]) if right[i] else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines
