"""Conformance checker for Chrome Trace Event Format JSON, read the way Perfetto imports it.

A test helper (not shipped): :func:`check_trace` takes the object :func:`pcptrio.perfetto_trace`
returns (or :func:`check_file` a written file) and lists every way it breaks the rules below,
each with the index of the offending event in ``traceEvents``.  It stands in for loading the
file with Perfetto's ``trace_processor``, whose shell binary cannot be downloaded in CI.

Sources (looked up for this module; the rule ids in brackets are :attr:`Violation.rule`):

* **TEF** — the Trace Event Format document ("Trace Event Format", Google Docs
  ``1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU``; read through its field-by-field
  transcription in wix-incubator/trace-event-lib's ``CompleteEvent``, ``CounterEvent``,
  ``DurationEvent``, ``MetadataProcessSortIndexEvent`` and ``TraceEventJSONObject`` pages).
* **PD** — Perfetto's docs: ``docs/faq.md`` ("Why are overlapping events in JSON traces not
  displayed correctly?": B/E/X events may only nest perfectly) and
  ``docs/reference/synthetic-track-event.md`` ("child slices nest perfectly inside parent
  slices and do not partially overlap").
* **TP** — Perfetto's JSON importer, google/perfetto ``src/trace_processor/importers/``:
  ``json/json_trace_tokenizer.cc`` (``ts`` is read from the number's text and shifted to integer
  ns; events other than ``M`` without ``ts`` are dropped; ``displayTimeUnit`` is *ignored* for
  parsing, stat ``json_display_time_unit``: "in some prior versions of trace processor this
  key could effect how the trace processor parsed timestamps"), ``json/json_utils.cc``
  (``CoerceToTs``: a double ``dur`` becomes ``(int64) (dur * 1000.0)``, truncated),
  ``json/json_trace_parser_impl.cc`` (per-phase handling: ``X`` without ``dur`` dropped, ``C``
  args must be an object of numbers, ``i`` scope ``g``/``p``/``t``, v1 flows keyed by
  (``id``, ``cat``, ``name``), ``bp: "e"`` binds the enclosing slice, anything else the next
  one), ``common/slice_tracker.cc`` (``MaybeCloseStack``: slices are half-open ``[ts, ts+dur)``;
  a complete event that starts inside an open slice and ends after it is dropped, stat
  ``slice_drop_overlapping_complete_event``; ended slices are popped only when the next slice
  event on the track arrives) and ``common/flow_tracker.cc`` (a flow event binds the slice on
  top of the track's stack at that moment, stat ``flow_no_enclosing_slice`` if there is none).

Rules:

==================  =====================================================================  ======
rule                what                                                                   source
==================  =====================================================================  ======
``top-level``       a JSON array of events, or an object whose ``traceEvents`` is one;     TEF
                    ``displayTimeUnit``, if present, is ``"ms"`` or ``"ns"``
``fields``          ``ph`` is a known phase; ``pid`` (and ``tid`` where the event lives    TEF, TP
                    on a thread) non-negative ints; ``name`` a string (``E`` may omit
                    it); ``ts`` a finite number >= 0 (``M`` may omit it); ``X`` has
                    ``dur`` >= 0; flows and async events have ``id`` and ``cat``;
                    ``args`` an object; instant scope ``s`` in g/p/t; flow ``bp`` is "e"
``counter``         ``C`` has a non-empty ``args`` object of finite numbers (no strings,   TEF, TP
                    no booleans)
``metadata``        ``M`` is one of process_name / process_labels / process_sort_index /   TEF, TP
                    thread_name / thread_sort_index, with ``args.name`` / ``labels`` a
                    string or ``args.sort_index`` an int
``begin-end``       per track, B/E come in timestamp order, every E closes the innermost   TEF, TP
                    open B (same name if it has one), every B is closed
``nesting``         per track (pid, tid), slices (X and B/E pairs) nest or follow each     TEF, PD,
                    other: one that starts inside another ends inside it.  Checked in two  TP
                    readings of the timestamps (see below)
``flow``            per flow (``cat``, ``id``): one ``s``, one ``f``, steps between them    TEF, TP
                    in time; all with the same ``name`` (TP keys v1 flows by name too)
``flow-binding``    ``s``, ``t`` and ``f`` with ``bp: "e"`` fall inside a slice on their   TEF, TP
                    track (``f`` without it: a slice starts on the track after it); never
                    on a slice's start or end, where the binding depends on the order in
                    which an importer takes events with equal timestamps
``flow-perfetto``   Perfetto binds the flow event to the same slice: it takes the top of   TP
                    the track's stack, where a slice that has ended stays until the next
                    slice event on the track arrives
``async``           ``b``/``e`` balanced per (pid, ``cat``, ``id``)                         TEF, TP
==================  =====================================================================  ======

Two readings of time.  ``ts`` and ``dur`` are microseconds (TEF).  The *format* reading takes
them exactly as written (the number's decimal text, as a fraction): the one chrome://tracing
approximates with doubles.  The *perfetto* reading is what trace_processor stores: integer
nanoseconds, ``ts`` from the text with the digits past the nanosecond cut off, ``dur`` as
``(int64) (double(dur) * 1000.0)``.  A trace must nest in both.  (Old trace processors read
``ts`` through the double too, and honoured ``displayTimeUnit: "ns"`` as the unit of ``ts``
when the key came early in the file; current ones ignore it, as catapult does.)

Example::

    report = check_trace(perfetto_trace(result))
    assert report.ok, report.format()
"""

from __future__ import annotations

import json
import math
import pathlib
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs

__all__ = ["FlowBinding", "Report", "Violation", "check_file", "check_trace"]

#: Phases of the Trace Event Format (TEF's "Event Descriptions"; ``I`` is the old instant).
PHASES = frozenset("BEXiICbneSTpFstfPNODMVvRc()")
_THREAD_PHASES = frozenset("BEXstf")  # always on a thread track, so ``tid`` is required
_FLOW_PHASES = frozenset("stf")
_ASYNC_PHASES = frozenset("bne")
#: Metadata event name -> (the ``args`` key it needs, its type, whether it names a thread).
_METADATA: dict[str, tuple[str, type, bool]] = {
    "process_name": ("name", str, False),
    "process_labels": ("labels", str, False),
    "process_sort_index": ("sort_index", int, False),
    "thread_name": ("name", str, True),
    "thread_sort_index": ("sort_index", int, True),
}


@attrs.frozen
class Violation:
    """One broken rule: which, at which event (index in ``traceEvents``), and how."""

    rule: str
    event: int | None
    message: str

    def __str__(self) -> str:
        where = "trace" if self.event is None else f"event {self.event}"
        return f"[{self.rule}] {where}: {self.message}"


@attrs.frozen
class FlowBinding:
    """Where a flow event attaches: the slice's event index in each reading (None: nowhere)."""

    event: int
    ph: str
    flow: tuple[str, str]
    slice: int | None
    perfetto_slice: int | None


@attrs.frozen
class Report:
    """What :func:`check_trace` found."""

    violations: tuple[Violation, ...]
    flows: tuple[FlowBinding, ...]
    slices: int

    @property
    def ok(self) -> bool:
        return not self.violations

    def rules(self) -> dict[str, int]:
        """Number of violations per rule."""
        return dict(Counter(v.rule for v in self.violations))

    def format(self, limit: int = 20) -> str:
        """The first ``limit`` violations, one a line, and how many more there are."""
        lines = [str(v) for v in self.violations[:limit]]
        if len(self.violations) > limit:
            lines.append(f"... and {len(self.violations) - limit} more")
        return "\n".join(lines) or "conforms"


@attrs.frozen
class _Slice:
    """A slice on a thread track, in both readings of time (format: exact ns)."""

    event: int
    name: str
    start: Fraction
    end: Fraction
    p_start: int
    p_end: int
    instant: bool = False  # thread-scoped instant: a zero-length slice to Perfetto only


@attrs.frozen
class _Flow:
    event: int
    ph: str
    name: str
    track: tuple[int, int]
    ts: Fraction
    p_ts: int
    enclosing: bool  # binds the enclosing slice (s, t, f with bp "e"), else the next one


# ---------------------------------------------------------------------------- numbers


def _is_number(v: object) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    if isinstance(v, float):
        return math.isfinite(v)
    return isinstance(v, Decimal) and v.is_finite()


def _exact(v: int | float | Decimal) -> Fraction:
    """The number as written: a float from ``json.loads`` or :func:`pcptrio.perfetto_trace`
    is written by ``json.dumps`` as ``repr(v)``, so that text is its value."""
    return Fraction(repr(v)) if isinstance(v, float) else Fraction(v)


def _ns(v: int | float | Decimal) -> Fraction:
    """Format reading: microseconds as written, in exact nanoseconds."""
    return _exact(v) * 1000


def _perfetto_ts(v: int | float | Decimal) -> int:
    """Perfetto's ``ts``: the decimal text shifted by three digits, the rest cut off."""
    return int(_exact(v) * 1000)


def _perfetto_dur(v: int | float | Decimal) -> int:
    """Perfetto's ``dur``: ``(int64) (double * 1000.0)`` for a fraction, ``* 1000`` for an int."""
    if isinstance(v, int):
        return v * 1000
    return int(float(v) * 1000.0)


def _fmt(ns: Fraction) -> str:
    return f"{float(ns):.2f} ns" if ns.denominator != 1 else f"{ns} ns"


# ---------------------------------------------------------------------------- the checker


class _Checker:
    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self.slices: dict[tuple[int, int], list[_Slice]] = {}
        self.flows: list[_Flow] = []
        self.flow_ids: dict[tuple[str, str], list[_Flow]] = {}
        self.begins: dict[tuple[int, int], list[tuple[int, dict[str, Any]]]] = {}
        self.ends: dict[tuple[int, int], list[tuple[int, dict[str, Any]]]] = {}
        self.asyncs: dict[tuple[int, str, str], list[tuple[int, dict[str, Any]]]] = {}

    def bad(self, rule: str, event: int | None, message: str) -> None:
        self.violations.append(Violation(rule, event, message))

    # ------------------------------------------------------------------ one event

    def event(self, i: int, ev: object) -> None:
        if not isinstance(ev, dict):
            self.bad("fields", i, f"an event must be a JSON object, not {type(ev).__name__}")
            return
        ph = ev.get("ph")
        if not isinstance(ph, str) or ph not in PHASES:
            self.bad("fields", i, f"unknown phase ph={ph!r}")
            return
        if not self.fields(i, ph, ev):
            return
        pid: int = ev["pid"]
        tid: int = ev.get("tid", pid)  # (only process-wide events may lack one)
        track = (pid, tid)
        if ph == "X":
            start = _ns(ev["ts"])
            p_start = _perfetto_ts(ev["ts"])
            self.slices.setdefault(track, []).append(
                _Slice(
                    i,
                    ev["name"],
                    start,
                    start + _ns(ev["dur"]),
                    p_start,
                    p_start + _perfetto_dur(ev["dur"]),
                )
            )
        elif ph == "B":
            self.begins.setdefault(track, []).append((i, ev))
        elif ph == "E":
            self.ends.setdefault(track, []).append((i, ev))
        elif ph in "iI" and ev.get("s", "t") == "t":
            ts, p_ts = _ns(ev["ts"]), _perfetto_ts(ev["ts"])
            self.slices.setdefault(track, []).append(
                _Slice(i, ev["name"], ts, ts, p_ts, p_ts, instant=True)
            )
        elif ph == "C":
            self.counter(i, ev)
        elif ph == "M":
            self.metadata(i, ev)
        elif ph in _FLOW_PHASES:
            flow = _Flow(
                i,
                ph,
                ev["name"],
                track,
                _ns(ev["ts"]),
                _perfetto_ts(ev["ts"]),
                ph != "f" or ev.get("bp") == "e",
            )
            self.flows.append(flow)
            self.flow_ids.setdefault((ev["cat"], _flow_id(ev["id"])), []).append(flow)
        elif ph in "be":
            key = (pid, ev["cat"], str(ev.get("id", ev.get("id2"))))
            self.asyncs.setdefault(key, []).append((i, ev))

    def fields(self, i: int, ph: str, ev: dict[str, Any]) -> bool:
        """Required fields and their types; False if the event cannot be placed at all."""
        ok = True

        def need(cond: bool, message: str) -> None:
            nonlocal ok
            if not cond:
                self.bad("fields", i, f"{ph!r} event {ev.get('name')!r}: {message}")
                ok = False

        pid = ev.get("pid")
        need(_is_uint(pid), f"pid must be a non-negative int, not {pid!r}")
        needs_tid = (
            ph in _THREAD_PHASES
            or (ph in "iI" and ev.get("s", "t") == "t")
            or (ph == "M" and _METADATA.get(str(ev.get("name")), ("", str, False))[2])
        )
        if needs_tid or "tid" in ev:
            need(_is_uint(ev.get("tid")), f"tid must be a non-negative int, not {ev.get('tid')!r}")
        if ph != "E" or "name" in ev:
            need(isinstance(ev.get("name"), str), "needs a string name")
        if ph != "M" or "ts" in ev:
            ts: Any = ev.get("ts")
            need(_is_number(ts) and ts >= 0, f"ts must be a number >= 0, not {ts!r}")
        if ph == "X":
            dur: Any = ev.get("dur")
            need(_is_number(dur) and dur >= 0, f"dur must be a number >= 0, not {dur!r}")
        if ph in _FLOW_PHASES or ph in _ASYNC_PHASES:
            has_id = isinstance(ev.get("id"), int | str) and not isinstance(ev.get("id"), bool)
            need(has_id or (ph in _ASYNC_PHASES and "id2" in ev), "needs an id")
            need(isinstance(ev.get("cat"), str), "needs a string cat (it keys the id)")
        if "cat" in ev:
            need(isinstance(ev["cat"], str), "cat must be a string")
        if "args" in ev:
            need(isinstance(ev["args"], dict), "args must be an object")
        if ph in "iI" and "s" in ev:
            need(ev["s"] in ("g", "p", "t"), f"instant scope s must be g, p or t, not {ev['s']!r}")
        if ph in _FLOW_PHASES and "bp" in ev:
            need(ev["bp"] == "e", f"bp must be 'e', not {ev['bp']!r}")
        return ok

    def counter(self, i: int, ev: dict[str, Any]) -> None:
        args = ev.get("args")
        if not isinstance(args, dict) or not args:
            self.bad("counter", i, f"counter {ev['name']!r} needs args with its series")
            return
        for key, value in args.items():
            if not _is_number(value):
                self.bad(
                    "counter", i, f"counter {ev['name']!r} series {key!r}: {value!r} is no number"
                )

    def metadata(self, i: int, ev: dict[str, Any]) -> None:
        name = ev["name"]
        spec = _METADATA.get(name)
        if spec is None:
            self.bad("metadata", i, f"unknown metadata {name!r} (importers ignore it)")
            return
        key, typ, _ = spec
        value = ev.get("args", {}).get(key) if isinstance(ev.get("args"), dict) else None
        if not isinstance(value, typ) or isinstance(value, bool) or value == "":
            self.bad("metadata", i, f"{name} needs args.{key}: {typ.__name__}, got {value!r}")

    # ------------------------------------------------------------------ whole trace

    def begin_end(self) -> None:
        """Pair B with E per track (in time order) into slices."""
        for track in sorted(set(self.begins) | set(self.ends)):
            evs = sorted(self.begins.get(track, []) + self.ends.get(track, []), key=lambda p: p[0])
            last = None
            for i, ev in evs:
                if last is not None and _exact(ev["ts"]) < last:
                    self.bad("begin-end", i, f"B/E on track {track} out of timestamp order")
                last = _exact(ev["ts"])
            stack: list[tuple[int, dict[str, Any]]] = []
            for i, ev in sorted(evs, key=lambda p: (_exact(p[1]["ts"]), p[0])):
                if ev["ph"] == "B":
                    stack.append((i, ev))
                    continue
                if not stack:
                    self.bad("begin-end", i, f"E on track {track} closes no open B")
                    continue
                j, b = stack.pop()
                if "name" in ev and ev["name"] != b["name"]:
                    self.bad("begin-end", i, f"E {ev['name']!r} closes B {b['name']!r} (event {j})")
                self.slices.setdefault(track, []).append(
                    _Slice(
                        j,
                        b["name"],
                        _ns(b["ts"]),
                        _ns(ev["ts"]),
                        _perfetto_ts(b["ts"]),
                        _perfetto_ts(ev["ts"]),
                    )
                )
            for j, b in stack:
                self.bad("begin-end", j, f"B {b['name']!r} on track {track} is never ended")

    def nesting(self) -> None:
        for track, slices in sorted(self.slices.items()):
            real = [s for s in slices if not s.instant]
            for model in ("format", "perfetto"):
                self.nest(track, real, model)

    def nest(self, track: tuple[int, int], slices: list[_Slice], model: str) -> None:
        def span(s: _Slice) -> tuple[Fraction, Fraction]:
            if model == "format":
                return s.start, s.end
            return Fraction(s.p_start), Fraction(s.p_end)

        stack: list[_Slice] = []
        for s in sorted(slices, key=lambda s: (span(s)[0], -span(s)[1], s.event)):
            a, b = span(s)
            while stack and span(stack[-1])[1] <= a:
                stack.pop()
            if stack and b > span(stack[-1])[1]:
                p = stack[-1]
                pa, pb = span(p)
                self.bad(
                    "nesting",
                    s.event,
                    f"{model} reading: slice {s.name!r} [{_fmt(a)}, {_fmt(b)}) starts inside "
                    f"{p.name!r} (event {p.event}) [{_fmt(pa)}, {_fmt(pb)}) on track {track} "
                    f"and ends after it: they share {_fmt(pb - a)}",
                )
                continue  # (Perfetto drops it; keep checking the rest against the stack)
            stack.append(s)

    def flow_pairs(self) -> None:
        for (cat, fid), evs in sorted(self.flow_ids.items()):
            phs = [f.ph for f in evs]
            first = evs[0].event
            if phs.count("s") != 1 or phs.count("f") != 1:
                self.bad(
                    "flow",
                    first,
                    f"flow {cat}/{fid} needs one s and one f, has {''.join(sorted(phs))}",
                )
                continue
            (s,) = [f for f in evs if f.ph == "s"]
            (f,) = [f for f in evs if f.ph == "f"]
            if any(x.ts < s.ts for x in evs) or any(x.ts > f.ts for x in evs):
                self.bad("flow", s.event, f"flow {cat}/{fid} must start with s and end with f")
            if len({x.name for x in evs}) > 1:
                self.bad("flow", first, f"flow {cat}/{fid} changes name (Perfetto splits it)")

    def flow_bindings(self) -> list[FlowBinding]:
        perfetto = self.perfetto_bindings()
        out: list[FlowBinding] = []
        keys = {f.event: key for key, fs in self.flow_ids.items() for f in fs}
        for flow in self.flows:
            slices = [s for s in self.slices.get(flow.track, []) if not s.instant]
            bound = _bind(flow, slices)
            what = f"flow {flow.ph!r} {flow.name!r} on track {flow.track} at {_fmt(flow.ts)}"
            if bound is None:
                where = "inside" if flow.enclosing else "after"
                self.bad("flow-binding", flow.event, f"{what}: no slice {where} it to bind to")
            edges = [s for s in slices if flow.ts in (s.start, s.end)]
            p_edges = [s for s in slices if flow.p_ts in (s.p_start, s.p_end)]
            if edges or p_edges:
                e = (edges or p_edges)[0]
                self.bad(
                    "flow-binding",
                    flow.event,
                    f"{what}: on an edge of slice {e.name!r} (event {e.event})"
                    + ("" if edges else " in the perfetto reading")
                    + "; the binding depends on how ties are ordered",
                )
            got = perfetto.get(flow.event)
            want = bound.event if bound else None
            if bound is not None and got != want:
                by_event = {s.event: s for s in self.slices.get(flow.track, [])}
                other = f"{by_event[got].name!r} (event {got})" if got is not None else "nothing"
                self.bad(
                    "flow-perfetto",
                    flow.event,
                    f"{what}: Perfetto binds it to {other}, not {bound.name!r} (event {want})",
                )
            out.append(FlowBinding(flow.event, flow.ph, keys[flow.event], want, got))
        return out

    def perfetto_bindings(self) -> dict[int, int | None]:
        """Replay each track the way trace_processor does: events by integer-ns time, a
        stack of slices popped lazily, flows bound to its top (or, without ``bp: "e"``, to
        the next slice pushed)."""
        got: dict[int, int | None] = {}
        for track in {f.track for f in self.flows}:
            items: list[tuple[int, int, int, int, _Slice | _Flow]] = []
            for s in self.slices.get(track, []):
                items.append((s.p_start, 0, s.p_start - s.p_end, s.event, s))
            for f in self.flows:
                if f.track == track:
                    items.append((f.p_ts, 1, 0, f.event, f))
            stack: list[_Slice] = []
            pending: list[_Flow] = []
            for ts, _, _, _, item in sorted(items, key=lambda x: x[:4]):
                if isinstance(item, _Flow):
                    if item.enclosing:
                        got[item.event] = stack[-1].event if stack else None
                    else:
                        pending.append(item)
                    continue
                dur = item.p_end - item.p_start
                while stack:
                    top = stack[-1]
                    top_dur = top.p_end - top.p_start
                    if top.p_end < ts or (top.p_end == ts and not (top_dur == 0 and dur == 0)):
                        stack.pop()
                    else:
                        break
                if any(ts < s.p_end < ts + dur for s in stack):
                    continue  # dropped as a partial overlap (reported by the nesting rule)
                stack.append(item)
                for f in pending:
                    got[f.event] = item.event
                pending.clear()
            for f in pending:
                got[f.event] = None
        return got

    def async_pairs(self) -> None:
        for key, evs in sorted(self.asyncs.items()):
            depth = 0
            for i, ev in sorted(evs, key=lambda p: (_exact(p[1]["ts"]), p[0])):
                depth += 1 if ev["ph"] == "b" else -1
                if depth < 0:
                    self.bad("async", i, f"async e {ev['name']!r} {key} closes nothing")
                    depth = 0
            if depth:
                self.bad("async", evs[0][0], f"async {key}: {depth} b never ended")


def _is_uint(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _flow_id(v: int | str) -> str:
    """Perfetto reads a string id as hex (``CStringToUInt64(s, 16)``): 10 and "a" are one id."""
    if isinstance(v, str):
        try:
            return str(int(v, 16))
        except ValueError:
            return v
    return str(v)


def _bind(flow: _Flow, slices: list[_Slice]) -> _Slice | None:
    """The slice the format binds ``flow`` to: the innermost one around it, or the next."""
    if flow.enclosing:
        around = [s for s in slices if s.start <= flow.ts < s.end]
        return max(around, key=lambda s: (s.start, -s.end, s.event), default=None)
    after = [s for s in slices if s.start >= flow.ts]
    return min(after, key=lambda s: (s.start, -s.end, s.event), default=None)


def check_trace(data: object) -> Report:
    """Check a Chrome Trace Event Format trace (the parsed JSON) against the rules above."""
    c = _Checker()
    events: object = data
    if isinstance(data, Mapping):
        unit = data.get("displayTimeUnit")
        if unit is not None and unit not in ("ms", "ns"):
            c.bad("top-level", None, f"displayTimeUnit must be 'ms' or 'ns', not {unit!r}")
        events = data.get("traceEvents")
    if not isinstance(events, list):
        c.bad("top-level", None, "a trace is an array of events or has a traceEvents array")
        return Report(tuple(c.violations), (), 0)
    for i, ev in enumerate(events):
        c.event(i, ev)
    c.begin_end()
    c.nesting()
    c.flow_pairs()
    flows = c.flow_bindings()
    c.async_pairs()
    n_slices = sum(1 for ss in c.slices.values() for s in ss if not s.instant)
    return Report(tuple(c.violations), tuple(flows), n_slices)


def check_file(path: str | pathlib.Path) -> Report:
    """:func:`check_trace` on a JSON file, reading numbers from their exact text."""
    text = pathlib.Path(path).read_text(encoding="utf-8")
    return check_trace(json.loads(text, parse_float=Decimal))
