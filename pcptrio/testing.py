"""Helpers for deterministic async tests (pytest-trio).

Run a scenario under a seed and assert what happened, or replay a token byte for byte; every
assertion message carries the replay token, so a failing test is one copy-paste from a
report.  A run found by ``pcptrio explore`` prints a ready-to-paste test like::

    from pcptrio.testing import assert_replays

    async def test_shared_mask_race_wq_rfc() -> None:
        await assert_replays("pcptrio1:eNqd...", oracle="drain-completeness")

Example::

    from pcptrio.testing import run_scenario, assert_ok

    async def test_remote_611_drains_everything() -> None:
        r = await run_scenario("count-race", "remote-6.11", seed=3)
        assert_ok(r)
"""

from __future__ import annotations

from typing import Any

from ._core import Outcome, PCTScheduler, RandomScheduler, ReplayScheduler, RunResult, Scheduler
from ._drain import DrainDesign
from ._explore import make_run_spec, run_spec_async, spec_from_token, token_of
from ._report import pytest_snippet
from ._scenarios import ScenarioDef

__all__ = [
    "assert_fails",
    "assert_ok",
    "assert_replays",
    "assert_stage_reached",
    "replay_run",
    "run_scenario",
]


async def run_scenario(
    scenario: str | ScenarioDef,
    design: str | DrainDesign,
    *,
    seed: int = 0,
    scheduler: str = "random",
    depth: int = 3,
    strict: bool = False,
    **params: Any,
) -> RunResult:
    """Run one schedule of ``scenario`` with ``design`` (``params`` override the scenario's,
    e.g. ``cpus=8``)."""
    spec = make_run_spec(scenario, design, params, strict=strict)
    sched: Scheduler
    if scheduler == "pct":
        sched = PCTScheduler(seed, depth=depth)
    elif scheduler == "random":
        sched = RandomScheduler(seed)
    else:
        raise ValueError(f"scheduler must be 'random' or 'pct', got {scheduler!r}")
    return await run_spec_async(spec, sched)


async def replay_run(token: str, *, strict: bool = True, allow_import: bool = False) -> RunResult:
    """Replay a token (strict: drift is an ``error`` outcome saying where).  A token whose
    design lives in a module this process has not imported needs ``allow_import=True``
    (or import the module first)."""
    spec, decisions = spec_from_token(token, allow_import=allow_import)
    return await run_spec_async(spec, ReplayScheduler(decisions, strict=strict))


def _where(r: RunResult) -> str:
    tok = token_of(r) if "spec" in r.extra else "(no token)"
    return f"{r.headline}\n  replay: pcptrio replay {tok}"


def assert_ok(r: RunResult) -> None:
    """The run ended without a violation, deadlock, error or exhausted budget."""
    assert r.outcome is Outcome.OK, f"expected ok, got {_where(r)}"


def assert_stage_reached(r: RunResult) -> None:
    """Every stage probe of the run's scenario was reached: the run did what makes its hazard
    possible (e.g. a CPU went offline while a drain call was in progress)."""
    reached = set(r.extra.get("probes_reached", ()))
    missed = [p for p in r.extra.get("probes", ()) if p not in reached]
    assert not missed, f"stage not reached: {', '.join(missed)}; {_where(r)}"


def assert_fails(r: RunResult, *, oracle: str | None = None, kind: str | None = None) -> None:
    """The run found a failure (of ``oracle`` / ``kind`` if given)."""
    assert r.failed, f"expected a failure, got {_where(r)}"
    v = r.violation
    assert v is not None
    if oracle is not None:
        assert v.oracle == oracle, f"expected oracle {oracle}, got {_where(r)}"
    if kind is not None:
        assert v.kind == kind, f"expected kind {kind}, got {_where(r)}"


async def assert_replays(
    token: str,
    *,
    oracle: str | None = None,
    trace_sha256: str | None = None,
    allow_import: bool = False,
) -> RunResult:
    """Replay ``token`` strictly and assert it fails again (and, if given, with the same
    oracle and the same trace bytes)."""
    r = await replay_run(token, allow_import=allow_import)
    assert r.outcome is not Outcome.ERROR, f"replay did not run: {r.error}"
    assert_fails(r, oracle=oracle)
    if trace_sha256 is not None:
        assert r.trace_sha256 == trace_sha256, "replayed trace differs from the recorded one"
    return r


__all__ += ["pytest_snippet"]
