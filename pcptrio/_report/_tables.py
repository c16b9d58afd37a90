"""Plain-text tables: fixed-width columns, numbers right-aligned, no colours.

The failure report, the matrix and the campaign summaries are read in terminals, pasted into
mailing-list threads and diffed in tests, so they are plain text with a stable layout: two
spaces between columns, a dashed rule under the header, no trailing blanks.  Rich renders
the interactive variants; this is the canonical one (what ``--json``-less output and
golden tests see).

Example::

    >>> print(render_table(["design", "steps"], [["ipi", "141"], ["wq-4.11", "6319"]]))
    design   steps
    -------  -----
    ipi        141
    wq-4.11   6319
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["is_number", "render_table"]

_NUMBER = re.compile(r"[-+]?(\d[\d,_]*)(\.\d+)?(e[-+]?\d+)?%?[a-zµ]{0,2}")
_GAP = "  "


def is_number(cell: str) -> bool:
    """Whether ``cell`` reads as a number (``42``, ``-3``, ``1,024``, ``3.5``, ``12%``, ``30s``,
    ``120µs``): such columns are right-aligned."""
    return bool(_NUMBER.fullmatch(cell.strip()))


def _auto_align(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = []
    for i in range(len(headers)):
        cells = [r[i].strip() for r in rows if i < len(r) and r[i].strip() not in ("", "-", "…")]
        out.append("r" if cells and all(is_number(c) for c in cells) else "l")
    return "".join(out)


def render_table(headers: list[str], rows: list[list[str]], *, align: str | None = None) -> str:
    """``headers`` and ``rows`` as a fixed-width text table (no trailing newline).

    ``align`` has one letter per column: ``l`` (left), ``r`` (right) or ``c`` (centre).
    Without it, columns whose cells all read as numbers are right-aligned, the rest left.
    Short rows are padded with empty cells; a row longer than the header is an error.
    """
    ncol = len(headers)
    for i, r in enumerate(rows):
        if len(r) > ncol:
            raise ValueError(f"table row {i} has {len(r)} cells for {ncol} columns: {r!r}")
    body = [list(r) + [""] * (ncol - len(r)) for r in rows]
    if align is None:
        align = _auto_align(headers, body)
    if len(align) != ncol or set(align) - set("lrc"):
        raise ValueError(f"align must be {ncol} letters of l/r/c, got {align!r}")
    widths = [max([len(headers[i])] + [len(r[i]) for r in body]) for i in range(ncol)]

    def line(cells: Sequence[str]) -> str:
        parts = []
        for cell, w, a in zip(cells, widths, align, strict=True):
            if a == "r":
                parts.append(cell.rjust(w))
            elif a == "c":
                parts.append(cell.center(w))
            else:
                parts.append(cell.ljust(w))
        return _GAP.join(parts).rstrip()

    out = [line(headers), _GAP.join("-" * w for w in widths)]
    out += [line(r) for r in body]
    return "\n".join(out)
