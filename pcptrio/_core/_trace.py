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
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

__all__ = ["TraceRecord", "record_dict", "render_jsonl", "trace_sha256"]

# (step, t_ns, actor name or "-", cpu or None, event, fields)
TraceRecord = tuple[int, int, str, int | None, str, dict[str, Any]]

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_dumps = _ENCODER.encode
_FIXED = frozenset({"event", "step", "t_ns", "actor", "cpu"})
#: Records rendered per ``"\n".join`` (and per hash update).
_CHUNK = 4096


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


def _bad(rec: TraceRecord, exc: TypeError) -> TypeError:
    """A record that is not JSON: a model bug; say which record."""
    return TypeError(f"trace record at step {rec[0]} ({rec[4]}) is not JSON: {exc}")


class _Renderer:
    """``_dumps(record_dict(rec))`` for each record, the same text, 2.5-3 times as fast.

    The line of a record is its flat dict with sorted keys, so for one event and one list of
    field names every line has the same shape.  For each shape a small function is generated
    once (as attrs and dataclasses generate ``__init__``): a ``%`` template with the keys,
    separators and the event's string baked in, filled with the values in sorted-key order.
    A value that is an ``int`` or a ``str`` is written as the JSON encoder writes it
    (``int.__repr__``; the encoder's own string escaper); any other value (None, a bool, a
    float, a list...) by the encoder itself.  A record that does not fit a shape (a
    non-string key, a field named like a fixed key, a step, time, actor or CPU of another
    type) is rendered the slow way: the text never depends on which way a record went.
    """

    def __init__(self) -> None:
        # The C encoder json.dumps makes per call, made once.
        self._c: Any = None
        c_make = getattr(json.encoder, "c_make_encoder", None)
        if c_make is not None:
            self._c = c_make(
                {}, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",",
                True, False, True,
            )  # fmt: skip
        self._esc = json.encoder.encode_basestring
        #: (event, *field names), or the event of a record without fields -> the shape's
        #: line function, or None for records rendered the slow way.
        self._shapes: dict[tuple[Any, ...] | str, Any] = {}

    def value(self, v: Any) -> str:
        """The JSON text of a field value that is neither an ``int`` nor a ``str``."""
        if v is None:
            return "null"
        if self._c is not None:
            return "".join(self._c(v, 0))
        return _dumps(v)

    def _shape(self, event: str, keys: tuple[Any, ...]) -> Any:
        """The line function of records of ``event`` with field names ``keys``:
        ``line(step, t_ns, actor_json, cpu_json, fields) -> str``."""
        if not all(type(k) is str for k in keys) or _FIXED.intersection(keys):
            return None
        esc = self._esc
        at: dict[str, str] = {"step": "step", "t_ns": "t_ns", "actor": "a", "cpu": "c"}
        for i, k in enumerate(keys):
            at[k] = f"v{i}"
        parts, args = [], []
        for k in sorted([*at, "event"]):
            head = esc(k).replace("%", "%%") + ":"
            if k == "event":
                parts.append(head + esc(event).replace("%", "%%"))
            else:
                parts.append(head + "%s")
                args.append(at[k])
        template = "{" + ",".join(parts) + "}"
        vs = [f"v{i}" for i in range(len(keys))]
        src = ["def line(step, t_ns, a, c, fields):"]
        if vs:
            src.append(f"    {', '.join(vs)}, = fields.values()")
        for v in vs:
            src.append(
                f"    if type({v}) is not int:\n"
                f"        {v} = esc({v}) if type({v}) is str else value({v})"
            )
        src.append(f"    return {template!r} % ({', '.join(args)},)")
        ns: dict[str, Any] = {"esc": esc, "value": self.value}
        exec("\n".join(src), ns)  # the source is built above from escaped keys
        return ns["line"]

    def slow(self, rec: TraceRecord) -> str:
        try:
            return _dumps(record_dict(rec))
        except TypeError as exc:
            raise _bad(rec, exc) from exc

    def lines(self, records: Sequence[TraceRecord]) -> Iterator[list[str]]:
        """The lines of ``records``, in lists of up to ``_CHUNK``."""
        shapes = self._shapes
        esc = self._esc
        actors: dict[str, str] = {}
        for start in range(0, len(records), _CHUNK):
            batch: list[str] = []
            add = batch.append
            for rec in records[start : start + _CHUNK]:
                step, t_ns, actor, cpu, event, fields = rec
                line = None
                if (
                    type(fields) is dict
                    and type(event) is str
                    and type(step) is int is type(t_ns)
                    and type(actor) is str
                    and (cpu is None or type(cpu) is int)
                ):
                    # The shape's key: the event alone for a record without fields (half of a
                    # long run's: its "spend" steps); a str never equals a tuple.
                    key = (event, *fields) if fields else event
                    try:
                        line = shapes[key]
                    except KeyError:
                        line = shapes[key] = self._shape(event, tuple(fields))
                if line is None:
                    add(self.slow(rec))
                    continue
                a = actors.get(actor)
                if a is None:
                    a = actors[actor] = esc(actor)
                try:
                    add(line(step, t_ns, a, "null" if cpu is None else cpu, fields))
                except TypeError as exc:
                    raise _bad(rec, exc) from exc
            yield batch


#: One renderer for the process: its line functions are made once per shape, not once per
#: trace (a campaign hashes thousands of short traces of the same few shapes).
_RENDERER = _Renderer()


def _chunks(records: Sequence[TraceRecord]) -> Iterator[str]:
    """The canonical text in pieces of whole lines (each piece ends with a newline)."""
    for batch in _RENDERER.lines(records):
        batch.append("")
        yield "\n".join(batch)


def _lines(records: Iterable[TraceRecord]) -> Iterator[str]:
    """The reference rendering, one record at a time (what :class:`_Renderer` must match)."""
    for rec in records:
        try:
            yield _dumps(record_dict(rec))
        except TypeError as exc:  # a model bug: say which record
            raise _bad(rec, exc) from exc


def _again(records: Iterable[TraceRecord]) -> Sequence[TraceRecord]:
    """``records`` as a sequence that can be read twice."""
    return records if isinstance(records, list | tuple) else list(records)


def render_jsonl(records: Iterable[TraceRecord]) -> str:
    """Canonical JSON Lines (one record per line, trailing newline)."""
    records = _again(records)
    try:
        return "".join(_chunks(records))
    except Exception:
        # A record that is not JSON (a model bug): fail as the reference does, with the
        # same exception for the same record, however the fast path happened to stumble.
        return "".join(line + "\n" for line in _lines(records))


def trace_sha256(records: Iterable[TraceRecord]) -> str:
    """sha256 of :func:`render_jsonl` without building the whole string."""
    records = _again(records)
    h = hashlib.sha256()
    try:
        for piece in _chunks(records):
            h.update(piece.encode())
    except Exception:  # as in render_jsonl: the reference's own exception
        h = hashlib.sha256()
        for line in _lines(records):
            h.update(line.encode())
            h.update(b"\n")
    return h.hexdigest()
