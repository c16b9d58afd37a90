"""L4 reports: the failure report, per-step rows, Perfetto export, text tables, logging setup.

The reports are checked on real failing runs (one per oracle family: drain-completeness,
deadlock, liveness, the workqueue watchdog) replayed with a :class:`RowCollector` attached,
and on small hand-made results where an exact layout matters.
"""

from __future__ import annotations

import copy
import json
import pathlib
import re
from fractions import Fraction
from typing import Any

import pytest
import structlog

import pcptrio
from pcptrio._core import (
    Outcome,
    RandomScheduler,
    ReplayScheduler,
    RunResult,
    RunStatistics,
    TraceRecord,
    Violation,
)
from pcptrio._explore import make_run_spec, run_spec_async, token_of
from pcptrio._kernel import Machine, MachineParams, ZoneSpec
from pcptrio._report import (
    CpuCell,
    RowCollector,
    StepRow,
    collect_rows,
    configure_logging,
    failure_report,
    perfetto_trace,
    render_table,
    render_wait_graph,
    trace_logger,
    write_perfetto,
)
from pcptrio._scenarios import parse_scenario, resolve_scenario
from tests.perfetto_conformance import check_file, check_trace

# ---------------------------------------------------------------------------- helpers


async def failing(
    scenario: Any, design: str, params: dict[str, Any] | None = None, seed: int = 0
) -> tuple[RunResult, RowCollector]:
    """Run once with a random schedule, then replay it with a row collector attached."""
    spec = make_run_spec(scenario, design, params)
    r = await run_spec_async(spec, RandomScheduler(seed))
    collector = RowCollector()
    r2 = await run_spec_async(spec, ReplayScheduler(r.decision_list), observer=collector.attach)
    assert r2.trace_sha256 == r.trace_sha256, "observing a replay changed the run"
    return r2, collector


def hog_watchdog_scenario() -> Any:
    """hog-in-pool with only the watchdog judging, at a 5 s threshold (it fires at 10 s,
    before the 30 s liveness bound would)."""
    data = copy.deepcopy(resolve_scenario("hog-in-pool").data)
    data["name"] = "hog-watchdog"
    data["oracles"] = ["wq-watchdog"]
    data["machine"]["watchdog_thresh_ms"] = 5000
    return parse_scenario(data, "tests/test_report.py")


def synthetic(n: int, violation_step: int) -> tuple[RunResult, list[StepRow]]:
    """A made-up run of ``n`` steps on 2 CPUs, every step different, that failed at
    ``violation_step``."""
    trace: list[TraceRecord] = [
        (s, 100 * s, f"a{s % 2}", s % 2, f"ev{s}", {"i": s}) for s in range(1, n + 1)
    ]
    rows = [
        StepRow(
            s,
            100 * s,
            f"a{s % 2}",
            s % 2,
            f"ev{s}",
            (CpuCell("a1", True, s, 0), CpuCell("a0", True, 2 * s, 1)),
        )
        for s in range(1, n + 1)
    ]
    v = Violation("made-up", "it broke here", violation_step, 100 * violation_step, ("a1",))
    stats = RunStatistics(n, n, 0, 100 * n, 0, 2)
    r = RunResult(Outcome.VIOLATION, v, None, None, (), trace, stats, {})
    return r, rows


def event_rows(report: str) -> list[str]:
    """Table lines of the report that show a step (marker, step number, time)."""
    return [ln for ln in report.splitlines() if re.match(r"^  [▶ ]\s+\d+\s+\d+\.\d{3}\s", ln)]


# ---------------------------------------------------------------------------- tables


def test_render_table_right_aligns_numeric_columns() -> None:
    """Numbers are right-aligned, text left-aligned, two spaces apart, a rule under the header."""
    out = render_table(["design", "steps", "oracle"], [["ipi", "141", "ok"], ["wq-4.11", "6319"]])
    assert out.splitlines() == [
        "design   steps  oracle",
        "-------  -----  ------",
        "ipi        141  ok",
        "wq-4.11   6319",
    ]


def test_render_table_explicit_alignment_and_errors() -> None:
    """``align`` overrides the guess; rows longer than the header and bad letters are errors."""
    out = render_table(["a", "b"], [["1", "x"], ["22", "yy"]], align="lr")
    assert out.splitlines()[2:] == ["1    x", "22  yy"]
    with pytest.raises(ValueError, match="3 cells for 2 columns"):
        render_table(["a", "b"], [["1", "2", "3"]])
    with pytest.raises(ValueError, match="align must be 2 letters"):
        render_table(["a", "b"], [["1", "2"]], align="lx")


# ---------------------------------------------------------------------------- rows


async def test_row_collector_samples_every_step_of_a_replay() -> None:
    """One row per step, in order, with each CPU's PCP pages and pending works as they were."""
    r, coll = await failing("drain-from-kworker", "wq-4.11", {"cpus": 2})
    rows = coll.rows
    assert [row.step for row in rows] == list(range(1, r.stats.steps + 1))
    assert coll.zone_names == ("Normal",) and coll.nr_cpus == 2
    assert all(len(row.cpus) == 2 and len(row.zones_free) == 1 for row in rows)
    # the violation says 20 pages were left on cpu0 and 21 on cpu1: so do the last samples
    counts = r.violation.details["counts"] if r.violation else {}
    assert [c.pcp for c in rows[-1].cpus] == [counts["0"], counts["1"]]
    # a queued work shows up as pending on the normal pool of its CPU
    queued = next(row for row in rows if row.event == "queue_work_on")
    after = rows[rows.index(queued) + 1]
    assert after.cpus[0].pending == queued.cpus[0].pending + 1
    # the row's actor and event are the trace record of that step
    by_step = {rec[0]: rec for rec in reversed(r.trace)}
    assert all(
        (by_step[row.step][2], by_step[row.step][4]) == (row.actor, row.event) for row in rows
    )


async def test_collect_rows_works_without_a_trace() -> None:
    """With ``record_trace=False`` the rows still say who stepped, when and on which CPU."""
    m = Machine(
        MachineParams(cpus=2, zones=(ZoneSpec("Normal", 4096),)),
        scheduler=RandomScheduler(3),
        record_trace=False,
    )
    rows = collect_rows(m)

    async def workload(m: Machine) -> None:
        pfns = [await m.alloc_pages() for _ in range(5)]
        for pfn in pfns:
            assert pfn is not None
            await m.free_pages(pfn)

    r = await m.run(workload)
    assert r.outcome is Outcome.OK and not r.trace
    assert len(rows) == r.stats.steps
    assert {row.actor for row in rows} >= {"main"}
    assert all(row.event == "" for row in rows)
    assert rows[-1].cpus[0].pcp > 0  # the freed pages sit on cpu0's PCP


async def test_a_collector_observes_one_run() -> None:
    """Attaching one collector to two machines is refused."""
    coll = RowCollector()
    coll.attach(Machine(MachineParams(cpus=1, zones=(ZoneSpec("Normal", 4096),))))
    with pytest.raises(RuntimeError, match="one run"):
        coll.attach(Machine(MachineParams(cpus=1, zones=(ZoneSpec("Normal", 4096),))))


# ---------------------------------------------------------------------------- failure report


async def test_failure_report_of_a_drain_completeness_violation() -> None:
    """Headline, per-CPU interleaving ending on the marked violation row, details, token."""
    r, coll = await failing("drain-from-kworker", "wq-4.11", {"cpus": 2})
    v = r.violation
    assert v is not None and v.oracle == "drain-completeness"
    text = failure_report(r, rows=coll.rows)
    head = text.splitlines()[:5]
    assert head[0] == "pcptrio: violation in drain-from-kworker × wq-4.11"
    assert head[1] == f"  oracle   drain-completeness ({v.kind})"
    assert head[2].startswith(f"  at       step {v.step}, t = {v.t_ns / 1000:,.3f} µs")
    assert f"  message  {v.message}" in text
    header = next(ln for ln in text.splitlines() if ln.lstrip().startswith("step"))
    assert re.search(r"actor\s+cpu0\s+cpu1\s+event", header)
    marked = [ln for ln in event_rows(text) if ln.startswith("  ▶")]
    assert len(marked) == 1 and f" {v.step} " in marked[0]
    last = coll.rows[-1]
    assert f"*{last.cpus[0].actor} {last.cpus[0].pcp}|{last.cpus[0].pending}" in marked[0]
    assert "drain_all_pages call=1 zone=Normal" in marked[0]
    assert "↳ drain_all_pages_done call=1" in text
    assert "steps not shown" in text  # 141 steps > 80: cut to the last 60
    assert re.search(r"counts\s+\{\"0\": 20, \"1\": 21\}", text)
    token = token_of(r)
    assert f"replay token:\n  {token}\n" in text
    assert f"  pcptrio replay {token}\n" in text
    assert "wait-for graph" not in text and "lockup" not in text


async def test_failure_report_without_rows_lists_the_trace() -> None:
    """Without StepRows the interleaving is the trace, one line per record, with the marked
    violation step and the records emitted after it."""
    r, _ = await failing("drain-from-kworker", "wq-4.11", {"cpus": 2})
    text = failure_report(r, replay_cmd="pytest tests/test_h11.py")
    assert "trace (one line per record" in text
    assert "cpu0" not in text.split("details:")[0].split("trace (")[1].splitlines()[1]
    # The drain-from-kworker call runs in whichever worker of CPU 0's pool took the work.
    assert re.search(r"▶\s+143\s+1012\.355\s+0\s+kworker/0:1\s+drain_all_pages call=1", text)
    assert re.search(r"143\s+1012\.355\s+0\s+kworker/0:1\s+drain_all_pages_done", text)
    assert text.rstrip().endswith("pytest tests/test_h11.py")
    assert "pcptrio replay" not in text


async def test_deadlock_report_draws_the_wait_for_graph() -> None:
    """A deadlock prints its cycle and a tree from the root waiter, idle workers left out."""
    r, coll = await failing("hotplug-lock-abba", "wq-hotplug", seed=1)
    assert r.outcome is Outcome.DEADLOCK and r.wait_graph is not None
    text = failure_report(r, rows=coll.rows)
    assert text.startswith("pcptrio: deadlock in hotplug-lock-abba × wq-hotplug\n")
    cycle = r.wait_graph["cycles"][0]
    assert "  cycle: " + " → ".join([*cycle, cycle[0]]) in text
    graph = text.split("wait-for graph (deadlock):\n")[1].split("\n\n")[0]
    assert graph.splitlines()[1] == "  actor main"
    assert "(cycle)" in graph and "held by  actor" in graph and "waits for  mutex" in graph
    assert re.search(r"\(\d+ idle workers waiting for work not shown\)", graph)
    assert "kworker/0:0 idle" not in graph
    assert "offline" in text  # the CPU taken down by the hotplug thread


async def test_liveness_report_shows_the_stuck_drain_graph_and_folds_the_hog_loop() -> None:
    """A stuck drain shows what it waits on (the hogged pool); the hog's 6000-step loop is
    folded, so the drain's queue/flush steps stay on screen."""
    r, coll = await failing("hog-in-pool", "wq-4.11")
    v = r.violation
    assert v is not None and v.oracle == "liveness" and "graph" in v.details
    text = failure_report(r, rows=coll.rows)
    assert "wait-for graph (when the oracle fired):" in text
    assert "held by  pool 6 (cpus=3 flags=0x0 nice=0)" in text
    assert re.search(r"⋮ the (\d+ )?steps? above, \d+ more times \(steps \d+–\d+\)", text)
    assert "flush_work work=pcpu_drain[3]" in text
    assert len(event_rows(text)) <= 65  # 60 units, the violation and context, a fold's rows
    assert len(text.splitlines()) < 200
    assert "bound_ns" in text and '"graph"' not in text


async def test_watchdog_report_prints_the_kernel_dump() -> None:
    """A workqueue lockup prints the BUG line and show_workqueue_state() as the kernel does."""
    r, coll = await failing(hog_watchdog_scenario(), "wq-4.11", {"cpus": 2})
    v = r.violation
    assert v is not None and v.oracle == "wq-watchdog"
    text = failure_report(r, rows=coll.rows)
    dump = text.split("workqueue lockup, as the kernel reports it")[1].split("\n\n")[0]
    assert "  BUG: workqueue lockup - pool cpus=1" in dump
    assert "  Showing busy workqueues and worker pools:" in dump
    assert "in-flight: " in dump and "hog_work_fn" in dump
    assert "(timer): wq_lockup pool=2" in text
    details = text.split("details:\n")[1].split("\n\n")[0]
    assert "pending" in details and "dump" not in details


def test_long_report_always_shows_the_violation_row() -> None:
    """200 distinct steps, failure at step 20: the last 60 rows, the violation row with two
    rows of context, the last steps of the actors the violation names, and the elided
    counts."""
    r, rows = synthetic(200, 20)
    text = failure_report(r, rows=rows)
    steps = [
        int(ln.split()[1] if ln.startswith("  ▶") else ln.split()[0]) for ln in event_rows(text)
    ]
    assert r.violation is not None
    context = set()
    for a in r.violation.actors:
        context |= set([row.step for row in rows if row.actor == a and row.step <= 20][-6:])
    early = sorted(context | {18, 19, 20})
    assert steps == [*early, *range(141, 201)]
    assert f"({early[0] - 1} steps not shown)" in text and "(120 steps not shown)" in text
    marked = [ln for ln in event_rows(text) if ln.startswith("  ▶")]
    assert len(marked) == 1 and marked[0].split()[1] == "20"
    assert "a1 20|0" in marked[0] and "a0 40|1" in marked[0]
    assert "no token" in text  # not made from a run spec


def test_short_report_is_not_cut() -> None:
    """Up to 80 rows are all shown."""
    r, rows = synthetic(80, 80)
    text = failure_report(r, rows=rows)
    assert len(event_rows(text)) == 80 and "not shown" not in text


async def test_report_of_a_passing_run_uses_the_headline() -> None:
    """Any outcome can be reported; an ok run leads with its one-line headline."""
    spec = make_run_spec("steady", "remote-6.0", {"cpus": 2})
    r = await run_spec_async(spec, RandomScheduler(0))
    assert r.outcome is Outcome.OK
    text = failure_report(r)
    assert text.startswith(f"pcptrio: {r.headline}\n")
    assert "details:" not in text and "wait-for graph" not in text
    assert token_of(r) in text


def test_report_of_an_error_shows_the_error() -> None:
    """A run that ended in a model error reports the error text under its headline."""
    r, _ = synthetic(3, 3)
    r.outcome, r.violation = Outcome.ERROR, None
    r.error = "ModelError: BUG: scheduling while atomic: w0 sleeps\n  at step 3"
    text = failure_report(r)
    assert text.startswith("pcptrio: error: ModelError: BUG: scheduling while atomic")
    assert (
        "  error:\n    ModelError: BUG: scheduling while atomic: w0 sleeps\n      at step 3" in text
    )
    assert "▶" not in text and "details:" not in text


def test_render_wait_graph_handles_a_bare_cycle() -> None:
    """A graph that is only a cycle still prints every edge once."""
    g = {
        "edges": [
            ["actor a", "waits for", "mutex m"],
            ["mutex m", "held by", "actor b"],
            ["actor b", "waits for", "mutex n"],
            ["mutex n", "held by", "actor a"],
        ],
        "cycles": [["actor a", "mutex m", "actor b", "mutex n"]],
    }
    assert render_wait_graph(g).splitlines() == [
        "cycle: actor a → mutex m → actor b → mutex n → actor a",
        "actor a",
        "  waits for  mutex m",
        "    held by  actor b",
        "      waits for  mutex n",
        "        held by  actor a  (cycle)",
    ]


# ---------------------------------------------------------------------------- Perfetto


def check_trace_events(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Structural checks every export must pass (tests/perfetto_conformance.py's rules, and
    pcptrio's own: every used tid named, every flow one s and one f); returns the events by
    phase."""
    assert set(data) == {"traceEvents", "displayTimeUnit", "otherData"}
    assert data["displayTimeUnit"] == "ns"
    report = check_trace(data)
    assert report.ok, report.format()
    by_ph: dict[str, list[dict[str, Any]]] = {}
    for ev in data["traceEvents"]:
        for key in ("ph", "pid", "tid", "name"):
            assert key in ev, (key, ev)
        by_ph.setdefault(ev["ph"], []).append(ev)
    named = {ev["tid"] for ev in by_ph["M"] if ev["name"] == "thread_name"}
    used = {ev["tid"] for ev in data["traceEvents"] if ev["ph"] != "M"}
    assert used <= named, f"tids without a thread_name: {sorted(used - named)}"
    for ev in by_ph.get("X", []):
        assert ev["ts"] >= 0 and ev["dur"] >= 0, ev
    flows: dict[int, list[str]] = {}
    for ev in by_ph.get("s", []) + by_ph.get("f", []):
        flows.setdefault(ev["id"], []).append(ev["ph"])
    assert all(sorted(v) == ["f", "s"] for v in flows.values()), flows
    for ev in by_ph.get("f", []):
        assert ev["bp"] == "e"
    return by_ph


def enclosing(xs: list[dict[str, Any]], ev: dict[str, Any]) -> list[dict[str, Any]]:
    """X slices on ``ev``'s track that contain its timestamp strictly inside (in integer ns)."""
    t = round(ev["ts"] * 1000)
    return [
        x
        for x in xs
        if x["tid"] == ev["tid"]
        and round(x["ts"] * 1000) < t < round(x["ts"] * 1000) + round(x["dur"] * 1000)
    ]


async def test_perfetto_export_of_a_stuck_drain() -> None:
    """Slices for works, the drain call and locks; flows from queue_work_on to work_start and
    from work_end to flush_done, each end strictly inside a slice; the hung work is
    'unfinished'."""
    r, coll = await failing("hog-in-pool", "wq-4.11")
    data = perfetto_trace(r, rows=coll.rows, zone_names=coll.zone_names)
    by_ph = check_trace_events(data)
    xs = by_ph["X"]
    names = {x["name"] for x in xs}
    assert {"drain_local_pages_wq", "hog_work_fn", "drain_all_pages(NULL) #1"} <= names
    assert any(x["cat"] == "lock" for x in xs)
    unfinished = {x["name"] for x in xs if x["args"].get("unfinished")}
    assert unfinished == {"hog_work_fn", "drain_all_pages(NULL) #1"}
    flow_names = {ev["name"] for ev in by_ph["s"]}
    assert "queue pcpu_drain[0]" in flow_names and "flush pcpu_drain[0]" in flow_names
    for ev in by_ph["s"] + by_ph["f"]:
        assert enclosing(xs, ev), f"flow end outside any slice: {ev}"
    meta = {(ev["name"], ev["tid"]): ev["args"] for ev in by_ph["M"]}
    assert meta[("process_name", 0)] == {"name": "pcptrio hog-in-pool × wq-4.11"}
    threads = {a["name"] for (n, _), a in meta.items() if n == "thread_name"}
    assert {"reclaimer", "kworker/3:0", "main"} <= threads
    counters = {ev["name"] for ev in by_ph["C"]}
    assert {"pcp cpu0", "pcp cpu3", "wq pending cpu3", "free Normal"} <= counters
    (lockup_free,) = [ev for ev in by_ph["i"] if ev["cat"] == "violation"]
    assert lockup_free["s"] == "g" and "liveness" in lockup_free["name"]
    assert data["otherData"]["trace_sha256"] == r.trace_sha256
    assert data["otherData"]["token"] == token_of(r)


def ns(value: float) -> Fraction:
    """A ``ts`` or ``dur`` in exact nanoseconds, as written in the JSON (``repr`` of the float)."""
    return Fraction(repr(value)) * 1000


async def test_perfetto_time_keeps_the_trace_order() -> None:
    """Record i is drawn in a 3 ns slot at t_ns + 3 i, in trace order: a slice opens a quarter
    nanosecond into its first record's slot and closes 2½ ns into its last one's, so siblings on
    a track never touch."""
    r, _ = await failing("drain-from-kworker", "wq-4.11", {"cpus": 2})
    data = perfetto_trace(r)
    by_ph = check_trace_events(data)
    assert "C" not in by_ph  # no rows, no counters
    xs = by_ph["X"]
    assert all(x["dur"] > 0 for x in xs)
    (work,) = [x for x in xs if x["name"] == "acpi_hotplug_work_fn"]
    start = next(i for i, rec in enumerate(r.trace) if rec[4] == "work_start")
    assert work["args"]["unfinished"]  # the drain it runs never returns: closed at the end
    end = len(r.trace) - 1
    assert ns(work["ts"]) == r.trace[start][1] + 3 * start + Fraction(1, 4)
    assert ns(work["ts"]) + ns(work["dur"]) == r.trace[end][1] + 3 * end + Fraction(5, 2)
    for tid in {x["tid"] for x in xs}:
        spans = sorted((ns(x["ts"]), ns(x["ts"]) + ns(x["dur"])) for x in xs if x["tid"] == tid)
        assert not {a for a, _ in spans} & {b for _, b in spans}, f"slices touch on {tid}"
        stack: list[Fraction] = []
        for a, b in spans:
            while stack and stack[-1] < a:
                stack.pop()
            assert not stack or b <= stack[-1], f"misnested slices on {tid}"
            stack.append(b)


async def test_ipi_storm_report_and_export() -> None:
    """An IPI storm (disturbance bound) reports its in-flight counts; in the export each IPI
    handler is a slice on its own ``ipi:`` track."""
    r, coll = await failing("drain-storm", "ipi", {"cpus": 3})
    v = r.violation
    assert v is not None and v.oracle == "disturbance-bound"
    text = failure_report(r, rows=coll.rows)
    assert re.search(r"in_flight\s+" + str(v.details["in_flight"]), text)
    assert re.search(r"actor\s+cpu0\s+cpu1\s+cpu2\s+event", text)
    for seed in range(1, 40):  # a schedule in which the handlers get to run
        ok, _ = await failing("drain-storm", "ipi", {"cpus": 3}, seed=seed)
        if ok.outcome is Outcome.OK:
            break
    assert ok.outcome is Outcome.OK
    by_ph = check_trace_events(perfetto_trace(ok))
    threads = {ev["tid"]: ev["args"]["name"] for ev in by_ph["M"] if ev["name"] == "thread_name"}
    ipis = [x for x in by_ph["X"] if x["cat"] == "ipi"]
    assert ipis and all(threads[x["tid"]].startswith("ipi:") for x in ipis)
    assert all(x["name"] == "ipi_handler" for x in ipis)


def test_perfetto_lock_slices_skip_failed_trylocks() -> None:
    """A trylock followed by a lock of the same lock had failed: the hold starts at the lock;
    a trylock never released is left out (it cannot be told from a failed one)."""
    r, _ = synthetic(1, 1)
    r.trace[:] = [
        (1, 0, "w", 0, "mutex_trylock", {"lock": "m"}),
        (2, 0, "w", 0, "mutex_lock", {"lock": "m"}),
        (3, 10, "w", 0, "mutex_unlock", {"lock": "m"}),
        (4, 10, "w", 0, "spin_trylock", {"lock": "s"}),
        (5, 10, "w", 0, "spin_lock", {"lock": "t"}),
    ]
    xs = [ev for ev in perfetto_trace(r)["traceEvents"] if ev["ph"] == "X"]
    assert [(x["name"], x["args"]["step"], x["args"].get("unfinished")) for x in xs] == [
        ("mutex_lock m", 2, None),
        ("spin_lock t", 5, True),
    ]
    m = xs[0]  # drawn from record 1 (t=0) into record 2's slot (t=10): 3 ns per record
    assert ns(m["ts"]) == 0 + 3 * 1 + Fraction(1, 4)
    assert ns(m["dur"]) == (10 + 3 * 2 + Fraction(5, 2)) - (0 + 3 * 1 + Fraction(1, 4))


async def test_perfetto_export_is_deterministic() -> None:
    """The same decisions give the same export, byte for byte."""
    a, ca = await failing("hog-in-pool", "wq-4.11")
    b, cb = await failing("hog-in-pool", "wq-4.11")
    dump = json.dumps
    assert dump(perfetto_trace(a, rows=ca.rows)) == dump(perfetto_trace(b, rows=cb.rows))


async def test_perfetto_export_of_a_deadlock_marks_held_locks(tmp_path: pathlib.Path) -> None:
    """Locks still held when the run deadlocked are drawn to the end, and the file written by
    write_perfetto loads back as the same object."""
    r, coll = await failing("hotplug-lock-abba", "wq-hotplug", seed=1)
    data = perfetto_trace(r, rows=coll.rows, zone_names=coll.zone_names)
    by_ph = check_trace_events(data)
    held = {x["name"] for x in by_ph["X"] if x["args"].get("unfinished")}
    assert "down_write cpu_hotplug_lock" in held
    assert any(ev["name"] == "cpu_offline" for ev in by_ph["i"])
    path = write_perfetto(tmp_path / "abba.json", data)
    assert json.loads(path.read_text(encoding="utf-8")) == data


async def test_perfetto_file_conforms_to_the_json_importer(tmp_path: pathlib.Path) -> None:
    """The written file passes the Trace Event Format / Perfetto importer conformance check,
    and its flows bind where the export means them to: queue_work_on's marker to the work,
    the work to each flush_done's marker."""
    r, coll = await failing("hog-in-pool", "wq-4.11")
    path = write_perfetto(tmp_path / "hog.json", perfetto_trace(r, rows=coll.rows))
    report = check_file(path)
    assert report.ok, report.format()
    events = json.loads(path.read_text(encoding="utf-8"))["traceEvents"]
    assert report.slices == sum(1 for ev in events if ev["ph"] == "X")
    bound = {
        (b.ph, events[b.event]["name"]): events[b.slice]["name"]
        for b in report.flows
        if b.slice is not None and b.slice == b.perfetto_slice
    }
    assert len(report.flows) == sum(1 for ev in events if ev["ph"] in "sf")
    assert all(b.slice is not None and b.slice == b.perfetto_slice for b in report.flows)
    assert bound[("s", "queue pcpu_drain[0]")] == "queue_work_on pcpu_drain[0]"
    assert bound[("f", "queue pcpu_drain[0]")] == "drain_local_pages_wq"
    assert bound[("s", "flush pcpu_drain[0]")] == "drain_local_pages_wq"
    assert bound[("f", "flush pcpu_drain[0]")] == "flush_done pcpu_drain[0]"


# ---------------------------------------------------------------------------- logging


@pytest.fixture
def reset_structlog() -> Any:
    yield
    structlog.reset_defaults()


def test_json_logging_is_canonical_and_goes_to_stderr(
    capsys: pytest.CaptureFixture[str], reset_structlog: None
) -> None:
    """JSON lines with sorted keys, a level, no timestamp; nothing on stdout; level filters."""
    configure_logging("json", "info")
    log = structlog.get_logger("pcptrio.test")
    log.info("drain_all_pages", zone="Normal", call=1)
    log.debug("dropped")
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0] == '{"call": 1, "event": "drain_all_pages", "level": "info", "zone": "Normal"}'


def test_console_logging_has_no_colours(
    capsys: pytest.CaptureFixture[str], reset_structlog: None
) -> None:
    """The console renderer prints key=value pairs without ANSI escapes."""
    configure_logging("console", "DEBUG")
    structlog.get_logger().debug("flush_work", work="pcpu_drain[1]")
    err = capsys.readouterr().err
    assert "flush_work" in err and "work=pcpu_drain[1]" in err and "\x1b[" not in err


def test_bad_logging_options_are_bad_input(reset_structlog: None) -> None:
    """An unknown format or level is the user's mistake, said in one line."""
    with pytest.raises(pcptrio.BadInput, match="log format must be one of console, json"):
        configure_logging("xml", "info")
    with pytest.raises(pcptrio.BadInput, match="log level must be one of"):
        configure_logging("json", "loud")


async def test_trace_logger_logs_every_trace_record(
    capsys: pytest.CaptureFixture[str], reset_structlog: None
) -> None:
    """With the trace logger attached, each trace record is one JSON log line."""
    configure_logging("json", "debug")
    spec = make_run_spec("drain-from-kworker", "wq-4.11", {"cpus": 2})
    r = await run_spec_async(spec, RandomScheduler(0), logger=trace_logger())
    lines = [json.loads(ln) for ln in capsys.readouterr().err.splitlines()]
    assert len(lines) == len(r.trace)
    assert all(d["logger"] == "pcptrio.trace" and "timestamp" not in d for d in lines)
    first = next(d for d in lines if d["event"] == "drain_all_pages")
    assert first["call"] == 1 and first["actor"] == "kworker/0:1"


def test_only_the_report_layer_configures_structlog() -> None:
    """The library never configures logging: structlog.configure appears in _logging only."""
    pkg = pathlib.Path(pcptrio.__file__).parent
    callers = sorted(
        str(p.relative_to(pkg))
        for p in pkg.rglob("*.py")
        if "structlog.configure(" in p.read_text(encoding="utf-8")
    )
    assert callers == ["_report/_logging.py"]
