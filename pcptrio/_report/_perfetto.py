"""Export a run as Chrome Trace Event JSON, for https://ui.perfetto.dev and chrome://tracing.

A failing interleaving is easier to see than to read: one track per actor, slices for what
spans time, arrows for who handed work to whom.  The mapping:

==================  ==========================================================================
Perfetto            pcptrio
==================  ==========================================================================
process (pid 1)     the machine: "pcptrio <scenario> × <design>"
thread (tid)        one actor (``cpu1/kworker:0``, ``reclaimer``, ``ipi:…->cpu2``), in order of
                    first appearance; sorted by the CPU it first ran on, so a CPU's kworkers
                    sit together.  tid 1 collects events with no actor (timer callbacks:
                    ``mayday``, ``wq_lockup``)
``X`` slice         a work item (``work_start`` … ``work_end``), a drain call
                    (``drain_all_pages`` … ``drain_all_pages_done``), an IPI handler
                    (``ipi_handler`` … ``exit``), a lock hold (``spin_lock``/``mutex_lock``/
                    ``down_read``/``down_write`` … unlock, by the same actor on the same lock)
``s``/``f`` flow    ``queue_work_on`` → the work's slice it started; a work's slice (its latest
                    completed run) → each ``flush_done`` of that work
``i`` instant       hotplug steps, ``mayday``, ``wq_lockup``, ``alloc_fail``,
                    ``flush_dependency_warning``, and the violation (global)
``C`` counter       per CPU: PCP pages and pending works; per zone: free pages (needs the
                    :class:`~pcptrio._report._rows.StepRow` samples of a replay)
==================  ==========================================================================

**Time.**  Virtual time only advances when every actor waits, so hundreds of records can
share one ``t_ns``; drawn at their true time they would collapse into zero-width slivers in
an unknowable order.  Each record ``i`` therefore gets a slot of :data:`NS_PER_RECORD` (3)
nanoseconds starting at ``N = t_ns + 3 * i``, which keeps the order of the trace, gives every
slice a positive width, and distorts time by three nanoseconds per record.  Within its slot::

     N      N+¼      N+1¼            N+2½  N+3 N+3¼
     |------[--------•---------------)-----|---[------   (ns; the next record's slot at N+3)
            a slice   a flow event   a slice   the next slice
            opens     bound to it    closes    opens

A slice runs from ``N(open) + ¼`` to ``N(close) + 2½``; instants and counter samples sit at
``N + ¼``; a flow event at ``N + 1¼`` of the record that *opens* the slice it binds to.  The
endpoints of arrows that have no slice of their own (``queue_work_on``, ``flush_done``) get a
marker slice of their own record.

Why these numbers.  The format's unit is the microsecond, written as a decimal, and two
readers read it differently: the format itself (chrome://tracing) takes the number as
written, ``ts + dur`` in exact (or double) arithmetic; Perfetto's importer cuts ``ts`` to
integer nanoseconds from the text and truncates ``double(dur) * 1000``.  Quarter offsets keep
every value a quarter nanosecond away from an integer, so both readings give back the intended
nanosecond, and a slice's end (``N + 2½``, Perfetto: ``N + 2``) stays short of the next slot
(``N + 3¼``, Perfetto: ``N + 3``) in both: siblings on a track never share an instant and a
child never outlives its parent.  (The earlier scheme, 2 ns per record and
``(ns + ¼) / 1000`` for both ``ts`` and ``dur``, ended a slice where the next began in
Perfetto's reading but a quarter nanosecond *after* it as written: tens to hundreds of partial
overlaps per trace for an exact reader.)  Every value is a multiple of 1/4000 µs below
10¹⁰ µs, so ``json`` writes it exactly, in at most 15 significant digits.

A flow event sits on the opening record of its slice, also for the arrow out of a work's
end, because Perfetto binds a flow event to the top of the track's slice stack, and a slice
that has ended (a lock released inside the work) stays on that stack until the next slice
event on the track: a flow event at ``work_end`` would bind to the released lock.

Slices still open when the run ended (the hung work, the drain that never returned — usually
the interesting ones) are closed at the end of the trace and carry ``"unfinished": true``.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence
from typing import Any

from .._core import RunResult
from .._explore import token_of
from ._rows import StepRow

__all__ = ["INSTANTS", "NS_PER_RECORD", "perfetto_trace", "write_perfetto"]

PID = 1
TIMER_TID = 1
_FIRST_ACTOR_TID = 2

#: Instant events, by trace event name.
INSTANTS = frozenset(
    {
        "cpu_offline",
        "cpu_online",
        "cpu_down_begin",
        "cpu_down_end",
        "cpu_up_begin",
        "cpu_up_end",
        "cpu_up_failed",
        "mayday",
        "wq_lockup",
        "alloc_fail",
        "flush_dependency_warning",
    }
)
_LOCKS = {
    "spin_lock": "spin_unlock",
    "spin_trylock": "spin_unlock",
    "mutex_lock": "mutex_unlock",
    "mutex_trylock": "mutex_unlock",
    "down_read": "up_read",
    "down_write": "up_write",
}
_UNLOCKS = {"spin_unlock", "mutex_unlock", "up_read", "up_write"}
_TRYLOCKS = {"spin_trylock", "mutex_trylock"}


#: Drawn nanoseconds per trace record (see "Time" above).
NS_PER_RECORD = 3
# Offsets within a record's slot, in quarter nanoseconds (see "Time" above).
_AT = 1  # N + 1/4: a slice opens, an instant or a counter sample
_FLOW = 5  # N + 1 1/4: a flow event, bound to the slice that opens at N
_END = 10  # N + 2 1/2: a slice closes


def _us(quarters: int) -> float:
    """``quarters`` quarter nanoseconds as microseconds (an exact decimal, 5 digits at most)."""
    return quarters / 4000


class _Builder:
    """Turns trace records into events; one builder per export."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        self.trace = result.trace
        self.events: list[dict[str, Any]] = []
        self.tids: dict[str, int] = {}
        self.first_cpu: dict[str, int | None] = {}
        self.flow_id = 0
        #: (actor, key) -> (start record index, name, cat, args); key names what closes it
        self.open: dict[tuple[str, str], tuple[int, str, str, dict[str, Any]]] = {}
        #: open lock slices that a trylock opened (dropped if never released)
        self.tried: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ basics

    def ns(self, i: int) -> int:
        """Start of record ``i``'s slot: virtual time plus three nanoseconds per record."""
        return self.trace[i][1] + NS_PER_RECORD * i

    def q(self, i: int, offset: int) -> int:
        """Record ``i``'s slot start plus ``offset``, in quarter nanoseconds."""
        return 4 * self.ns(i) + offset

    def tid(self, actor: str, cpu: int | None) -> int:
        if actor == "-":
            return TIMER_TID
        t = self.tids.get(actor)
        if t is None:
            t = self.tids[actor] = _FIRST_ACTOR_TID + len(self.tids)
            self.first_cpu[actor] = cpu
        return t

    def slice(
        self, actor: str, start: int, close: int, name: str, cat: str, args: dict[str, Any]
    ) -> None:
        """A slice from record ``start`` to record ``close`` (the end of ``close``'s slot)."""
        rec = self.trace[start]
        ts = self.q(start, _AT)
        self.events.append(
            {
                "ph": "X",
                "pid": PID,
                "tid": self.tid(actor, rec[3]),
                "name": name,
                "cat": cat,
                "ts": _us(ts),
                "dur": _us(self.q(close, _END) - ts),
                "args": args,
            }
        )

    def flow(self, name: str, src: int, dst: int) -> None:
        """An arrow from the slice opened at record ``src`` to the one opened at ``dst``."""
        self.flow_id += 1
        for ph, i in (("s", src), ("f", dst)):
            _, _, actor, cpu, _, _ = self.trace[i]
            ev: dict[str, Any] = {
                "ph": ph,
                "pid": PID,
                "tid": self.tid(actor, cpu),
                "name": name,
                "cat": "flow",
                "id": self.flow_id,
                "ts": _us(self.q(i, _FLOW)),
            }
            if ph == "f":
                ev["bp"] = "e"
            self.events.append(ev)

    def marker(self, i: int, name: str) -> None:
        _, _, actor, _, _, fields = self.trace[i]
        self.slice(actor, i, i, name, "marker", dict(fields))

    # ------------------------------------------------------------------ the walk

    def open_slice(self, i: int, key: str, name: str, cat: str) -> None:
        _, _, actor, _, _, fields = self.trace[i]
        self.open[(actor, key)] = (i, name, cat, {**fields, "step": self.trace[i][0]})

    def close_slice(self, i: int, key: str) -> int | None:
        """Close the slice ``key`` of record ``i``'s actor; returns its opening record."""
        actor = self.trace[i][2]
        got = self.open.pop((actor, key), None)
        if got is None:
            return None
        start, name, cat, args = got
        self.slice(actor, start, i, name, cat, {**args, "end_step": self.trace[i][0]})
        return start

    def walk(self) -> None:
        queued: dict[str, list[int]] = {}  # work label -> queue_work_on records awaiting start
        last_run: dict[str, int] = {}  # work label -> work_start record of its latest run
        for i, (_, _, actor, cpu, event, fields) in enumerate(self.trace):
            self.tid(actor, cpu)
            if event == "work_start":
                work = str(fields.get("work"))
                self.open_slice(i, f"work {work}", str(fields.get("func", work)), "work")
                pending = queued.get(work)
                if pending:
                    self.flow(f"queue {work}", pending.pop(0), i)
            elif event == "work_end":
                work = str(fields.get("work"))
                start = self.close_slice(i, f"work {work}")
                if start is not None:
                    last_run[work] = start
            elif event == "queue_work_on":
                self.marker(i, f"queue_work_on {fields.get('work')}")
                if not fields.get("pending"):
                    queued.setdefault(str(fields.get("work")), []).append(i)
            elif event == "flush_done":
                work = str(fields.get("work"))
                self.marker(i, f"flush_done {work}")
                if work in last_run:
                    self.flow(f"flush {work}", last_run[work], i)
            elif event == "drain_all_pages":
                zone = fields.get("zone") or "NULL"
                name = f"drain_all_pages({zone}) #{fields.get('call')}"
                self.open_slice(i, f"drain {fields.get('call')}", name, "drain")
            elif event == "drain_all_pages_done":
                self.close_slice(i, f"drain {fields.get('call')}")
            elif event == "ipi_handler" and actor.startswith("ipi:"):
                self.open_slice(i, "ipi", "ipi_handler", "ipi")
            elif event == "exit" and actor.startswith("ipi:"):
                self.close_slice(i, "ipi")
            elif event in _LOCKS:
                key = f"lock {fields.get('lock')}"
                if (actor, key) in self.tried:  # locking again after a trylock: it had failed
                    self.tried.discard((actor, key))
                    del self.open[(actor, key)]
                if (actor, key) not in self.open:  # (else a self-deadlock: keep the first)
                    self.open_slice(i, key, f"{event} {fields.get('lock')}", "lock")
                    if event in _TRYLOCKS:
                        self.tried.add((actor, key))
            elif event in _UNLOCKS:
                key = f"lock {fields.get('lock')}"
                self.tried.discard((actor, key))
                self.close_slice(i, key)
            if event in INSTANTS:
                self.events.append(
                    {
                        "ph": "i",
                        "pid": PID,
                        "tid": self.tid(actor, cpu),
                        "name": event,
                        "cat": "event",
                        "s": "t",
                        "ts": _us(self.q(i, _AT)),
                        "args": {**fields, "step": self.trace[i][0]},
                    }
                )
        self.close_unfinished()

    def close_unfinished(self) -> None:
        if not self.trace:
            return
        last = len(self.trace) - 1
        for (actor, key), (start, name, cat, args) in list(self.open.items()):
            if (actor, key) in self.tried:
                continue  # a trylock never released: it failed (or we cannot tell)
            self.slice(actor, start, last, name, cat, {**args, "unfinished": True})
        self.open.clear()

    # ------------------------------------------------------------------ the rest

    def violation(self) -> None:
        v = self.result.violation
        if v is None or not self.trace:
            return
        idx = len(self.trace) - 1
        for i, rec in enumerate(self.trace):
            if rec[0] >= v.step:
                idx = i
                break
        actor = v.actors[0] if v.actors and v.actors[0] in self.tids else "-"
        self.events.append(
            {
                "ph": "i",
                "pid": PID,
                "tid": self.tid(actor, None),
                "name": f"{v.oracle}: {v.message}",
                "cat": "violation",
                "s": "g",
                "ts": _us(self.q(idx, _AT)),
                "args": {"oracle": v.oracle, "kind": v.kind, "step": v.step, "t_ns": v.t_ns},
            }
        )

    def counters(self, rows: Sequence[StepRow], zone_names: Sequence[str] | None) -> None:
        first: dict[int, int] = {}
        for i, rec in enumerate(self.trace):
            first.setdefault(rec[0], i)
        last: dict[str, int] = {}
        for row in rows:
            at = first.get(row.step)
            ns = self.ns(at) if at is not None else row.t_ns + NS_PER_RECORD * row.step
            ts = _us(4 * ns + _AT)
            values: list[tuple[str, int]] = []
            for c, cell in enumerate(row.cpus):
                values.append((f"pcp cpu{c}", cell.pcp))
                values.append((f"wq pending cpu{c}", cell.pending))
            for z, free in enumerate(row.zones_free):
                zname = zone_names[z] if zone_names and z < len(zone_names) else f"zone{z}"
                values.append((f"free {zname}", free))
            for name, value in values:
                if last.get(name) == value:
                    continue
                last[name] = value
                self.events.append(
                    {
                        "ph": "C",
                        "pid": PID,
                        "tid": TIMER_TID,
                        "name": name,
                        "ts": ts,
                        "args": {"pages" if not name.startswith("wq") else "works": value},
                    }
                )

    def metadata(self) -> list[dict[str, Any]]:
        extra = self.result.extra
        title = (
            f"pcptrio {extra['scenario']} × {extra['design']}"
            if "scenario" in extra and "design" in extra
            else "pcptrio run"
        )
        meta: list[dict[str, Any]] = [
            {"ph": "M", "pid": PID, "tid": 0, "name": "process_name", "args": {"name": title}},
            {
                "ph": "M",
                "pid": PID,
                "tid": TIMER_TID,
                "name": "thread_name",
                "args": {"name": "(timers, no actor)"},
            },
            {
                "ph": "M",
                "pid": PID,
                "tid": TIMER_TID,
                "name": "thread_sort_index",
                "args": {"sort_index": 0},
            },
        ]
        nr_cpus = max((c + 1 for c in self.first_cpu.values() if c is not None), default=0)
        for n, (actor, tid) in enumerate(self.tids.items()):
            cpu = self.first_cpu[actor]
            group = cpu if cpu is not None else nr_cpus
            meta.append(
                {"ph": "M", "pid": PID, "tid": tid, "name": "thread_name", "args": {"name": actor}}
            )
            meta.append(
                {
                    "ph": "M",
                    "pid": PID,
                    "tid": tid,
                    "name": "thread_sort_index",
                    "args": {"sort_index": 1 + group * 100_000 + n},
                }
            )
        return meta


def perfetto_trace(
    result: RunResult,
    *,
    rows: Sequence[StepRow] | None = None,
    zone_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """``result``'s trace as a Chrome Trace Event JSON object (see the module docstring).

    ``rows`` (a :class:`~pcptrio._report._rows.RowCollector`'s samples of a replay of the
    same run) add the counter tracks; ``zone_names`` (``collector.zone_names``) label the
    zones' free-page counters.

    Example::

        data = perfetto_trace(result, rows=collector.rows, zone_names=collector.zone_names)
        write_perfetto("run.json", data)        # open in https://ui.perfetto.dev
    """
    b = _Builder(result)
    b.walk()
    b.violation()
    if rows:
        b.counters(rows, zone_names)
    extra = result.extra
    other: dict[str, Any] = {
        "time": "virtual: trace record i is drawn at t_ns + 3 * i ns (see pcptrio/_report)",
        "outcome": str(result.outcome),
        "headline": result.headline,
        "trace_sha256": result.trace_sha256,
        "steps": result.stats.steps,
        "virtual_ns": result.stats.virtual_ns,
    }
    for key in ("scenario", "design", "params"):
        if key in extra:
            other[key] = extra[key]
    if "spec" in extra:
        other["token"] = token_of(result)
    return {
        "traceEvents": b.metadata() + b.events,
        "displayTimeUnit": "ns",
        "otherData": other,
    }


def write_perfetto(path: str | pathlib.Path, data: dict[str, Any]) -> pathlib.Path:
    """Write ``data`` (from :func:`perfetto_trace`) as compact JSON; returns the path."""
    p = pathlib.Path(path)
    with p.open("w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    return p
