"""Header-and-entries JSON Lines files: a campaign's records, the matrix's journal.

Both are a driver's only state and are kept the same way: a header line ``{key: {...}}``
(the settings of the run that wrote it), then one JSON object per line, sorted keys, flushed
as it goes.

* Replacing an existing file (``--force``) writes to a temporary file beside it, which takes
  the path over at the first line worth keeping: a run that fails before that leaves the old
  file as it was.
* Resuming reads the file line by line (never whole) and rewrites it atomically with the new
  header and exactly the entries kept; a torn last line (a write cut short, even
  mid-character) and any unreadable line are dropped and noted.  A file refused, or a resume
  interrupted, is left as it was.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Callable
from typing import Any, TextIO

from .._core import BadInput

__all__ = ["JsonlWriter", "dumps_line", "rewrite"]


def dumps_line(obj: dict[str, Any]) -> str:
    """``obj`` as one line of such a file."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n"


class JsonlWriter:
    """Writes the file at ``path``: appends to it (``header`` None: a resumed file), or
    starts it with ``header`` — in a temporary file beside ``path`` when ``path`` exists,
    which replaces it at the first :meth:`take_over`."""

    def __init__(self, path: pathlib.Path, header: dict[str, Any] | None) -> None:
        self.path = path
        self._replaces: pathlib.Path | None = None  # the new file, until it replaces ``path``
        if header is None:
            self._fh: TextIO = path.open("a", encoding="utf-8")
            return
        target = path
        if path.exists():
            target = self._replaces = path.with_name(f".{path.name}.{os.getpid()}.new.tmp")
        # The open handle follows the file through the rename.
        self._fh = target.open("w", encoding="utf-8")
        self.write(header)

    def write(self, obj: dict[str, Any]) -> None:
        self._fh.write(dumps_line(obj))
        self._fh.flush()

    def take_over(self) -> None:
        """A replacement now replaces the old file (nothing to do otherwise)."""
        if self._replaces is not None:
            os.replace(self._replaces, self.path)
            self._replaces = None

    def close(self) -> None:
        """Close the file; a replacement that never took over is removed."""
        self._fh.close()
        if self._replaces is not None:
            self._replaces.unlink(missing_ok=True)
            self._replaces = None


def rewrite(
    path: pathlib.Path,
    key: str,
    what: str,
    header_for: Callable[[dict[str, Any]], dict[str, Any]],
    parse: Callable[[bytes], dict[str, Any] | None],
    keep: Callable[[dict[str, Any]], bool],
    again: str,
) -> list[str]:
    """Resume the file at ``path`` (see the module docstring); returns the notes.

    ``what`` names the kind of file ("a pcptrio campaign file"); ``header_for(old)`` checks
    the file's header ``{key: old}`` (raising :class:`BadInput` to refuse it) and returns
    the header to write; ``parse(line)`` is an entry, or None for an unreadable line;
    ``keep(entry)`` takes a readable entry in and says whether to write it back (False: one
    already in).  ``again`` ends the note on a torn last line ("that schedule runs again").
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.resume.tmp")
    notes: list[str] = []
    try:
        with path.open("rb") as src, tmp.open("w", encoding="utf-8") as dst:
            try:
                first = json.loads(src.readline().decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                first = None
            if not isinstance(first, dict) or not isinstance(first.get(key), dict):
                raise BadInput(f"{path} is not {what} (no header line)")
            dst.write(dumps_line({key: header_for(first[key])}))
            bad: list[tuple[int, bool]] = []  # (line number, ended with a newline)
            lineno, last_good = 1, 0
            for raw in src:
                lineno += 1
                if not raw.strip():
                    continue
                entry = parse(raw)
                if entry is None:
                    bad.append((lineno, raw.endswith(b"\n")))
                    continue
                last_good = lineno
                if keep(entry):
                    dst.write(dumps_line(entry))
            for n, ended in bad:
                torn = n > last_good and n == bad[-1][0] and not ended
                notes.append(
                    f"{path}: dropped a torn last line ({again})"
                    if torn
                    else f"{path}: dropped unreadable line {n}"
                )
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, path)
    except BaseException:  # refused or interrupted: the file is left as it was
        tmp.unlink(missing_ok=True)
        raise
    return notes
