"""The matrix's journal: what a matrix run has done, streamed, so that it can resume.

A JSON Lines file: a header line ``{"matrix": {...}}`` with the run's settings (designs,
hazards, seed, scheduler, depth, budget, CPUs, shrinking, shard, code fingerprint), then, as
they happen, ``{"cell": i, "record": {...}}`` for each schedule of cell ``i`` that ended
(the campaign's own record) and ``{"cell": i, "result": {...}}`` when cell ``i`` is complete
(its :class:`Cell`, shrunk).  Like a campaign file it is the driver's only state: workers keep
none, and a record that arrives twice counts once.

Resuming (``run_matrix(journal=..., resume=True)``, ``matrix --resume FILE``) reads it line
by line, refuses a file of another run (naming what differs), takes the finished cells as
they are (the last readable result of each), hands each unfinished cell the schedules it
already has (only the missing ones run), and rewrites the file atomically with exactly
what it kept: a torn last line (a write cut short) is dropped and noted, as is any
unreadable line.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

from .._core import BadInput
from ._campaign import valid_record

__all__ = ["MatrixJournal"]


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n"


class MatrixJournal:
    """The journal at ``path`` (see the module docstring).  ``cells``: how many cells the
    run has (a line naming another is unreadable).  Without ``resume`` an existing file is
    refused unless ``replace``; a replacement takes the file over with its first line after
    the header, so a run that fails before it leaves the old file as it was."""

    def __init__(
        self,
        path: pathlib.Path,
        header: dict[str, Any],
        cells: int,
        *,
        resume: bool,
        replace: bool,
    ) -> None:
        self.path = path
        #: Cell results read back (cell -> its results' JSON, in file order: a damaged one
        #: is followed by the result of its rerun), and schedule records (cell -> records).
        self.results: dict[int, list[dict[str, Any]]] = {}
        self.records: dict[int, list[dict[str, Any]]] = {}
        self.notes: list[str] = []
        self._replaces: pathlib.Path | None = None
        if resume:
            if not path.exists():
                raise BadInput(f"{path} does not exist: nothing to resume")
            self._resume(header, cells)
            self._fh = path.open("a", encoding="utf-8")
            return
        if path.exists() and not replace:
            raise BadInput(f"{path} exists; use --resume to continue it or --force to replace it")
        target = path
        if path.exists():
            target = self._replaces = path.with_name(f".{path.name}.{os.getpid()}.new.tmp")
        self._fh = target.open("w", encoding="utf-8")
        self._fh.write(_line({"matrix": header}))
        self._fh.flush()

    def _resume(self, header: dict[str, Any], cells: int) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.resume.tmp")
        try:
            with self.path.open("rb") as src, tmp.open("w", encoding="utf-8") as dst:
                try:
                    first = json.loads(src.readline().decode("utf-8"))
                except (UnicodeDecodeError, ValueError, RecursionError):
                    first = None
                if not isinstance(first, dict) or not isinstance(first.get("matrix"), dict):
                    raise BadInput(f"{self.path} is not a pcptrio matrix journal (no header)")
                old = first["matrix"]
                differ = sorted(k for k in set(old) | set(header) if old.get(k) != header.get(k))
                if differ:
                    raise BadInput(
                        f"{self.path} is the journal of a different matrix run "
                        f"({', '.join(differ)} differ); refusing to mix results"
                    )
                dst.write(_line({"matrix": header}))
                seen: dict[int, set[int]] = {}
                bad: list[tuple[int, bool]] = []  # (line number, ended with a newline)
                lineno, last_good = 1, 0
                for raw in src:
                    lineno += 1
                    if not raw.strip():
                        continue
                    entry = self._parse(raw, cells)
                    if entry is None:
                        bad.append((lineno, raw.endswith(b"\n")))
                        continue
                    last_good = lineno
                    i = entry["cell"]
                    if "result" in entry:
                        self.results.setdefault(i, []).append(entry["result"])
                        dst.write(_line(entry))
                    elif entry["record"]["index"] not in seen.setdefault(i, set()):
                        seen[i].add(entry["record"]["index"])
                        self.records.setdefault(i, []).append(entry["record"])
                        dst.write(_line(entry))
                for n, ended in bad:
                    torn = n > last_good and n == bad[-1][0] and not ended
                    self.notes.append(
                        f"{self.path}: dropped a torn last line (that work runs again)"
                        if torn
                        else f"{self.path}: dropped unreadable line {n}"
                    )
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, self.path)
        except BaseException:  # refused or interrupted: the journal is left as it was
            tmp.unlink(missing_ok=True)
            raise

    @staticmethod
    def _parse(raw: bytes, cells: int) -> dict[str, Any] | None:
        try:
            entry = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        if not isinstance(entry, dict):
            return None
        i = entry.get("cell")
        if type(i) is not int or not 0 <= i < cells:
            return None
        if set(entry) == {"cell", "result"} and isinstance(entry["result"], dict):
            return entry
        if set(entry) == {"cell", "record"} and valid_record(entry["record"]):
            return entry
        return None

    def _write(self, entry: dict[str, Any]) -> None:
        self._fh.write(_line(entry))
        self._fh.flush()
        if self._replaces is not None:
            os.replace(self._replaces, self.path)
            self._replaces = None

    def record(self, cell: int, rec: dict[str, Any]) -> None:
        self._write({"cell": cell, "record": rec})

    def result(self, cell: int, result: dict[str, Any]) -> None:
        self._write({"cell": cell, "result": result})

    def close(self) -> None:
        self._fh.close()
        if self._replaces is not None:  # nothing was written after the header
            self._replaces.unlink(missing_ok=True)
            self._replaces = None
