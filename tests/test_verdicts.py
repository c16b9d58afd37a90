"""Verdicts a user can trust: outcome classes, inconclusive campaigns, stage probes, shrinking
that keeps the same failure.

A "." must mean "searched, the stage was set, nothing failed": a design that raises, a run
that exhausts its budget, a scenario that never sets its stage are ``inconclusive``.
"""

from __future__ import annotations

import copy
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from pcptrio._check import PROBES
from pcptrio._core import Outcome
from pcptrio._drain import BUILTIN_DESIGNS
from pcptrio._explore import (
    OUTCOMES,
    CampaignConfig,
    MatrixResult,
    canonical_signature,
    explore,
    make_run_spec,
    replay,
    run_matrix,
    shrink_failure,
)
from pcptrio._scenarios import builtin_scenarios, parse_scenario, resolve_scenario
from pcptrio.cli import main

TESTS_DIR = pathlib.Path(__file__).parent


@pytest.fixture
def user_designs_on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(TESTS_DIR))
    yield


def _scenario(**changes: Any) -> Any:
    """The built-in ``steady`` scenario as a user scenario, with top-level keys changed."""
    data = copy.deepcopy(resolve_scenario("steady").data)
    data["name"] = "my-steady"
    data.update(changes)
    return parse_scenario(data, "my-steady.toml")


# ------------------------------------------------------------------------- outcome classes


@pytest.mark.usefixtures("user_designs_on_path")
@pytest.mark.parametrize(
    ("design", "says"),
    [
        ("user_designs:raises", "RuntimeError: my design has a bug"),
        ("user_designs:sleeps_on_trio", "trio primitive"),
    ],
)
def test_a_broken_design_makes_the_campaign_inconclusive(design: str, says: str) -> None:
    """A design that raises (or awaits trio) gives ``inconclusive`` with every schedule counted
    as ``error`` and the first error's token replaying that error, never a clean verdict."""
    spec = make_run_spec("steady", design)
    res = explore(CampaignConfig(spec, schedules=3, jobs=1))
    assert res.verdict == "inconclusive" and not res.found
    assert res.outcomes == {"ok": 0, "violation": 0, "deadlock": 0, "error": 3,
                            "budget-exhausted": 0}  # fmt: skip
    assert res.reason is not None and "3 schedule(s) errored" in res.reason
    assert res.first_error is not None and says in res.first_error.headline
    again = replay(res.first_error.token)
    assert again.outcome is Outcome.ERROR
    assert (again.error or "").splitlines()[0] == res.first_error.headline
    assert "INCONCLUSIVE" in res.summary()


@pytest.mark.usefixtures("user_designs_on_path")
def test_the_cli_shows_outcome_counts_and_the_first_error_and_exits_3(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``explore`` prints every outcome class and the first error's replay command, exit 3;
    ``run`` of an erroring design exits 3 too."""
    rc = main(["explore", "steady", "--design", "user_designs:raises", "--schedules", "2",
               "--jobs", "1", "--quiet"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 3
    assert "outcomes: ok 0, violation 0, deadlock 0, error 2, budget-exhausted 0" in out
    assert "first error (schedule #0): drainer raised RuntimeError" in out
    assert "replay: pcptrio replay pcptrio1:" in out
    assert main(["run", "steady", "--design", "user_designs:raises"]) == 3
    out = capsys.readouterr().out
    assert "inconclusive: 1 schedule(s) errored" in out


@pytest.mark.usefixtures("user_designs_on_path")
def test_a_design_without_async_or_with_the_wrong_signature_is_bad_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A plain ``def`` design, or one that does not take (m, zone, force_all_cpus), is bad
    input (exit 2, one line), not a crash or an error run."""
    rc = main(["run", "steady", "--design", "user_designs:not_async"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "async def drain_all_pages" in err
    rc = main(["run", "steady", "--design", "user_designs:wrong_signature"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "does not take (m, zone, force_all_cpus)" in err


def test_a_run_that_exhausts_its_budget_is_inconclusive() -> None:
    """Schedules that run out of steps before any drain give ``inconclusive``, not ``.``."""
    s = _scenario(budget={"max_steps": 40})
    res = explore(CampaignConfig(make_run_spec(s, "wq-4.11"), schedules=3, jobs=1))
    assert res.verdict == "inconclusive"
    assert res.outcomes["budget-exhausted"] == 3
    assert res.reason is not None and "exhausted their budget" in res.reason


def test_outcome_counts_cover_every_schedule() -> None:
    """Every schedule of a campaign falls in exactly one outcome class."""
    spec = make_run_spec("steady", "ipi")
    res = explore(CampaignConfig(spec, schedules=5, jobs=1))
    assert tuple(res.outcomes) == OUTCOMES
    assert sum(res.outcomes.values()) == res.schedules_run == 5
    assert res.verdict == "not-found" and res.probes == {"drain-called": 5}


# ------------------------------------------------------------------------- stage probes


def test_a_stage_never_reached_makes_the_campaign_inconclusive() -> None:
    """A scenario that declares ``cpu-down-during-drain`` but never takes a CPU down is
    ``inconclusive (stage not reached)`` — and ``?`` in a matrix."""
    s = _scenario(probes=["drain-called", "cpu-down-during-drain"])
    res = explore(CampaignConfig(make_run_spec(s, "remote-6.11"), schedules=4, jobs=1))
    assert res.verdict == "inconclusive"
    assert res.probes == {"drain-called": 4, "cpu-down-during-drain": 0}
    assert res.reason == "stage not reached: cpu-down-during-drain"
    m = run_matrix(["remote-6.11"], [s], budget=2, jobs=1)
    (cell,) = m.cells
    assert cell.verdict == "inconclusive" and cell.symbol == "?"
    assert cell.why == "stage not reached: cpu-down-during-drain"


def test_an_unknown_probe_in_a_scenario_is_bad_input() -> None:
    """A typo in ``probes`` is refused at load with a suggestion."""
    with pytest.raises(
        Exception, match=r"probes: unknown stage probe 'drain-caled'.*'drain-called'"
    ):
        _scenario(probes=["drain-caled"])


def test_no_probe_names_a_design() -> None:
    """Probes are design-agnostic: their source names no design."""
    src = (pathlib.Path(__file__).parent.parent / "pcptrio/_check/_probes.py").read_text()
    for d in BUILTIN_DESIGNS:
        assert d.name not in src
    for needle in ("design_state", "cpus_with_pcps", "pcpu_drain", "ipi_sent", "mm_percpu_wq"):
        assert needle not in src


def test_every_hazard_scenario_declares_probes() -> None:
    """Every built-in scenario declares at least one known stage probe."""
    for s in builtin_scenarios():
        assert s.probes, s.name
        assert set(s.probes) <= set(PROBES)


# ------------------------------------------------------------------------- the matrix


@pytest.fixture(scope="module")
def matrix() -> MatrixResult:
    """The default matrix (seed 0, every hazard × design), once for the tests below."""
    return run_matrix(jobs=2)


def test_every_clean_cell_reached_its_stage(matrix: MatrixResult) -> None:
    """Every "." of the matrix has each of its scenario's probes reached in some schedule and
    no schedule that errored or exhausted its budget; no cell is inconclusive."""
    for c in matrix.cells:
        assert c.verdict != "inconclusive", c
        if c.verdict == "not-found":
            assert c.probes and all(n > 0 for n in c.probes.values()), c
            assert c.outcomes["ok"] == c.schedules, c


def test_every_found_cell_shows_what_its_token_replays(matrix: MatrixResult) -> None:
    """For every F cell, oracle, kind, message and steps are those of a replay of its token."""
    found = [c for c in matrix.cells if c.verdict == "found"]
    assert found
    for c in found:
        assert c.token is not None
        r = replay(c.token, record_trace=False)
        assert r.violation is not None, c
        assert (r.violation.oracle, r.violation.kind, r.violation.message, r.stats.steps) == (
            c.oracle,
            c.kind,
            c.message,
            c.steps,
        ), c


def test_matrix_json_carries_outcomes_and_probes(matrix: MatrixResult) -> None:
    """The matrix JSON carries each cell's outcome counts and probe counts."""
    data = json.loads(json.dumps(matrix.to_json()))
    for c in data["cells"]:
        if c["verdict"] != "n/a":
            assert set(c["outcomes"]) == set(OUTCOMES)
            assert sum(c["outcomes"].values()) == c["schedules"]


# ------------------------------------------------------------------------- shrinking


def test_workload_shrinking_keeps_the_same_failure_with_a_smaller_configuration() -> None:
    """H5 × wq-rfc shrinks to fewer CPUs or ops, the same signature up to renaming, and
    the shrunk failure's fields come from replaying its own token."""
    spec = make_run_spec("offline-during-drain", "wq-rfc")
    res = explore(CampaignConfig(spec, jobs=1))
    assert res.failure is not None
    f = shrink_failure(res, budget=40)
    sh = f.shrink
    assert sh.params_changed, "no smaller workload found"
    assert sh.steps_after < sh.steps_before
    assert canonical_signature(f.signature) == canonical_signature(res.failure.signature)
    r = replay(f.token)
    assert r.violation is not None
    assert (r.violation.message, r.stats.steps) == (f.message, f.steps)
    assert r.extra["params"] == f.params == sh.params


def test_required_preemptions_are_exactly_those_the_failure_needs() -> None:
    """Each preemption marked as needed loses the failure when reset alone; the others don't."""
    # Two drainers' mask writes must interleave: this failure needs preemptions.  (An IPI
    # landing in a preempt-only PCP update needs none when the timing lines up.)
    spec = make_run_spec("shared-mask-race", "wq-rfc", {"cpus": 2})
    res = explore(CampaignConfig(spec, jobs=1))
    f = shrink_failure(res, budget=30, workload_budget=0)
    sh = f.shrink
    assert sh.required_steps, "two drains' mask writes must interleave: some preemption is needed"
    r = replay(f.token)
    steps = dict((step, index) for index, step in r.preempted)
    for step, index in steps.items():
        cand: list[Any] = list(r.decision_list)
        cand[index] = None
        from pcptrio._explore._shrink import _run, _signature

        lost = _signature(_run(spec, cand)) != _signature(r)
        assert lost == (step in sh.required_steps), step


def test_no_shrink_prints_no_shrunk_line(capsys: pytest.CaptureFixture[str]) -> None:
    """``--no-shrink`` says nothing about shrinking; shrinking says what it changed."""
    args = ["explore", "drain-from-kworker", "--design", "wq-4.11", "--cpus", "2",
            "--schedules", "3", "--jobs", "1", "--quiet"]  # fmt: skip
    assert main([*args, "--no-shrink"]) == 1
    assert "shrunk" not in capsys.readouterr().out
    assert main(args) == 1
    assert "shrunk: " in capsys.readouterr().out


async def test_pytest_helper_asserts_the_stage_was_reached() -> None:
    """``assert_stage_reached`` passes when the scenario's probes were reached and names the
    missing probe otherwise."""
    from pcptrio.testing import assert_stage_reached, run_scenario

    r = await run_scenario("offline-during-drain", "wq-4.11", seed=1)
    assert_stage_reached(r)
    s = _scenario(probes=["hog-during-drain"])
    r = await run_scenario(s, "wq-4.11", seed=1)
    with pytest.raises(AssertionError, match="stage not reached: hog-during-drain"):
        assert_stage_reached(r)


def test_toml_scenarios_declare_probes(tmp_path: pathlib.Path) -> None:
    """A TOML scenario's ``probes`` are counted by a campaign like a built-in's."""
    f = tmp_path / "kw.toml"
    f.write_text(
        'name = "kw"\noracles = ["drain-completeness"]\nprobes = ["drain-from-kworker"]\n'
        "[params]\ncpus = 2\n"
        '[[phases]]\nactors = [{ kind = "fill", cpus = "all", pages = 20 }]\n'
        '[[phases]]\nactors = [{ kind = "kworker-drain", cpu = 0, zone = "Normal" }]\n'
    )
    res = explore(CampaignConfig(make_run_spec(str(f), "wq-5.0"), schedules=3, jobs=1))
    assert res.verdict == "not-found" and res.probes == {"drain-from-kworker": 3}
