"""The failure report: what went wrong, the interleaving that did it, and how to replay it.

This is the text a kernel developer reads first (``pcptrio run``/``explore``/``replay`` print
it), so it answers, in order: *which oracle fired and why* (headline), *what every CPU was
doing step by step* (the interleaving table), *who waits on whom* (the wait-for graph of a
deadlock or a stuck drain), *what the kernel would have printed* (the workqueue lockup dump),
the oracle's details, and *how to get it back* (the replay token and command).

The interleaving table has one row per step and one column per CPU; each CPU cell shows the
actor running there, the pages on that CPU's PCP lists and the works pending on its normal
worker pool (``PCP pages|pending works``; ``*`` marks the CPU that took the step)::

         step    t (µs)  actor        cpu0               cpu1    event
      ▶   141  1012.355  kworker/0:0  *kworker/0:0 20|0  · 21|0  drain_all_pages call=1 …
                                                                 ↳ drain_all_pages_done …

Those samples come from a :class:`~pcptrio._report._rows.RowCollector` attached to a replay of
the run; without them the report lists the trace records instead.

Long runs stay readable in two moves.  First, a row or pair of rows repeated over and over (a
CPU hog's ``cond_resched``/``spend`` loop, a spinning waiter) is folded to its first and last
repetition plus a "⋮ … N more times" line.  Then, if more than :data:`ELIDE_ABOVE` rows remain,
only the last :data:`KEEP_ROWS` are shown, saying how many were left out — but the violation's
row is always shown, with a little context before it, wherever it falls, and so are the rows
that explain the failure (:data:`KEY_EVENTS`, the locks the message names, the preemptions it
needs).  A :class:`TableView` changes the row limit and shows only some CPUs or actors.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Collection, Hashable, Iterator, Sequence
from typing import Any

import attrs

from .._core import Outcome, RunResult, TraceRecord, Violation
from .._explore import token_of
from ._lockdep import lockdep_report
from ._rows import StepRow
from ._tables import render_table

__all__ = [
    "ELIDE_ABOVE",
    "KEEP_ROWS",
    "KEY_EVENTS",
    "TableView",
    "failure_report",
    "format_fields",
    "interleaving_table",
    "render_wait_graph",
]

#: Tables longer than this many rows are cut ...
ELIDE_ABOVE = 80
#: ... to their last this many rows (plus the violation's row and its context).
KEEP_ROWS = 60
#: A pattern of one or two rows repeated at least this many times is folded.
MIN_FOLD = 4
#: Rows shown before the violation's row when it falls in the cut part.
CONTEXT_ROWS = 2
#: Events emitted during one step that are shown under its row (the rest are counted).
MAX_EMITS = 3
#: Longest event cell (fields beyond it are cut with "…").
MAX_EVENT = 110
#: Longest rendered wait-for graph, in lines.
MAX_GRAPH_LINES = 80

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode

#: Events that explain a failure: their rows are shown even where the table is cut or
#: filtered (CPU hotplug, drain calls beginning and ending).
KEY_EVENTS = frozenset(
    {
        "cpu_down_begin",
        "cpu_down_end",
        "cpu_up_begin",
        "cpu_up_end",
        "cpu_up_failed",
        "drain_all_pages",
        "drain_all_pages_done",
        "migrate",
    }
)
#: Rows of each actor the violation names, just before it, that are always shown.
ACTOR_CONTEXT = 6
_LOCK_EVENTS = ("lock", "unlock", "down_", "up_")


@attrs.frozen
class TableView:
    """What the interleaving table shows (``--rows``, ``--show-cpus``, ``--actors``).

    ``rows``: at most this many rows besides the ones that explain the failure (``None``: all
    of them).  ``cpus``: the CPU columns to show (``None``: every CPU).  ``actors``: show only
    the steps of these actors (``fnmatch`` patterns: ``kworker/*``); the rows that explain the
    failure are shown whoever took them."""

    rows: int | None = KEEP_ROWS
    cpus: tuple[int, ...] | None = None
    actors: tuple[str, ...] | None = None

    def shows_actor(self, actor: str) -> bool:
        return self.actors is None or any(fnmatch.fnmatchcase(actor, p) for p in self.actors)


DEFAULT_VIEW = TableView()


# ---------------------------------------------------------------------------- small formatters


def _us(t_ns: int) -> str:
    return f"{t_ns / 1000:.3f}"


def _human_time(t_ns: int) -> str:
    """``1,012.355 µs``, with seconds or milliseconds added when that reads better."""
    text = f"{t_ns / 1000:,.3f} µs"
    if t_ns >= 1_000_000_000:
        text += f" ({t_ns / 1e9:.3f} s)"
    elif t_ns >= 1_000_000:
        text += f" ({t_ns / 1e6:.3f} ms)"
    return text


def _scalar(v: Any) -> str:
    if isinstance(v, str):
        return v if v and " " not in v and "=" not in v else _dumps(v)
    return _dumps(v)


def format_fields(fields: dict[str, Any]) -> str:
    """Trace fields as ``key=value`` pairs, in the order the model recorded them."""
    return " ".join(f"{k}={_scalar(v)}" for k, v in fields.items())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _event_text(event: str, fields: dict[str, Any]) -> str:
    f = format_fields(fields)
    return _cut(f"{event} {f}" if f else event, MAX_EVENT)


def _compact(value: Any, max_items: int = 8) -> str:
    """JSON-ish, one line, long lists shortened (``[1, 2, … +30]``)."""
    if isinstance(value, dict):
        inner = ", ".join(f"{_dumps(str(k))}: {_compact(v, max_items)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        items = [_compact(v, max_items) for v in value[:max_items]]
        if len(value) > max_items:
            items.append(f"… +{len(value) - max_items}")
        return "[" + ", ".join(items) + "]"
    try:
        return _dumps(value)
    except TypeError:
        return repr(value)


# ---------------------------------------------------------------------------- sections


def _headline(r: RunResult) -> str:
    extra = r.extra
    what = f"{extra['scenario']} × {extra['design']}" if "scenario" in extra else "run"
    lines: list[str] = []
    v = r.violation
    if v is not None:
        kind = f" ({v.kind})" if v.kind else ""
        lines.append(f"pcptrio: {r.outcome} in {what}")
        lines.append(f"  oracle   {v.oracle}{kind}")
        lines.append(f"  at       step {v.step}, t = {_human_time(v.t_ns)} virtual")
        if v.actors:
            lines.append(f"  actors   {', '.join(v.actors)}")
        lines.append(f"  message  {v.message}")
    else:
        lines.append(f"pcptrio: {r.headline}")
        lines.append(f"  run      {what}")
    if "params" in extra:
        lines.append(f"  params   {format_fields(extra['params'])}")
    s = r.stats
    lines.append(
        f"  run      {s.steps} steps, {_human_time(s.virtual_ns)} virtual, "
        f"{s.switches} switches, {s.decisions} decisions, {s.actors} actors"
    )
    if r.outcome is Outcome.ERROR and r.error:
        lines.append("  error:")
        lines += [f"    {ln}" for ln in r.error.rstrip().splitlines()]
    return "\n".join(lines)


@attrs.frozen
class _Fold:
    """Rows ``first..last`` (indices) repeat the ``period`` rows just above them."""

    first: int
    last: int
    period: int


@attrs.frozen
class _Gap:
    """Rows ``first..first+count-1`` are left out."""

    first: int
    count: int


_Unit = int | _Fold | _Gap


def _fold(keys: Sequence[Hashable], protect: Collection[int]) -> list[_Unit]:
    """Fold runs where the same one or two rows repeat (a hog's ``cond_resched``/``spend``
    loop, a worker spinning): keep the first and the last repetition, fold the middle.
    Rows in ``protect`` (the focus, the rows that explain the failure) are never folded."""
    n = len(keys)
    out: list[_Unit] = []
    i = 0
    while i < n:
        for p in (1, 2):
            pattern = keys[i : i + p]
            j = i + p
            while (
                j + p <= n
                and keys[j : j + p] == pattern
                and not any(j <= k < j + p for k in protect)
            ):
                j += p
            if (j - i) // p >= MIN_FOLD and not any(i <= k < i + p for k in protect):
                out += range(i, i + p)
                out.append(_Fold(i + p, j - p - 1, p))
                out += range(j - p, j)
                i = j
                break
        else:
            out.append(i)
            i += 1
    return out


def _layout(
    keys: Sequence[Hashable],
    focus: int | None,
    *,
    must: Collection[int] = (),
    visible: Collection[int] | None = None,
    keep_rows: int | None = KEEP_ROWS,
) -> list[_Unit]:
    """Which rows to show.  Rows outside ``visible`` (an actor filter) go first, then
    repetitions are folded; then, if more than :data:`ELIDE_ABOVE` (or ``keep_rows``) rows
    remain, only the last ``keep_rows`` are kept.  The focus row with its context and the
    ``must`` rows are always shown.  Whatever is left out becomes a gap line."""
    protect = set(must) | ({focus} if focus is not None else set())
    idx = [i for i in range(len(keys)) if visible is None or i in visible or i in protect]
    pos = {i: k for k, i in enumerate(idx)}
    folded = _fold([keys[i] for i in idx], {pos[i] for i in protect if i in pos})
    units: list[_Unit] = []
    for u in folded:
        assert not isinstance(u, _Gap)  # _fold makes rows and folds only
        units.append(idx[u] if isinstance(u, int) else _Fold(idx[u.first], idx[u.last], u.period))
    n = len(units)
    limit = ELIDE_ABOVE if keep_rows == KEEP_ROWS else keep_rows
    if limit is not None and n > limit:
        assert keep_rows is not None
        keep = set(range(max(0, n - keep_rows), n))
        for k, u in enumerate(units):
            if isinstance(u, int) and u in protect:
                keep.add(k)
                if u == focus:
                    keep |= set(range(max(0, k - CONTEXT_ROWS), k))
        for k in sorted(keep):  # a fold line needs the rows it says are repeated
            u = units[k]
            if isinstance(u, _Fold):
                keep |= set(range(max(0, k - u.period), k))
        units = [u for k, u in enumerate(units) if k in keep]
    out: list[_Unit] = []
    nxt = 0  # the first original row not yet shown or counted
    for u in units:
        first = _first_row(u)
        if first > nxt:
            out.append(_Gap(nxt, first - nxt))
        out.append(u)
        nxt = _last_row(u) + 1
    if nxt < len(keys):
        out.append(_Gap(nxt, len(keys) - nxt))
    return out


def _first_row(u: _Unit) -> int:
    return u if isinstance(u, int) else u.first


def _last_row(u: _Unit) -> int:
    if isinstance(u, int):
        return u
    return u.last if isinstance(u, _Fold) else u.first + u.count - 1


def _fold_text(u: _Fold, steps: Sequence[int], what: str) -> str:
    reps = (u.last - u.first + 1) // u.period
    above = f"the {what} above" if u.period == 1 else f"the {u.period} {what}s above"
    return f"⋮ {above}, {reps} more times (steps {steps[u.first]}–{steps[u.last]})"


def _focus_index(steps: Sequence[int], v: Violation | None) -> int | None:
    """Index of the violation's row: the last one at or before its step."""
    if v is None:
        return None
    best: int | None = None
    for i, s in enumerate(steps):
        if s <= v.step:
            best = i
        else:
            break
    return best


def _by_step(trace: Sequence[TraceRecord]) -> dict[int, list[TraceRecord]]:
    out: dict[int, list[TraceRecord]] = {}
    for rec in trace:
        out.setdefault(rec[0], []).append(rec)
    return out


def _emitted(records: list[TraceRecord], row: StepRow) -> tuple[dict[str, Any], list[TraceRecord]]:
    """The fields of ``row``'s own record and the records emitted after it in that step."""
    for i, rec in enumerate(records):
        if rec[4] == row.event and rec[2] == row.actor:
            return rec[5], records[i + 1 :]
    return {}, []


def _who(actor: str) -> str:
    return "(timer)" if actor == "-" else actor


def _cpu_cells(row: StepRow, cpus: Sequence[int]) -> list[str]:
    cells = []
    for c in cpus:
        if c >= len(row.cpus):
            cells.append("")
            continue
        cell = row.cpus[c]
        mark = "*" if c == row.cpu else ""
        who = cell.actor if cell.actor is not None else "·"
        if not cell.online:
            who = "offline" if cell.actor is None else f"{who} (offline)"
        cells.append(f"{mark}{who} {cell.pcp}|{cell.pending}")
    return cells


def _explains(records: Sequence[TraceRecord], v: Violation | None) -> bool:
    """Whether a step's records explain the failure: hotplug, a drain call's start or end,
    or taking or releasing a lock the violation's message names."""
    for rec in records:
        event, fields = rec[4], rec[5]
        if event in KEY_EVENTS:
            return True
        lock = fields.get("lock")
        named = v is not None and isinstance(lock, str) and lock != "" and lock in v.message
        if named and any(k in event for k in _LOCK_EVENTS):
            return True
    return False


def _actor_context(rows: Sequence[StepRow], focus: int | None, v: Violation | None) -> set[int]:
    """The last :data:`ACTOR_CONTEXT` steps, up to the violation, of each actor it names (how
    the other party got where it collided)."""
    if v is None or focus is None:
        return set()
    out: set[int] = set()
    for actor in v.actors:
        mine = [i for i in range(focus + 1) if rows[i].actor == actor]
        out |= set(mine[-ACTOR_CONTEXT:])
    return out


def _view_cpus(view: TableView, ncpu: int) -> list[int]:
    if view.cpus is None:
        return list(range(ncpu))
    return [c for c in view.cpus if c < ncpu]


def _rows_table(
    r: RunResult,
    rows: Sequence[StepRow],
    needed: Collection[int] = (),
    view: TableView = DEFAULT_VIEW,
    needed_required: bool = True,
) -> str:
    ncpu = max((len(row.cpus) for row in rows), default=0)
    cpus = _view_cpus(view, ncpu)
    headers = ["", "step", "t (µs)", "actor", *[f"cpu{c}" for c in cpus], "event"]
    align = "lrrl" + "l" * len(cpus) + "l"
    steps = [row.step for row in rows]
    focus = _focus_index(steps, r.violation)
    records = _by_step(r.trace)
    mine = [_emitted(records.get(row.step, []), row) for row in rows]
    keys = [
        (
            row.actor,
            row.cpu,
            row.event,
            tuple((c.actor, c.online) for c in row.cpus),
            tuple(rec[4] for rec in emits),
        )
        for row, (_, emits) in zip(rows, mine, strict=True)
    ]
    must = {
        i
        for i, row in enumerate(rows)
        if row.step in needed or _explains(records.get(row.step, []), r.violation)
    }
    must |= _actor_context(rows, focus, r.violation)
    visible = None
    nomatch = ""
    if view.actors is not None:
        visible = {i for i, row in enumerate(rows) if view.shows_actor(row.actor)}
        if not visible:
            nomatch = f"; no step was taken by {', '.join(view.actors)}"
    body: list[list[str]] = []
    blank = [""] * (4 + len(cpus))
    for u in _layout(keys, focus, must=must, visible=visible, keep_rows=view.rows):
        if isinstance(u, _Gap):
            body.append(["", "…", "…", "…", *["…"] * len(cpus), f"({u.count} steps not shown)"])
            continue
        if isinstance(u, _Fold):
            body.append([*blank, _fold_text(u, steps, "step")])
            continue
        row = rows[u]
        fields, emits = mine[u]
        marker = "▶" if u == focus else ""
        if row.step in needed:
            marker += "P"
        event = _event_text(row.event, fields)
        body.append(
            [marker, str(row.step), _us(row.t_ns), row.actor, *_cpu_cells(row, cpus), event]
        )
        for rec in emits[:MAX_EMITS]:
            who = "" if rec[2] == row.actor else f"{_who(rec[2])}: "
            body.append([*blank, "↳ " + who + _event_text(rec[4], rec[5])])
        if len(emits) > MAX_EMITS:
            until = emits[-1][1]
            later = f", until t = {_us(until)} µs" if until != row.t_ns else ""
            body.append([*blank, f"↳ … +{len(emits) - MAX_EMITS} more events in this step{later}"])
    legend = (
        "interleaving (one row per step; cpuN: running actor (· idle), "
        "PCP pages|works pending on its normal pool; * the CPU that took the step; "
        "↳ events emitted in the same step"
        + (
            (
                "; P: a preemption here that the failure needs"
                if needed_required
                else "; P: a preemption here"
            )
            if needed
            else ""
        )
        + _view_note(view)
        + nomatch
        + "):"
    )
    return legend + "\n" + _indent(render_table(headers, body, align=align))


def _view_note(view: TableView) -> str:
    parts = []
    if view.actors is not None:
        parts.append("only the steps of " + ", ".join(view.actors))
    if view.cpus is not None:
        parts.append("CPUs " + ",".join(map(str, view.cpus)))
    if view.rows != KEEP_ROWS:
        parts.append("all rows" if view.rows is None else f"at most {view.rows} rows")
    if not parts:
        return ""
    return "; " + ", ".join(parts) + ", with the steps that explain the failure"


def _trace_table(r: RunResult, view: TableView = DEFAULT_VIEW) -> str:
    trace = r.trace
    if not trace:
        return "trace: none recorded (run with record_trace=True to see the interleaving)"
    steps = [rec[0] for rec in trace]
    focus = _focus_index(steps, r.violation)
    if focus is not None:
        # the first record of the violation's step is its point; show the step from there
        while focus > 0 and trace[focus - 1][0] == trace[focus][0]:
            focus -= 1
    keys = [(rec[2], rec[3], rec[4]) for rec in trace]
    must = {i for i, rec in enumerate(trace) if _explains([rec], r.violation)}
    visible = None
    if view.actors is not None or view.cpus is not None:
        visible = {
            i
            for i, rec in enumerate(trace)
            if view.shows_actor(rec[2]) and (view.cpus is None or rec[3] in view.cpus)
        }
    headers = ["", "step", "t (µs)", "cpu", "actor", "event"]
    body: list[list[str]] = []
    for u in _layout(keys, focus, must=must, visible=visible, keep_rows=view.rows):
        if isinstance(u, _Gap):
            body.append(["", "…", "…", "…", "…", f"({u.count} records not shown)"])
            continue
        if isinstance(u, _Fold):
            body.append(["", "", "", "", "", _fold_text(u, steps, "record")])
            continue
        step, t_ns, actor, cpu, event, fields = trace[u]
        marker = "▶" if u == focus else ""
        cpu_s = "-" if cpu is None else str(cpu)
        body.append([marker, str(step), _us(t_ns), cpu_s, _who(actor), _event_text(event, fields)])
    title = (
        "trace (one line per record; collect StepRows for the per-CPU table"
        + _view_note(view)
        + "):"
    )
    return title + "\n" + _indent(render_table(headers, body, align="lrrrll"))


def interleaving_table(
    r: RunResult,
    rows: Sequence[StepRow] | None = None,
    needed: Collection[int] | None = None,
    view: TableView = DEFAULT_VIEW,
) -> str:
    """The interleaving of ``r``: the per-CPU step table from ``rows``, or the trace.
    ``needed``: steps of the preemptions the failure needs (a shrink result's; marked ``P``);
    without it every preemption of the run is marked ``P``.  ``view``: which rows, CPUs and
    actors to show (:class:`TableView`)."""
    if not rows:
        return _trace_table(r, view)
    if needed is None:
        return _rows_table(r, rows, [s for _d, s in r.preempted], view, needed_required=False)
    return _rows_table(r, rows, needed, view)


def _is_idle_edge(src: str, rel: str, dst: str) -> bool:
    """``actor kworker/0:0 --waits for--> kworker/0:0 idle``: a parked worker, not a wait."""
    return rel == "waits for" and src.startswith("actor ") and dst == f"{src[6:]} idle"


def render_wait_graph(graph: dict[str, Any]) -> str:
    """A wait-for graph (``{"edges": [[src, rel, dst]...], "cycles": [[...]...]}``) as an
    indented tree from each waiter nobody waits on, cycles first, idle workers left out."""
    edges = [tuple(e) for e in graph.get("edges", [])]
    cycles = [list(c) for c in graph.get("cycles", [])]
    idle = [e for e in edges if _is_idle_edge(*e)]
    edges = [e for e in edges if not _is_idle_edge(*e)]
    lines = ["cycle: " + " → ".join([*c, c[0]]) for c in cycles]
    children: dict[str, list[tuple[str, str]]] = {}
    for src, rel, dst in edges:
        children.setdefault(src, []).append((rel, dst))
    targets = {dst for _, _, dst in edges}
    order = list(children)
    roots = [n for n in order if n not in targets]
    shown: set[str] = set()

    def walk(node: str, label: str, depth: int, path: tuple[str, ...]) -> Iterator[str]:
        pad = "  " * depth
        if node in path:
            yield f"{pad}{label}{node}  (cycle)"
            return
        if node in shown and node in children:
            yield f"{pad}{label}{node}  (see above)"
            return
        shown.add(node)
        yield f"{pad}{label}{node}"
        for rel, dst in children.get(node, []):
            yield from walk(dst, f"{rel}  ", depth + 1, (*path, node))

    for start in roots + order:  # roots first; then whatever only cycles reach
        if start not in shown:
            lines += walk(start, "", 0, ())
    if len(lines) > MAX_GRAPH_LINES:
        cut = len(lines) - MAX_GRAPH_LINES
        lines = [*lines[:MAX_GRAPH_LINES], f"… +{cut} more lines"]
    if idle:
        lines.append(f"({len(idle)} idle workers waiting for work not shown)")
    return "\n".join(lines)


def _graph_section(r: RunResult) -> str | None:
    v = r.violation
    graph = r.wait_graph
    if graph is None and v is not None and isinstance(v.details.get("graph"), dict):
        graph = v.details["graph"]
    if not graph:
        return None
    title = "wait-for graph" + (
        " (deadlock)" if r.outcome is Outcome.DEADLOCK else " (when the oracle fired)"
    )
    return title + ":\n" + _indent(render_wait_graph(graph))


def _dump_section(v: Violation | None) -> str | None:
    if v is None or v.oracle != "wq-watchdog" or not v.details.get("dump"):
        return None
    return f"workqueue lockup, as the kernel reports it (step {v.step}):\n" + _indent(
        v.message + "\n" + str(v.details["dump"])
    )


def _details_section(v: Violation | None) -> str | None:
    if v is None:
        return None
    rest = {k: val for k, val in v.details.items() if k not in ("graph", "dump")}
    if not rest:
        return None
    width = max(len(k) for k in rest)
    lines = [_cut(f"{k.ljust(width)}  {_compact(val)}", 160) for k, val in rest.items()]
    return "details:\n" + _indent("\n".join(lines))


def _replay_section(r: RunResult, replay_cmd: str | None) -> str:
    try:
        token = token_of(r)
    except KeyError:
        return (
            "replay: no token (this result was not made from a run spec; run it through "
            "pcptrio._explore.run_spec_async to get one)"
        )
    cmd = replay_cmd if replay_cmd is not None else f"pcptrio replay {token}"
    return f"replay token:\n  {token}\nreplay command (byte-identical rerun):\n  {cmd}"


def _indent(text: str, pad: str = "  ") -> str:
    return "\n".join(pad + ln if ln else ln for ln in text.splitlines())


# ---------------------------------------------------------------------------- the report


def failure_report(
    result: RunResult,
    *,
    rows: list[StepRow] | None = None,
    replay_cmd: str | None = None,
    needed: Collection[int] | None = None,
    view: TableView = DEFAULT_VIEW,
) -> str:
    """The text report of one run (meant for failing runs; any outcome works).

    ``rows`` (from a :class:`~pcptrio._report._rows.RowCollector` on a replay of the run) turns
    the trace listing into a per-CPU step table.  ``replay_cmd`` replaces the default
    ``pcptrio replay TOKEN`` line (e.g. with a pytest command).  ``needed`` lists the steps
    of the preemptions the failure needs (a shrink result's ``required_steps``): marked ``P``.
    ``view`` chooses the rows, CPUs and actors of the table (:class:`TableView`).

    Example::

        r = await run_spec_async(make_run_spec("drain-from-kworker", "wq-4.11"), sched)
        print(failure_report(r))
    """
    sections = [
        _headline(result),
        interleaving_table(result, rows, needed, view),
        lockdep_report(result),
        _graph_section(result),
        _dump_section(result.violation),
        _details_section(result.violation),
        _replay_section(result, replay_cmd),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"
