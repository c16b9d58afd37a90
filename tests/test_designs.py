"""The drain designs: every page accounted for, per-call metrics, kernel provenance, lookup.

Each design runs whole scenarios through the same run layer as the CLI
(``make_run_spec`` / ``run_spec_async``) and the tests assert on what the runs recorded:
outcomes, the end-of-run page audit, and the per-call ``drain_calls`` metrics.
"""

from __future__ import annotations

import importlib
import re
import statistics
from pathlib import Path
from typing import Any

import pytest

from pcptrio import BadInput
from pcptrio._core import Outcome, RandomScheduler, RunResult
from pcptrio._drain import BUILTIN_DESIGNS, DrainDesign, resolve_design
from pcptrio._explore import make_run_spec, replay_token, run_spec_async, token_of
from pcptrio._kernel import Machine, Protection
from pcptrio._scenarios import NotApplicable

SEEDS = range(3)
DESIGN_IDS = [d.name for d in BUILTIN_DESIGNS]
REMOTE = {"remote-6.0", "remote-6.11"}
TESTS_DIR = Path(__file__).parent


def _family(d: DrainDesign) -> str:
    if d.name == "ipi":
        return "ipi"
    if d.name.startswith("wq-"):
        return "wq"
    assert d.name in REMOTE, f"unclassified built-in design {d.name}"
    return "remote"


async def _run(
    scenario: str, design: str | DrainDesign, params: dict[str, Any], seed: int
) -> tuple[RunResult, Machine]:
    holder: list[Machine] = []
    spec = make_run_spec(scenario, design, params)
    result = await run_spec_async(spec, RandomScheduler(seed), observer=holder.append)
    assert len(holder) == 1
    return result, holder[0]


# --------------------------------------------------------------------------- conservation


@pytest.mark.parametrize("cpus", [2, 4, 16])
@pytest.mark.parametrize("design", BUILTIN_DESIGNS, ids=DESIGN_IDS)
async def test_steady_workload_keeps_every_page_accounted_for(
    design: DrainDesign, cpus: int
) -> None:
    """Every built-in design runs `steady` on 2, 4 and 16 CPUs: no violation, a clean audit."""
    defaults = make_run_spec("steady", design).scenario.defaults
    # 16 CPUs: fewer operations per CPU keep the run cheap ("ops" is steady's knob for that)
    params: dict[str, Any] = {"cpus": cpus} if cpus < 16 else {"cpus": 16, "ops": 10}
    assert params.keys() <= defaults.keys()
    for seed in SEEDS:
        result, m = await _run("steady", design, params, seed)
        assert result.outcome is Outcome.OK, result.headline
        assert result.violation is None
        assert m.audit() == []
        assert m.nr_cpus == cpus
        # the workload really ran: pages moved and every drain call was recorded
        assert result.extra["page_ops"] > 0
        assert len(result.extra["drain_calls"]) == defaults["drains"]


# --------------------------------------------------------------------------- metrics


@pytest.mark.parametrize("design", BUILTIN_DESIGNS, ids=DESIGN_IDS)
async def test_drain_call_metrics_match_the_design_mechanism(design: DrainDesign) -> None:
    """IPI designs send IPIs only, workqueue designs queue works only, remote designs neither."""
    calls: list[dict[str, Any]] = []
    for seed in SEEDS:
        result, _ = await _run("steady", design, {"cpus": 4}, seed)
        assert result.outcome is Outcome.OK, result.headline
        calls += result.extra["drain_calls"]
    assert calls
    for c in calls:
        assert {"latency_ns", "ipis", "works", "pages", "rescuer_ran", "maydays"} <= c.keys()
        assert c["latency_ns"] is not None and c["latency_ns"] >= 0  # every call finished
        assert c["pages_total"] == sum(c["pages"].values())
        assert all(0 <= int(cpu) < 4 for cpu in c["pages"])
        assert not c["rescuer_ran"] and c["maydays"] == 0  # no memory pressure in steady
    ipis = sum(c["ipis"] for c in calls)
    works = sum(c["works"] for c in calls)
    family = _family(design)
    if family == "ipi":
        assert ipis > 0 and works == 0
    elif family == "wq":
        assert works > 0 and ipis == 0
    else:
        assert ipis == 0 and works == 0
    assert max(c["pages_total"] for c in calls) > 0


async def test_workqueue_drains_are_slower_per_call_than_ipi_drains() -> None:
    """The seed patch's "slower" claim shows: median wq-4.11 drain latency exceeds ipi's."""

    async def median_latency(design: str, mechanism: str) -> float:
        lat = []
        for seed in SEEDS:
            result, _ = await _run("steady", design, {"cpus": 4}, seed)
            lat += [c["latency_ns"] for c in result.extra["drain_calls"] if c[mechanism] > 0]
        assert lat, f"{design} never used {mechanism}"
        return float(statistics.median(lat))

    assert await median_latency("wq-4.11", "works") > await median_latency("ipi", "ipis")


async def test_mm_percpu_wq_rescuer_completes_the_drain_under_pressure() -> None:
    """With worker creation failing, wq-4.11's drain is finished by the rescuer after maydays."""
    for seed in SEEDS:
        result, m = await _run("no-rescuer-under-pressure", "wq-4.11", {}, seed)
        assert result.outcome is Outcome.OK, result.headline
        [call] = result.extra["drain_calls"]
        assert call["rescuer_ran"] is True
        assert call["maydays"] >= 1
        assert call["works"] >= 1
        assert call["pages_total"] > 0
        assert call["latency_ns"] is not None
        assert m.audit() == []


async def test_unfinished_drain_call_has_no_latency() -> None:
    """wq-rfc's drain on the rescuer-less system_wq never returns: its latency stays None."""
    result, _ = await _run("no-rescuer-under-pressure", "wq-rfc", {}, 0)
    assert result.violation is not None and result.violation.oracle == "liveness"
    [call] = result.extra["drain_calls"]
    assert call["latency_ns"] is None
    assert call["rescuer_ran"] is False
    assert call["works"] >= 1 and call["pages_total"] == 0


# --------------------------------------------------------------------------- provenance


_COMMIT_ID = re.compile(r"\b[0-9a-f]{12}\b")
_ERA_REF = re.compile(r"\bE\d+\b")  # the E-numbers of commit key of docs/hazards.md


@pytest.mark.parametrize("design", BUILTIN_DESIGNS, ids=DESIGN_IDS)
def test_design_names_its_kernel_commits_and_eras(design: DrainDesign) -> None:
    """Each design lists commits its module docstring names, and declares its protection eras."""
    assert design.commits, f"{design.name} declares no commits"
    doc = importlib.import_module(design.drain_all_pages.__module__).__doc__ or ""
    named = set(_COMMIT_ID.findall(doc)) | set(_ERA_REF.findall(doc))
    assert named, f"the module docstring of {design.name} names no commit"
    for commit in design.commits:
        # a 12-digit commit id, or an E-number where docs/hazards.md has no verified id
        assert _COMMIT_ID.fullmatch(commit) or _ERA_REF.match(commit), commit
    assert design.kernel and design.summary
    assert design.eras and len(set(design.eras)) == len(design.eras)
    if design.name in REMOTE:
        assert design.eras == (Protection.SPINLOCK,)
    else:
        assert Protection.SPINLOCK not in design.eras  # no pcp->lock before 6.0


def test_scenario_era_rules_out_designs_of_another_era() -> None:
    """A remote design cannot run the preempt-only PCP scenario; a pre-6.0 design can."""
    with pytest.raises(NotApplicable):
        make_run_spec("ipi-vs-preempt-pcp", "remote-6.11")
    assert make_run_spec("ipi-vs-preempt-pcp", "ipi").era is Protection.PREEMPT
    assert make_run_spec("steady", "remote-6.0").era is Protection.SPINLOCK
    assert make_run_spec("steady", "ipi").era is Protection.IRQ


# --------------------------------------------------------------------------- lookup


@pytest.fixture
def user_designs_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(TESTS_DIR))


def test_builtin_names_resolve_to_the_builtin_designs() -> None:
    """Every built-in name resolves to its own DrainDesign object, and objects pass through."""
    for d in BUILTIN_DESIGNS:
        assert resolve_design(d.name) is d
        assert resolve_design(d) is d


@pytest.mark.usefixtures("user_designs_on_path")
async def test_resolve_user_design_instance_and_factory() -> None:
    """`module:attr` naming a DrainDesign (or a factory of one) resolves and runs cleanly."""
    import user_designs  # type: ignore[import-not-found]  # on sys.path via the fixture

    assert resolve_design("user_designs:USER_REMOTE") is user_designs.USER_REMOTE
    assert resolve_design("user_designs:make_design") is user_designs.USER_REMOTE
    result, m = await _run("steady", "user_designs:USER_REMOTE", {"cpus": 4}, 0)
    assert result.outcome is Outcome.OK, result.headline
    assert result.extra["era"] == "spinlock"
    assert m.audit() == []
    calls = result.extra["drain_calls"]
    assert sum(c["pages_total"] for c in calls) > 0
    assert all(c["ipis"] == 0 and c["works"] == 0 for c in calls)


@pytest.mark.usefixtures("user_designs_on_path")
async def test_resolve_bare_drain_function_and_replay_it() -> None:
    """A bare `async def drain_all_pages` becomes a design usable in every era, and replays."""
    import user_designs

    d = resolve_design("user_designs:drain_all_pages")
    assert d.drain_all_pages is user_designs.drain_all_pages
    assert d.name == "user_designs:drain_all_pages"
    assert set(d.eras) == {Protection.IRQ, Protection.PREEMPT, Protection.SPINLOCK}
    assert "IPI every online CPU" in d.summary
    restricted = resolve_design("user_designs:drain_remote_everything")
    assert restricted.eras == (Protection.SPINLOCK,)

    result, m = await _run("steady", "user_designs:drain_all_pages", {"cpus": 4}, 1)
    assert result.outcome is Outcome.OK, result.headline
    assert m.audit() == []
    calls = result.extra["drain_calls"]
    assert sum(c["ipis"] for c in calls) > 0
    assert sum(c["pages_total"] for c in calls) > 0
    again = await replay_token(token_of(result))
    assert again.outcome is Outcome.OK
    assert again.trace_sha256 == result.trace_sha256


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("wq-4.1", r"unknown design 'wq-4\.1'; did you mean 'wq-4\.11'\?"),
        ("remote-6.1", r"did you mean 'remote-6\.11'\?"),
        ("ipj", r"did you mean 'ipi'\?"),
        ("user_designs:nope", r"module 'user_designs' has no attribute 'nope'"),
        ("user_designs:NOT_A_DESIGN", r"neither a DrainDesign"),
        ("no_such_pcptrio_module:f", r"cannot import design module 'no_such_pcptrio_module'"),
    ],
)
@pytest.mark.usefixtures("user_designs_on_path")
def test_bad_design_names_are_bad_input_with_a_hint(name: str, expected: str) -> None:
    """Unknown names and bad `module:attr` specs raise BadInput saying what to fix."""
    with pytest.raises(BadInput, match=expected):
        resolve_design(name)
    with pytest.raises(BadInput, match=expected):
        make_run_spec("steady", name)
