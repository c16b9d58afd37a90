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
import operator
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
    """``_dumps(record_dict(rec))`` for each record, the same text, about twice as fast.

    The line of a record is its flat dict with sorted keys, so for one event and one list of
    field names every line has the same shape: a ``%`` template (keys, separators and the
    event's string baked in, built once) filled with the values in sorted-key order.  A
    value that is an ``int`` or a ``str`` is written here as the JSON encoder writes it
    (``int.__repr__``; the encoder's own string escaper); any other value (None, a bool, a
    float, a list...) by the encoder itself.  A record that does not fit a template (a
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
        #: (event, *field names) -> (template, getter ordering the values by key), or None
        #: for records rendered the slow way.
        self._templates: dict[tuple[Any, ...], tuple[str, Any] | None] = {}

    def value(self, v: Any) -> str:
        """The JSON text of a field value that is neither an ``int`` nor a ``str``."""
        if v is None:
            return "null"
        if self._c is not None:
            return "".join(self._c(v, 0))
        return _dumps(v)

    def _template(self, event: str, keys: tuple[Any, ...]) -> tuple[str, Any] | None:
        """Records of ``event`` with field names ``keys``: a ``%`` template and the getter
        that orders ``(step, t_ns, actor, cpu, *values)`` by key."""
        if not all(type(k) is str for k in keys) or _FIXED.intersection(keys):
            return None
        at: dict[str, int] = {"step": 0, "t_ns": 1, "actor": 2, "cpu": 3}
        for i, k in enumerate(keys):
            at[k] = i + 4
        parts = []
        for k in sorted([*at, "event"]):
            v = self._esc(event).replace("%", "%%") if k == "event" else "%s"
            parts.append(self._esc(k).replace("%", "%%") + ":" + v)
        picks = [at[k] for k in sorted(at)]
        return "{" + ",".join(parts) + "}", operator.itemgetter(*picks)

    def slow(self, rec: TraceRecord) -> str:
        try:
            return _dumps(record_dict(rec))
        except TypeError as exc:
            raise _bad(rec, exc) from exc

    def lines(self, records: Iterable[TraceRecord]) -> Iterator[list[str]]:
        """The lines of ``records``, in lists of up to ``_CHUNK``."""
        templates = self._templates
        esc = self._esc
        value = self.value
        actors: dict[str, str] = {}
        batch: list[str] = []
        add = batch.append
        for rec in records:
            step, t_ns, actor, cpu, event, fields = rec
            if type(fields) is dict and type(event) is str:
                key = (event, *fields)
                try:
                    plan = templates[key]
                except KeyError:
                    plan = templates[key] = self._template(event, key[1:])
                if (
                    plan is not None
                    and type(step) is int is type(t_ns)
                    and type(actor) is str
                    and (cpu is None or type(cpu) is int)
                ):
                    a = actors.get(actor)
                    if a is None:
                        a = actors[actor] = esc(actor)
                    try:
                        vals = [
                            v if type(v) is int else esc(v) if type(v) is str else value(v)
                            for v in fields.values()
                        ]
                    except TypeError as exc:
                        raise _bad(rec, exc) from exc
                    tmpl, pick = plan
                    add(tmpl % pick((step, t_ns, a, "null" if cpu is None else cpu, *vals)))
                else:
                    add(self.slow(rec))
            else:
                add(self.slow(rec))
            if len(batch) >= _CHUNK:
                yield batch
                batch = []
                add = batch.append
        if batch:
            yield batch


def _chunks(records: Iterable[TraceRecord]) -> Iterator[str]:
    """The canonical text in pieces of whole lines (each piece ends with a newline)."""
    for batch in _Renderer().lines(records):
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
