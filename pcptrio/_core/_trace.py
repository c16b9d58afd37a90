"""The run trace: one compact record per event, rendered canonically on demand.

During a run the engine appends plain tuples ``(step, t_ns, actor, cpu, event, fields)`` —
about a quarter of a microsecond each — and, only when a structlog logger is attached, also
emits each record through structlog.  After the run, :func:`render_jsonl` turns the records
into canonical JSON Lines: sorted keys, compact separators, no wall-clock time, no ``id()``,
no addresses.  The same decisions therefore give the same bytes on any machine, under any
``PYTHONHASHSEED``, and :func:`trace_sha256` identifies a run.

Field values must be JSON scalars, or lists/dicts of them built in a deterministic order;
anything else is a model bug and fails loudly when rendered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["TraceRecord", "record_dict", "render_jsonl", "trace_sha256"]

# (step, t_ns, actor name or "-", cpu or None, event, fields)
TraceRecord = tuple[int, int, str, int | None, str, dict[str, Any]]

_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def record_dict(rec: TraceRecord) -> dict[str, Any]:
    """The record as one flat dict (``event``, ``step``, ``t_ns``, ``actor``, ``cpu``, fields)."""
    step, t_ns, actor, cpu, event, fields = rec
    d: dict[str, Any] = dict(fields)
    d["event"] = event
    d["step"] = step
    d["t_ns"] = t_ns
    d["actor"] = actor
    d["cpu"] = cpu
    return d


def _lines(records: Iterable[TraceRecord]) -> Iterator[str]:
    for rec in records:
        try:
            yield _dumps(record_dict(rec))
        except TypeError as exc:  # a model bug: say which record
            raise TypeError(f"trace record at step {rec[0]} ({rec[4]}) is not JSON: {exc}") from exc


def render_jsonl(records: Iterable[TraceRecord]) -> str:
    """Canonical JSON Lines (one record per line, trailing newline)."""
    return "".join(line + "\n" for line in _lines(records))


def trace_sha256(records: Iterable[TraceRecord]) -> str:
    """sha256 of :func:`render_jsonl` without building the whole string."""
    h = hashlib.sha256()
    for line in _lines(records):
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()
