"""Shrinking a failing run: fewer decisions, a smaller workload, the same failure.

A failing run is a scenario configuration plus a list of decisions.  Shrinking keeps *the
same failure* — equal signature: oracle + kind + the objects it concerns (a drain call's
caller and zone, a CPU, actors, a lock or a work), never step numbers or counts — and makes
the rest small:

1. **Decisions** (delta debugging).  Variations of the list are replayed *leniently* (a
   recorded choice is used where it still fits, the default otherwise) and kept when they
   fail with the same signature in fewer steps (then fewer preemptions, then fewer
   decisions).  Passes, repeated until nothing changes or the replay budget is spent:
   *truncate* (the shortest failing prefix, the rest defaulted), then *reset chunks* (ddmin:
   chunks set to their defaults, halving the chunk size down to single decisions).  Every
   kept variation is re-recorded from the run it produced, so its strict replay reproduces
   it.  Defaults are "no preemption, no fault, earliest timer".
2. **Workload.**  Smaller values of the scenario's integer parameters — ``cpus`` down to the
   scenario's minimum, then the others (``ops``, ``rounds``, ``fill``, ``reclaimers``...; not
   those that size the machine or the budget) — each searched afresh with a small campaign.
   (a ``portfolio`` campaign: random and PCT schedules mixed, whatever the original
   scheduler, since a smaller workload often needs another kind of schedule to fail).
   A smaller configuration is kept when it fails with the same signature up to a consistent
   renaming of numbers (fewer CPUs or reclaimers rename ``cpu3`` or ``drainer#4``); its
   failure then goes through step 1 again.
3. **Required preemptions.**  Each preemption left in the final run is reset to "no
   preemption" alone; those whose reset loses the failure are the ones it *needs*.  Reports
   mark them in the interleaving table.

The failure a campaign then reports — oracle, kind, message, steps, token — is read from a
strict replay of the final token, so what is printed is what the token replays.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

import attrs
import trio

from .._core import Decision, ReplayScheduler, RunResult, quiet_gc
from ._campaign import CampaignConfig, CampaignResult, Failure, RunRequest, drive_runs, explore
from ._run import RunSpec, make_run_spec, run_spec_async

__all__ = [
    "ShrinkProgress",
    "ShrinkResult",
    "canonical_signature",
    "same_failure_signature",
    "shrink",
    "shrink_failure",
    "shrink_workload",
]

T = TypeVar("T")

#: ``progress(phase, done, total)``: ``phase`` is "decisions", "workload" or "preemptions".
ShrinkProgress = Callable[[str, int, int], None]


@attrs.frozen
class ShrinkResult:
    """Before and after of a shrink; ``result`` is the final run (with its trace)."""

    decisions: tuple[Decision, ...]
    signature: str
    steps_before: int
    steps_after: int
    preemptions_before: int
    preemptions_after: int
    replays: int
    result: RunResult = attrs.field(eq=False, repr=False)
    #: Parameters of the final run, and the ones that differ from the original run.
    params: dict[str, Any] = attrs.field(factory=dict)
    params_changed: dict[str, Any] = attrs.field(factory=dict)
    #: Steps of the preemptions the failure needs (resetting one alone loses it), and how
    #: many preemptions were tested (all of the final run's, unless the budget ran out).
    required_steps: tuple[int, ...] = ()
    preemptions_tested: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "steps_before": self.steps_before,
            "steps_after": self.steps_after,
            "preemptions_before": self.preemptions_before,
            "preemptions_after": self.preemptions_after,
            "replays": self.replays,
            "params": dict(self.params),
            "params_changed": dict(self.params_changed),
            "required_preemption_steps": list(self.required_steps),
            "preemptions_tested": self.preemptions_tested,
        }


#: A kworker's index in its pool (``kworker/3:1``) says which idle worker happened to pick
#: the work up, not what failed: signatures compare kworkers by pool (``kworker/3:*``).
_WORKER_INDEX = re.compile(r"(kworker/u?\d+):\d+")
#: The engine tells apart actors spawned under one name by a counter (``drainer-B~3`` is the
#: third ``drainer-B``, e.g. in the third round): a count, so signatures leave it out.
_INSTANCE = re.compile(r"~\d+")


def same_failure_signature(sig: str) -> str:
    """``sig`` without kworker indices and instance counters (see above)."""
    return _INSTANCE.sub("", _WORKER_INDEX.sub(r"\1:*", sig))


def _signature(r: RunResult) -> str | None:
    if not r.failed or r.violation is None:
        return None
    return same_failure_signature(r.violation.signature)


def canonical_signature(sig: str) -> str:
    """``sig`` with every number renamed by order of first appearance (``cpu3``, ``cpu1`` ->
    ``cpu#0``, ``cpu#1``): equal for two failures that differ only by a consistent renaming
    (and by which kworker of a pool ran)."""
    names: dict[str, str] = {}
    return re.sub(
        r"\d+",
        lambda mo: names.setdefault(mo.group(), f"#{len(names)}"),
        same_failure_signature(sig),
    )


#: A shrinking phase is a generator: it yields the runs it needs (``run_spec_async`` calls,
#: made by :func:`_lenient` and :func:`_finish`), is sent back each one's result, and
#: returns its answer.  ``drive_runs`` makes the runs, many to a ``trio.run``, as a campaign
#: makes its schedules.
_Phase = Generator[RunRequest, RunResult, T]


def _lenient(spec: RunSpec, decisions: Sequence[Decision | None]) -> RunRequest:
    """A lenient replay of ``decisions`` (module docstring, step 1)."""
    sched = ReplayScheduler(list(decisions), strict=False)
    return lambda: run_spec_async(spec, sched, record_trace=False)


def _run(spec: RunSpec, decisions: Sequence[Decision | None]) -> RunResult:
    """A lenient replay of ``decisions``, in a ``trio.run`` of its own."""
    return trio.run(_lenient(spec, decisions))


def _key(r: RunResult) -> tuple[int, int, int]:
    return (r.stats.steps, r.stats.preemptions, len(r.decisions))


def _shrink_decisions(
    spec: RunSpec,
    first: RunResult,
    sig: str,
    budget: int,
    progress: ShrinkProgress | None,
) -> _Phase[tuple[RunResult, int]]:
    """Delta debugging of ``first``'s decisions (module docstring, step 1)."""
    best = first
    best_d: list[Decision] = first.decision_list
    replays = 0

    def attempt(cand: Sequence[Decision | None]) -> _Phase[bool]:
        nonlocal best, best_d, replays
        if replays >= budget:
            return False
        replays += 1
        if progress is not None:
            progress("decisions", replays, budget)
        r = yield _lenient(spec, cand)
        if _signature(r) == sig and _key(r) < _key(best):
            best, best_d = r, r.decision_list
            return True
        return False

    changed = True
    while changed and replays < budget:
        changed = False
        # 1. truncate: shortest failing prefix, by halving the cut
        lo, hi = 0, len(best_d)
        while lo < hi and replays < budget:
            mid = (lo + hi) // 2
            if (yield from attempt(best_d[:mid])):
                changed = True
                hi = min(mid, len(best_d))
                lo = 0 if hi < lo else lo
            else:
                lo = mid + 1
        # 2. reset chunks to defaults, coarse to fine
        size = max(1, len(best_d) // 2)
        while size >= 1 and replays < budget:
            i = 0
            while i < len(best_d) and replays < budget:
                cand: list[Decision | None] = list(best_d)
                if all(d is None for d in cand[i : i + size]):
                    i += size
                    continue
                for j in range(i, min(i + size, len(cand))):
                    cand[j] = None
                if (yield from attempt(cand)):
                    changed = True
                else:
                    i += size
            size //= 2
    return best, replays


def shrink(
    spec: RunSpec,
    decisions: Sequence[Decision],
    *,
    budget: int = 60,
    progress: ShrinkProgress | None = None,
) -> ShrinkResult:
    """Shrink a failing decision list of ``spec`` (step 1 of the module docstring, then the
    required preemptions); ``budget`` caps replays."""

    def go() -> _Phase[ShrinkResult]:
        first = yield _lenient(spec, decisions)
        sig = _signature(first)
        if sig is None:
            raise ValueError("the decisions given do not reproduce a failure")
        best, used = yield from _shrink_decisions(spec, first, sig, budget, progress)
        return (yield from _finish(spec, spec, first, best, sig, used + 1, budget, progress))

    with quiet_gc():
        return drive_runs(go())


def _required(
    spec: RunSpec, r: RunResult, sig: str, budget: int, progress: ShrinkProgress | None
) -> _Phase[tuple[tuple[int, ...], int]]:
    """Steps of the preemptions of ``r`` that its failure needs (module docstring, step 3)."""
    decisions = r.decision_list
    points = list(r.preempted)[:budget]
    needed = []
    for k, (index, step) in enumerate(points):
        if progress is not None:
            progress("preemptions", k + 1, len(points))
        cand: list[Decision | None] = list(decisions)
        cand[index] = None
        if _signature((yield _lenient(spec, cand))) != sig:
            needed.append(step)
    return tuple(needed), len(points)


def _finish(
    original: RunSpec,
    spec: RunSpec,
    first: RunResult,
    best: RunResult,
    sig: str,
    replays: int,
    budget: int,
    progress: ShrinkProgress | None,
) -> _Phase[ShrinkResult]:
    final_d = best.decision_list
    # The final run, strictly replayed with its trace: what the report and token show.
    sched = ReplayScheduler(final_d, strict=True)
    final = yield lambda: run_spec_async(spec, sched, record_trace=True)
    required, tested = yield from _required(spec, final, sig, max(1, budget // 2), progress)
    changed = {k: v for k, v in spec.params.items() if original.params.get(k) != v}
    return ShrinkResult(
        tuple(final.decision_list),
        sig,
        first.stats.steps,
        final.stats.steps,
        first.stats.preemptions,
        final.stats.preemptions,
        replays + 1 + tested,
        final,
        dict(spec.params),
        changed,
        required,
        tested,
    )


# ------------------------------------------------------------------------- the workload


def _shrinkable(spec: RunSpec) -> list[str]:
    """Integer parameters a smaller workload can lower: ``cpus`` first, then the others in
    name order, but not those that size the machine or the budget (zone pages, PCP high and
    batch, step limits): a smaller machine is another machine, not a smaller workload."""
    s = spec.scenario
    sizing: set[str] = set()

    def refs(v: Any) -> None:
        if isinstance(v, str) and v.startswith("$"):
            sizing.add(v[1:])
        elif isinstance(v, list):
            for x in v:
                refs(x)
        elif isinstance(v, dict):
            for x in v.values():
                refs(x)

    refs(s.data.get("machine", {}))
    refs(s.data.get("budget", {}))
    names = [
        k
        for k, v in sorted(spec.params.items())
        if k != "cpus" and k not in sizing and isinstance(v, int) and not isinstance(v, bool)
    ]
    return ["cpus", *names]


def shrink_workload(
    spec: RunSpec,
    signature: str,
    *,
    budget: int = 60,
    schedules: int = 20,
    scheduler: str = "portfolio",
    seed: int = 0,
    progress: ShrinkProgress | None = None,
) -> tuple[RunSpec, Failure | None, int]:
    """Step 2 of the module docstring: the smallest configuration found (by halving each
    integer parameter while a small campaign of ``schedules`` still finds the same failure),
    its failure (None when nothing smaller fails alike) and the runs spent."""
    want = canonical_signature(signature)
    spent = 0
    best_spec, best_fail = spec, None
    for name in _shrinkable(spec):
        floor = spec.scenario.min_cpus if name == "cpus" else 1
        while spent < budget:
            value = int(best_spec.params[name])
            smaller = max(floor, value // 2)
            if smaller >= value:
                break
            try:
                cand = make_run_spec(
                    spec.scenario,
                    spec.design,
                    {**best_spec.params, name: smaller},
                    strict=spec.strict,
                )
            except Exception:  # the scenario refuses it (e.g. a CPU selector past the end)
                break
            n = max(1, min(schedules, budget - spent))
            res = explore(CampaignConfig(cand, scheduler=scheduler, schedules=n, seed=seed, jobs=1))
            spent += res.schedules_run + (1 if scheduler in ("pct", "portfolio") else 0)
            if progress is not None:
                progress("workload", min(spent, budget), budget)
            f = res.failure
            if f is None or canonical_signature(f.signature) != want:
                break
            best_spec, best_fail = cand, f
    return best_spec, best_fail, spent


def shrink_failure(
    res: CampaignResult,
    *,
    budget: int = 40,
    workload_budget: int | None = None,
    progress: ShrinkProgress | None = None,
) -> Failure:
    """The campaign's failure, shrunk (decisions, workload, required preemptions): a
    :class:`Failure` whose every field — oracle, kind, message, steps, parameters, token —
    comes from the strict replay of its own token, with ``shrink`` saying what changed."""
    f = res.failure
    if f is None:
        raise ValueError("the campaign found no failure to shrink")
    cfg = res.config
    spec = cfg.spec
    wl_budget = budget if workload_budget is None else workload_budget

    def decisions_phase() -> _Phase[tuple[RunResult, str, RunResult, int]]:
        first = yield _lenient(spec, f.decisions)
        sig = _signature(first)
        if sig is None:
            raise ValueError("the failure's decisions do not reproduce it")
        best, used = yield from _shrink_decisions(spec, first, sig, budget, progress)
        return first, sig, best, used

    # Three phases: the decisions, the workload (small campaigns), then the smaller
    # workload's decisions and the final replays.
    with quiet_gc():
        first, sig, best, used = drive_runs(decisions_phase())
        final_spec, final_best = spec, best
        if wl_budget > 0:
            small_spec, small_fail, spent = shrink_workload(
                spec,
                sig,
                budget=wl_budget,
                seed=cfg.seed,
                progress=progress,
            )
            used += spent
        else:
            small_fail = None

        def final_phase() -> _Phase[ShrinkResult]:
            nonlocal final_spec, final_best, sig, used
            if small_fail is not None:
                small_first = yield _lenient(small_spec, small_fail.decisions)
                small_sig = _signature(small_first)
                if small_sig is not None:
                    small_best, more = yield from _shrink_decisions(
                        small_spec, small_first, small_sig, budget, progress
                    )
                    used += more + 1
                    final_spec, final_best, sig = small_spec, small_best, small_sig
            return (
                yield from _finish(spec, final_spec, first, final_best, sig, used, budget, progress)
            )

        sh = drive_runs(final_phase())
    r = sh.result
    v = r.violation
    assert v is not None  # a strict replay of a failing run fails the same way
    return Failure(
        f.index,
        f.seed,
        v.signature,
        v.oracle,
        v.kind,
        v.message,
        r.stats.steps,
        r.stats.preemptions,
        tuple(r.decision_list),
        # The strict replay's choice-set digests: its token's replay checks them.
        {**final_spec.to_json(), "choices": list(r.choices)},
        shrink=sh,
    )
