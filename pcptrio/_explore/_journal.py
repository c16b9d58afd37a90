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
import pathlib
from typing import Any

from .._core import BadInput
from ._campaign import valid_record
from ._jsonl import JsonlWriter, rewrite

__all__ = ["MatrixJournal"]


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
        if resume:
            if not path.exists():
                raise BadInput(f"{path} does not exist: nothing to resume")
            self.notes = self._resume(header, cells)
            self._out = JsonlWriter(path, None)
            return
        if path.exists() and not replace:
            raise BadInput(f"{path} exists; use --resume to continue it or --force to replace it")
        self._out = JsonlWriter(path, {"matrix": header})

    def _resume(self, header: dict[str, Any], cells: int) -> list[str]:
        def header_for(old: dict[str, Any]) -> dict[str, Any]:
            differ = sorted(k for k in set(old) | set(header) if old.get(k) != header.get(k))
            if differ:
                raise BadInput(
                    f"{self.path} is the journal of a different matrix run "
                    f"({', '.join(differ)} differ); refusing to mix results"
                )
            return header

        seen: dict[int, set[int]] = {}

        def keep(entry: dict[str, Any]) -> bool:
            i = entry["cell"]
            if "result" in entry:
                self.results.setdefault(i, []).append(entry["result"])
                return True
            index = entry["record"]["index"]
            if index in seen.setdefault(i, set()):
                return False
            seen[i].add(index)
            self.records.setdefault(i, []).append(entry["record"])
            return True

        return rewrite(
            self.path,
            "matrix",
            "a pcptrio matrix journal",
            header_for,
            lambda raw: self._parse(raw, cells),
            keep,
            "that work runs again",
        )

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
        self._out.write(entry)
        self._out.take_over()

    def record(self, cell: int, rec: dict[str, Any]) -> None:
        self._write({"cell": cell, "record": rec})

    def result(self, cell: int, result: dict[str, Any]) -> None:
        self._write({"cell": cell, "result": result})

    def close(self) -> None:
        self._out.close()
