"""Campaigns, shrinking, replay, DFS and the hazard matrix."""

from __future__ import annotations

import json
import pathlib

import pytest
import trio

from pcptrio._core import DFSScheduler, Engine, Outcome, ReplayScheduler, Violation
from pcptrio._explore import (
    CampaignConfig,
    explore,
    make_run_spec,
    replay,
    run_matrix,
    run_spec,
    same_failure_signature,
    shrink,
    spec_from_token,
    token_of,
)
from pcptrio._scenarios import NotApplicable
from tests.expected_matrix import ORACLES, cells

# --------------------------------------------------------------------------- campaigns


def _cfg(scenario: str, design: str, **kw: object) -> CampaignConfig:
    params = kw.pop("params", {})
    return CampaignConfig(make_run_spec(scenario, design, params), **kw)  # type: ignore[arg-type]


def test_campaign_is_reproducible_and_independent_of_processes() -> None:
    """Same campaign seed -> same verdict, failing schedule and token, on 1 or 2 processes."""
    a = explore(_cfg("count-race", "ipi", schedules=30, seed=7, scheduler="pct"))
    b = explore(_cfg("count-race", "ipi", schedules=30, seed=7, scheduler="pct"))
    c = explore(_cfg("count-race", "ipi", schedules=30, seed=7, scheduler="pct", jobs=2))
    assert a.found
    assert a.to_json() == b.to_json() == c.to_json()
    d = explore(_cfg("count-race", "ipi", schedules=30, seed=8, scheduler="pct"))
    assert d.to_json() != a.to_json()


def test_not_found_reports_what_was_searched() -> None:
    """A clean campaign says how many schedules of which scheduler it ran, never 'proved'."""
    res = explore(_cfg("count-race", "remote-6.11", schedules=12, seed=1, scheduler="pct"))
    assert res.verdict == "not-found" and res.schedules_run == 12
    assert res.summary().endswith("12 pct-3 schedules, 0 failures")
    assert "proved" not in res.summary()


def test_killed_campaign_resumes_without_redoing_schedules(tmp_path: pathlib.Path) -> None:
    """A campaign interrupted halfway continues from its JSONL file and ends like an
    uninterrupted one; no schedule runs twice."""
    cfg = _cfg("shared-mask-race", "wq-4.11", schedules=10, seed=3, stop_at_first=False)
    whole = explore(cfg)
    path = tmp_path / "campaign.jsonl"

    class Killed(Exception):
        pass

    def kill_after_four(done: int, total: int) -> None:
        if done >= 4:
            raise Killed

    with pytest.raises(Killed):
        explore(cfg, out=path, progress=kill_after_four)
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 4
    # a half-written last line, as a kill during a write leaves it
    path.write_text("\n".join(lines) + '\n{"index": 4, "see')
    ran: list[int] = []
    resumed = explore(cfg, out=path, resume=True, progress=lambda d, t: ran.append(d))
    assert resumed.to_json() == whole.to_json()
    indices = [json.loads(ln)["index"] for ln in path.read_text().splitlines()[1:5]]
    assert indices == [0, 1, 2, 3]
    recs = [json.loads(ln) for ln in path.read_text().splitlines()[1:]]
    assert sorted(r["index"] for r in recs) == list(range(10))
    assert ran[-1] == 10


def test_resume_refuses_a_file_from_another_campaign(tmp_path: pathlib.Path) -> None:
    """Resuming with a different configuration is bad input, and the file is untouched."""
    from pcptrio import BadInput

    path = tmp_path / "c.jsonl"
    explore(_cfg("shared-mask-race", "wq-4.11", schedules=3, seed=1), out=path)
    before = path.read_text()
    with pytest.raises(BadInput, match="different campaign"):
        explore(_cfg("shared-mask-race", "wq-4.11", schedules=3, seed=2), out=path, resume=True)
    with pytest.raises(BadInput, match="exists"):
        explore(_cfg("shared-mask-race", "wq-4.11", schedules=3, seed=1), out=path)
    assert path.read_text() == before


def test_replace_keeps_the_old_file_until_the_campaign_has_a_record(
    tmp_path: pathlib.Path,
) -> None:
    """``replace`` (the CLI's --force) takes the file over with the first record: a campaign
    that fails before one leaves the old file, and no temporary file behind."""
    path = tmp_path / "c.jsonl"
    path.write_text("my notes\n")
    cfg = _cfg("shared-mask-race", "wq-4.11", schedules=4, seed=1, stop_at_first=False)

    class Killed(Exception):
        pass

    def kill_at_once(done: int, total: int) -> None:
        raise Killed

    with pytest.raises(Killed):
        explore(cfg, out=path, replace=True, progress=kill_at_once)
    assert path.read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]

    def kill_after_two(done: int, total: int) -> None:
        if done >= 2:
            raise Killed

    with pytest.raises(Killed):
        explore(cfg, out=path, replace=True, progress=kill_after_two)
    assert len(path.read_text().splitlines()) == 1 + 2  # replaced, and resumable
    assert explore(cfg, out=path, resume=True).to_json() == explore(cfg).to_json()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]


# --------------------------------------------------------------------------- shrinking


@pytest.mark.parametrize(
    ("scenario", "design"),
    [("shared-mask-race", "ipi"), ("count-race", "wq-4.11"), ("drain-storm", "wq-rfc")],
)
def test_shrinking_keeps_the_signature_and_never_lengthens(scenario: str, design: str) -> None:
    """Shrunk failures fail the same way in no more steps, and their token replays them."""
    res = explore(_cfg(scenario, design, schedules=60, seed=0, scheduler="portfolio"))
    assert res.failure is not None
    f = res.failure
    spec = make_run_spec(scenario, design)
    sh = shrink(spec, f.decisions, budget=40)
    assert sh.signature == same_failure_signature(f.signature)
    assert sh.steps_after <= sh.steps_before == f.steps
    assert sh.preemptions_after <= max(sh.preemptions_before, f.preemptions)
    token = token_of(sh.result)
    again = replay(token)
    assert again.failed and again.violation is not None
    assert same_failure_signature(again.violation.signature) == sh.signature
    assert again.trace_sha256 == sh.result.trace_sha256


def test_replay_is_byte_identical_and_strict_replay_reports_drift() -> None:
    """A run's token replays to the same trace bytes; the same decisions on another
    scenario stop with 'replay drift at step N'."""
    spec = make_run_spec("count-race", "ipi")
    from pcptrio._core import RandomScheduler

    r = run_spec(spec, RandomScheduler(5))
    again = replay(token_of(r))
    assert again.trace_jsonl == r.trace_jsonl
    other = make_run_spec("steady", "ipi")
    drift = run_spec(other, ReplayScheduler(r.decision_list))
    assert drift.outcome is Outcome.ERROR
    assert drift.error is not None and drift.error.startswith("replay drift at step")


def test_token_carries_a_user_toml_scenario(tmp_path: pathlib.Path) -> None:
    """A run of a TOML scenario replays from its token alone, without the file."""
    toml = tmp_path / "mine.toml"
    toml.write_text(
        'name = "mine"\noracles = ["drain-completeness"]\n'
        '[[phases]]\nactors = [{ kind = "fill", cpus = "all", pages = 5 }]\n'
        '[[phases]]\nactors = [{ kind = "kworker-drain", zone = "Normal" }]\n'
    )
    from pcptrio._core import RandomScheduler

    r = run_spec(make_run_spec(str(toml), "wq-4.11", {"cpus": 2}), RandomScheduler(0))
    assert r.failed and r.violation is not None
    assert r.violation.oracle == "drain-completeness"
    toml.unlink()
    spec, _ = spec_from_token(token_of(r))
    assert spec.scenario.name == "mine"
    assert replay(token_of(r)).trace_sha256 == r.trace_sha256


# --------------------------------------------------------------------------- DFS


def _lost_update(sched: object) -> bool:
    e = Engine(cpus=2, scheduler=sched)  # type: ignore[arg-type]
    box = {"n": 0}

    async def inc() -> None:
        for _ in range(2):
            v = box["n"]
            await e.point("read")
            box["n"] = v + 1
            await e.point("write")

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(inc, name="a", cpu=0)
            n.start_soon(inc, name="b", cpu=1)
        if box["n"] != 4:
            e.report_violation(Violation("lost-update", "lost"))

    return trio.run(e.run, main).failed


@pytest.mark.parametrize(("bound", "found"), [(0, False), (1, True)])
def test_bounded_dfs_explores_every_schedule_within_the_bound(bound: int, found: bool) -> None:
    """DFS with 0 preemptions exhausts without finding the lost update; with 1 it finds it."""
    sched = DFSScheduler(max_preemptions=bound)
    hit = False
    runs = 0
    while not sched.exhausted and runs < 500:
        hit = _lost_update(sched) or hit
        runs += 1
    assert sched.exhausted
    assert hit is found
    assert runs >= 1


def test_dfs_campaign_reports_exhaustion() -> None:
    """A dfs campaign on a scenario states the bound it exhausted."""
    res = explore(
        _cfg(
            "drain-from-kworker",
            "wq-5.0",
            params={"cpus": 1, "fill": 2},
            scheduler="dfs",
            max_preemptions=0,
            schedules=50,
        )
    )
    assert res.verdict == "not-found"
    assert "preemptions" in res.summary()


# --------------------------------------------------------------------------- the matrix


@pytest.mark.parametrize(("scenario", "design", "verdict"), cells("F"))
def test_every_expected_f_cell_is_found(scenario: str, design: str, verdict: str) -> None:
    """Exploration finds the hazard in each F cell of docs/hazards.md within the default
    budget (seed 0, default CPUs), under one of the hazard's oracles."""
    res = explore(_cfg(scenario, design, scheduler="portfolio", seed=0))
    assert res.failure is not None, res.summary()
    assert res.failure.oracle in ORACLES[scenario]


@pytest.mark.parametrize(("design", "found"), [("wq-hotplug", True), ("wq-4.11", False)])
def test_stale_mask_bit_of_an_offline_cpu(design: str, found: bool) -> None:
    """H5b: a drain that builds the shared mask while a CPU is down keeps that CPU's stale bit
    and queues work to it.  The hotplug lock of wq-hotplug does not help (the unbound worker
    migrates mid-drain); the preempt_disable of wq-4.11's work function does."""
    res = explore(_cfg("offline-stale-mask", design, scheduler="portfolio", seed=1, schedules=40))
    assert (res.failure is not None) == found, res.summary()
    if res.failure is not None:
        assert res.failure.oracle == "pcp-exclusive"


def test_na_cells_are_ruled_out_by_the_era() -> None:
    """Remote designs cannot run the preempt-only PCP scenario; nothing else is n/a."""
    for scenario, design, verdict in cells():
        if verdict == "n/a":
            with pytest.raises(NotApplicable):
                make_run_spec(scenario, design)
        else:
            make_run_spec(scenario, design)


def test_matrix_with_the_same_seed_gives_identical_json() -> None:
    """Two matrix runs with one seed (and different process counts) give the same JSON."""
    designs, hazards = ["ipi", "wq-4.11"], ["shared-mask-race", "drain-from-kworker"]
    a = run_matrix(designs, hazards, budget=6, seed=4, shrink_budget=10, jobs=1)
    b = run_matrix(designs, hazards, budget=6, seed=4, shrink_budget=10, jobs=2)
    assert json.dumps(a.to_json(), sort_keys=True) == json.dumps(b.to_json(), sort_keys=True)
    assert {c.verdict for c in a.cells} <= {"found", "not-found"}


SLOW_CELLS = [
    (s, d, v, seed, cpus) for s, d, v in cells() for seed in (1, 2, 3) for cpus in (2, 4, 8)
]


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "design", "verdict", "seed", "cpus"), SLOW_CELLS)
def test_expected_matrix_holds_across_seeds_and_cpus(
    scenario: str, design: str, verdict: str, seed: int, cpus: int
) -> None:
    """Each cell's verdict holds for campaign seeds 1-3 and for 2, 4 and 8 CPUs (where the
    scenario's minimum allows)."""
    try:
        spec = make_run_spec(scenario, design, {"cpus": cpus})
    except NotApplicable:
        assert verdict == "n/a"
        return
    except Exception as exc:  # below the scenario's minimum CPU count
        if "needs at least" in str(exc):
            pytest.skip(str(exc))
        raise
    assert verdict != "n/a"
    res = explore(
        CampaignConfig(spec, scheduler="portfolio", seed=seed, schedules=spec.scenario.schedules)
    )
    assert res.verdict == ("found" if verdict == "F" else "not-found"), res.summary()
    if res.failure is not None:
        assert res.failure.oracle in ORACLES[scenario]


def test_the_compact_store_widens_its_probe_masks() -> None:
    """One byte of probe mask per schedule while a campaign has at most 8 probes; a ninth
    widens every mask without losing what earlier schedules reached."""
    from pcptrio._explore._campaign import _Done

    d = _Done()
    d.add({"index": 0, "outcome": "ok", "steps": 1, "probes": [f"p{j}" for j in range(8)]})
    assert d.masks.itemsize == 1
    d.add({"index": 2, "outcome": "ok", "steps": 1, "probes": ["p0", "p8"]})
    assert d.masks.itemsize == 2
    assert d.probes_of(0) == [f"p{j}" for j in range(8)]
    assert d.probes_of(2) == ["p0", "p8"] and d.probes_of(1) == [] and 1 not in d


@pytest.mark.parametrize(
    "damage",
    [
        {"probes": 5},
        {"seed": None},
        {"index": 10_000},  # past the campaign's budget: no campaign of it ran that index
    ],
    ids=["probes-not-a-list", "no-seed", "index-past-budget"],
)
def test_resume_drops_damaged_records_with_a_note(
    tmp_path: pathlib.Path, damage: dict[str, object]
) -> None:
    cfg = _cfg("shared-mask-race", "wq-4.11", schedules=6, seed=1, stop_at_first=False)
    path = tmp_path / "c.jsonl"
    whole = explore(cfg, out=path)
    lines = path.read_text().splitlines()
    rec = {**json.loads(lines[2]), **damage}
    path.write_text("\n".join([*lines[:2], json.dumps(rec), *lines[3:]]) + "\n")
    again = explore(cfg, out=path, resume=True)
    assert again.to_json() == whole.to_json()
    assert again.notes == (f"{path}: dropped unreadable line 3",)
