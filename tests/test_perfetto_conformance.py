"""The Perfetto/Chrome JSON export against tests/perfetto_conformance.py, and that checker
against traces broken on purpose.

Real traces come from runs of several scenarios × designs (failing and passing, with the
counter rows of a replay), built through the library as the CLI does, and from the CLI itself.
Each rule of the checker has a hand-made trace that breaks it and must be rejected.
"""

from __future__ import annotations

import copy
import json
import pathlib
from decimal import Decimal
from typing import Any

import pytest
import structlog

from pcptrio._core import RandomScheduler, ReplayScheduler, RunResult
from pcptrio._explore import make_run_spec, run_spec_async
from pcptrio._report import RowCollector, perfetto_trace, write_perfetto
from pcptrio.cli import main
from tests.perfetto_conformance import Report, check_file, check_trace

# ---------------------------------------------------------------------------- helpers


async def export(
    scenario: str, design: str, params: dict[str, Any] | None = None, seed: int = 0
) -> tuple[RunResult, dict[str, Any]]:
    """Run once, replay with a row collector (as ``pcptrio run --perfetto`` does), export."""
    spec = make_run_spec(scenario, design, params)
    r = await run_spec_async(spec, RandomScheduler(seed))
    coll = RowCollector()
    r2 = await run_spec_async(spec, ReplayScheduler(r.decision_list), observer=coll.attach)
    return r2, perfetto_trace(r2, rows=coll.rows, zone_names=coll.zone_names)


def meta(tid: int, name: str) -> list[dict[str, Any]]:
    return [
        {"ph": "M", "pid": 1, "tid": tid, "name": "thread_name", "args": {"name": name}},
        {"ph": "M", "pid": 1, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": 1}},
    ]


def x(name: str, ts: float, dur: float, tid: int = 2) -> dict[str, Any]:
    return {"ph": "X", "pid": 1, "tid": tid, "name": name, "cat": "t", "ts": ts, "dur": dur}


def flow(ph: str, ts: float, tid: int = 2, fid: int = 1, **extra: Any) -> dict[str, Any]:
    ev = {"ph": ph, "pid": 1, "tid": tid, "name": "arrow", "cat": "flow", "id": fid, "ts": ts}
    return {**ev, **extra}


def good_trace() -> dict[str, Any]:
    """A small trace that follows every rule: two tracks, nested slices, a flow, a counter."""
    events = [
        {"ph": "M", "pid": 1, "tid": 0, "name": "process_name", "args": {"name": "p"}},
        *meta(2, "a"),
        *meta(3, "b"),
        x("outer", 1.0, 10.0),
        x("inner", 2.0, 3.0),
        x("next", 11.0, 1.0),  # touches "outer": follows it, no overlap
        flow("s", 2.5),  # inside "inner"
        x("target", 20.0, 5.0, tid=3),
        flow("f", 21.0, tid=3, bp="e"),
        {"ph": "B", "pid": 1, "tid": 3, "name": "be", "ts": 22.0},
        {"ph": "E", "pid": 1, "tid": 3, "ts": 23.0},
        {"ph": "i", "pid": 1, "tid": 2, "name": "tick", "s": "t", "ts": 1.5},
        {"ph": "C", "pid": 1, "tid": 1, "name": "pages", "ts": 1.0, "args": {"pages": 3}},
    ]
    return {"traceEvents": events, "displayTimeUnit": "ns"}


def broken(*events: dict[str, Any], unit: object = "ns") -> Report:
    """:func:`check_trace` of the good trace with ``events`` appended."""
    data = good_trace()
    data["traceEvents"] += copy.deepcopy(list(events))
    data["displayTimeUnit"] = unit
    return check_trace(data)


def only(report: Report, rule: str = "flow-perfetto", event: int | None = None) -> str:
    """Assert ``report`` has exactly one violation, of ``rule`` (at ``event``); its message."""
    assert len(report.violations) == 1, report.format()
    (v,) = report.violations
    assert v.rule == rule, report.format()
    if event is not None:
        assert v.event == event, report.format()
    return v.message


N_GOOD = len(good_trace()["traceEvents"])


# ---------------------------------------------------------------------------- real traces


@pytest.mark.parametrize(
    ("scenario", "design", "params", "failed", "seed"),
    [
        ("count-race", "remote-6.0", None, False, 0),
        ("count-race", "ipi", None, True, 0),
        ("count-race", "wq-4.11", None, False, 0),
        ("hog-in-pool", "wq-4.11", None, True, 0),
        ("drain-storm", "ipi", {"cpus": 3}, True, 0),
        ("hotplug-lock-abba", "wq-hotplug", None, True, 1),
        ("shared-mask-race", "wq-rfc", None, True, 0),
        ("offline-stale-mask", "wq-5.0", None, False, 0),
        ("reclaim-storm", "remote-6.11", None, False, 0),
        ("no-rescuer-under-pressure", "wq-hotplug", None, True, 0),
    ],
)
async def test_exports_of_real_runs_conform(
    scenario: str, design: str, params: dict[str, Any] | None, failed: bool, seed: int
) -> None:
    """Exports of passing and failing runs break no rule, and every flow event binds to the
    same slice as written and as Perfetto imports it."""
    r, data = await export(scenario, design, params, seed)
    assert r.failed is failed
    report = check_trace(data)
    assert report.ok, f"{scenario} × {design}:\n{report.format()}"
    events = data["traceEvents"]
    assert report.slices == sum(1 for ev in events if ev["ph"] == "X") > 0
    assert len(report.flows) == sum(1 for ev in events if ev["ph"] in "sf")
    for b in report.flows:
        assert b.slice is not None and b.slice == b.perfetto_slice
        assert events[b.slice]["tid"] == events[b.event]["tid"]


async def test_flows_bind_the_work_and_its_markers() -> None:
    """queue_work_on's arrow leaves its marker and enters the work's slice; the flush arrow
    leaves the work's slice (not a lock released inside it) and enters flush_done's marker."""
    _, data = await export("offline-stale-mask", "wq-5.0")
    report = check_trace(data)
    assert report.ok, report.format()
    events = data["traceEvents"]
    cats = {
        (b.ph, events[b.event]["name"].split()[0], events[b.slice]["cat"])
        for b in report.flows
        if b.slice is not None
    }
    arrows = sum(1 for ev in events if ev["ph"] == "s")
    assert arrows > 10 and len(cats) == 4 and len(report.flows) == 2 * arrows  # every end bound
    assert cats == {
        ("s", "queue", "marker"),
        ("f", "queue", "work"),
        ("s", "flush", "work"),
        ("f", "flush", "marker"),
    }


def test_cli_perfetto_file_conforms(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """``pcptrio run count-race --design ipi --perfetto`` (a failing run) writes a file that
    conforms when read back from its exact text."""
    path = tmp_path / "x.json"
    try:
        rc = main(["run", "count-race", "--design", "ipi", "--perfetto", str(path)])
    finally:
        structlog.reset_defaults()  # main() configures structlog, as the command should
    capsys.readouterr()
    assert rc == 1  # drain-completeness found
    report = check_file(path)
    assert report.ok, report.format()
    assert report.slices > 0


async def test_the_old_timestamp_scheme_is_rejected(tmp_path: pathlib.Path) -> None:
    """The pre-fix encoding, ts = (ns + ¼) / 1000 and dur = (d + ¼) / 1000 with siblings
    meeting at the next record, overlaps by a quarter nanosecond as written: the format
    reading rejects it, Perfetto's integer reading does not."""

    def old(open_ns: int, close_ns: int) -> tuple[float, float]:
        return (open_ns + 0.25) / 1000, (close_ns + 2 - open_ns + 0.25) / 1000

    a_ts, a_dur = old(44554, 44607)  # closes at record 44607; the next one opens at 44609
    b_ts, b_dur = old(44609, 44644)
    report = broken(x("lock", a_ts, a_dur, tid=4), x("lock", b_ts, b_dur, tid=4))
    message = only(report, "nesting", N_GOOD + 1)
    assert message.startswith("format reading") and "they share 0.25 ns" in message
    # the same run exported now: no overlap in either reading
    _, data = await export("count-race", "remote-6.0")
    path = write_perfetto(tmp_path / "r.json", data)
    assert check_file(path).ok


# ---------------------------------------------------------------------------- broken on purpose


def test_a_good_trace_passes_and_its_flow_binds() -> None:
    """The hand-made good trace conforms; its flow leaves "inner" and enters "target"."""
    report = check_trace(good_trace())
    assert report.ok, report.format()
    events = good_trace()["traceEvents"]
    assert [(b.ph, events[b.slice or 0]["name"]) for b in report.flows] == [
        ("s", "inner"),
        ("f", "target"),
    ]
    assert report.slices == 5  # four X and one B/E pair


def test_overlapping_slices_on_a_track_are_rejected() -> None:
    """A slice that starts inside another on its track and ends after it breaks nesting, in
    both readings of time."""
    report = broken(x("straddle", 9.0, 4.0))  # outer ends at 11, next runs 11..12
    assert report.rules() == {"nesting": 2}
    assert {v.message.split(" reading")[0] for v in report.violations} == {"format", "perfetto"}
    assert all(v.event == N_GOOD for v in report.violations)


def test_slices_that_nest_as_written_but_not_in_perfetto_are_rejected() -> None:
    """1.001 µs * 1000.0 is 1000.9999… in doubles, so Perfetto truncates the parent to 1000 ns
    and a child ending at 1001 ns sticks out of it there, though it nests as written."""
    assert int(1.001 * 1000.0) == 1000
    report = broken(x("p", 0.0, 1.001, tid=5), x("c", 0.999, 0.002, tid=5))
    assert only(report, "nesting", N_GOOD + 1).startswith("perfetto reading")


def test_an_unbound_flow_is_rejected() -> None:
    """A flow start outside every slice on its track binds nothing."""
    late = x("late", 59.0, 2.0, tid=3)
    report = broken(flow("s", 50.0, fid=7), late, flow("f", 60.0, tid=3, fid=7, bp="e"))
    message = only(report, "flow-binding", N_GOOD)
    assert "no slice inside it" in message


def test_a_flow_end_without_bp_binds_the_next_slice() -> None:
    """Without bp "e" a flow end binds the next slice on its track; with none after it, none."""
    ok = broken(flow("s", 3.0, fid=8), flow("f", 30.0, tid=3, fid=8), x("later", 31.0, 1.0, 3))
    assert ok.ok, ok.format()
    assert ok.flows[-1].slice == N_GOOD + 2 == ok.flows[-1].perfetto_slice
    message = only(broken(flow("s", 3.0, fid=8), flow("f", 30.0, tid=3, fid=8)), "flow-binding")
    assert "no slice after it" in message


def test_a_flow_on_a_slice_edge_is_rejected() -> None:
    """A flow event at the very start of a slice binds by the importer's tie order."""
    message = only(
        broken(flow("s", 20.0, tid=3, fid=9), flow("f", 21.5, tid=3, fid=9, bp="e")), "flow-binding"
    )
    assert "on an edge of slice 'target'" in message


def test_a_flow_perfetto_binds_to_an_ended_slice_is_rejected() -> None:
    """After "inner" ends, Perfetto keeps it on top of the track's stack until the next slice
    event, so a flow start later inside "outer" attaches to "inner"."""
    message = only(
        broken(flow("s", 8.0, fid=5), flow("f", 21.5, tid=3, fid=5, bp="e")), "flow-perfetto"
    )
    assert "binds it to 'inner'" in message and "not 'outer'" in message
    tick = {"ph": "i", "pid": 1, "tid": 2, "name": "tock", "s": "t", "ts": 6.0}
    message = only(broken(tick, flow("s", 8.0, fid=5), flow("f", 21.5, tid=3, fid=5, bp="e")))
    assert "binds it to 'tock'" in message  # a thread instant is a zero-length slice there


def test_unpaired_and_backwards_flows_are_rejected() -> None:
    """Every flow id has one s and one f, the s first."""
    assert "needs one s and one f" in only(broken(flow("s", 3.0, fid=3)), "flow")
    backwards = broken(flow("f", 3.0, fid=4, bp="e"), flow("s", 21.0, tid=3, fid=4))
    assert "must start with s and end with f" in only(backwards, "flow")


def test_a_counter_with_a_string_value_is_rejected() -> None:
    """Counter series are numbers."""
    bad = {"ph": "C", "pid": 1, "tid": 1, "name": "pages", "ts": 2.0, "args": {"pages": "3"}}
    assert "'3' is no number" in only(broken(bad), "counter", N_GOOD)


@pytest.mark.parametrize(
    ("event", "words"),
    [
        ({"ph": "X", "pid": 1, "tid": 2, "name": "no dur", "ts": 30.0}, "dur must be"),
        ({"ph": "X", "tid": 2, "name": "no pid", "ts": 30.0, "dur": 1.0}, "pid must be"),
        ({"ph": "X", "pid": 1, "tid": "a", "name": "n", "ts": 30.0, "dur": 1.0}, "tid must be"),
        ({"ph": "i", "pid": 1, "tid": 2, "name": "neg", "ts": -1.0}, "ts must be"),
        ({"ph": "X", "pid": 1, "tid": 2, "ts": 30.0, "dur": 1.0}, "needs a string name"),
        ({"ph": "s", "pid": 1, "tid": 2, "name": "n", "cat": "flow", "ts": 3.0}, "needs an id"),
        ({"ph": "i", "pid": 1, "tid": 2, "name": "n", "s": "x", "ts": 3.0}, "scope s must be"),
        ({"ph": "Q", "pid": 1, "tid": 2, "name": "n", "ts": 3.0}, "unknown phase"),
    ],
)
def test_a_missing_or_mistyped_field_is_rejected(event: dict[str, Any], words: str) -> None:
    """Each phase's required fields are there, with the right types."""
    assert words in only(broken(event), "fields", N_GOOD)


def test_bad_metadata_is_rejected() -> None:
    """thread_name needs args.name, sort indexes are ints, and unknown metadata is flagged."""
    no_name = {"ph": "M", "pid": 1, "tid": 2, "name": "thread_name", "args": {}}
    assert "args.name" in only(broken(no_name), "metadata")
    float_sort = {
        "ph": "M",
        "pid": 1,
        "tid": 2,
        "name": "thread_sort_index",
        "args": {"sort_index": 1.5},
    }
    assert "sort_index" in only(broken(float_sort), "metadata")
    unknown = {"ph": "M", "pid": 1, "tid": 2, "name": "thread_colour", "args": {"name": "red"}}
    assert "unknown metadata" in only(broken(unknown), "metadata")


def test_unbalanced_begin_end_is_rejected() -> None:
    """An E with no open B, a B never ended, and an E naming another B are all reported."""
    assert "closes no open B" in only(
        broken({"ph": "E", "pid": 1, "tid": 6, "ts": 1.0}), "begin-end"
    )
    lone_b = {"ph": "B", "pid": 1, "tid": 6, "name": "open", "ts": 1.0}
    assert "never ended" in only(broken(lone_b), "begin-end")
    b = {"ph": "B", "pid": 1, "tid": 6, "name": "one", "ts": 1.0}
    e = {"ph": "E", "pid": 1, "tid": 6, "name": "two", "ts": 2.0}
    assert "closes B 'one'" in only(broken(b, e), "begin-end")


def test_a_begin_end_pair_straddling_a_complete_event_is_rejected() -> None:
    """B/E pairs take part in nesting with X slices on the same track."""
    b = {"ph": "B", "pid": 1, "tid": 2, "name": "be", "ts": 5.0}
    e = {"ph": "E", "pid": 1, "tid": 2, "ts": 10.5}  # "next" starts at 11: fine; "outer" ends 11
    assert broken(b, e).ok
    e_late = {"ph": "E", "pid": 1, "tid": 2, "ts": 11.5}  # now it straddles outer's end
    assert broken(b, e_late).rules() == {"nesting": 2}


def test_bad_display_time_unit_and_shape_are_rejected() -> None:
    """displayTimeUnit is "ms" or "ns"; a trace needs its traceEvents array."""
    assert "displayTimeUnit" in only(broken(unit="us"), "top-level", None)
    assert only(check_trace({"events": []}), "top-level")
    assert check_trace([x("a", 1.0, 1.0)]).ok  # the JSON array form is fine


def test_check_file_reads_numbers_from_their_text(tmp_path: pathlib.Path) -> None:
    """A file's numbers are taken exactly as written (2.0000000000000001 is not 2)."""
    path = tmp_path / "t.json"
    path.write_text(
        '{"traceEvents": ['
        '{"ph": "X", "pid": 1, "tid": 2, "name": "a", "ts": 1, "dur": 1.0000000000000001},'
        '{"ph": "X", "pid": 1, "tid": 2, "name": "b", "ts": 2, "dur": 1}]}',
        encoding="utf-8",
    )
    message = only(check_file(path), "nesting")
    assert message.startswith("format reading")
    assert json.loads(path.read_text(), parse_float=Decimal)["traceEvents"][0]["dur"] > 1
