"""Shrinking a failing run: decision-level delta debugging.

A failing run is a list of decisions.  The shrinker replays variations of it *leniently*
(a recorded choice is used where it still fits, the default otherwise) and keeps a variation
when it fails with the same signature (oracle + kind) in no more steps.  Every kept variation
is re-recorded from the run it produced, so the list stays consistent and its strict replay
reproduces the shrunk failure.  Defaults are "no preemption, no fault, earliest timer", so
shrinking removes preemptions and shortens the run.

Passes, repeated until nothing changes or the replay budget is spent:

1. **truncate** — the shortest prefix that still fails (the rest defaulted);
2. **reset chunks** (ddmin) — chunks of decisions set to their defaults, halving the chunk
   size down to single decisions.

Reported: steps and preemptions before and after.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import trio

from .._core import Decision, ReplayScheduler, RunResult, quiet_gc
from ._run import RunSpec, run_spec_async

__all__ = ["ShrinkResult", "shrink"]


@attrs.frozen
class ShrinkResult:
    decisions: tuple[Decision, ...]
    signature: str
    steps_before: int
    steps_after: int
    preemptions_before: int
    preemptions_after: int
    replays: int
    result: RunResult = attrs.field(eq=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "steps_before": self.steps_before,
            "steps_after": self.steps_after,
            "preemptions_before": self.preemptions_before,
            "preemptions_after": self.preemptions_after,
            "replays": self.replays,
        }


def _signature(r: RunResult) -> str | None:
    if not r.failed or r.violation is None:
        return None
    return r.violation.signature


def _run(spec: RunSpec, decisions: Sequence[Decision | None], record: bool = False) -> RunResult:
    sched = ReplayScheduler(list(decisions), strict=False)
    return trio.run(lambda: run_spec_async(spec, sched, record_trace=record))


def shrink(
    spec: RunSpec,
    decisions: Sequence[Decision],
    *,
    budget: int = 60,
) -> ShrinkResult:
    """Shrink a failing decision list (see the module docstring); ``budget`` caps replays."""
    with quiet_gc():
        first = _run(spec, decisions)
        sig = _signature(first)
        if sig is None:
            raise ValueError("the decisions given do not reproduce a failure")
        best = first
        best_d: list[Decision] = first.decision_list
        replays = 1

        def attempt(cand: Sequence[Decision | None]) -> bool:
            nonlocal best, best_d, replays
            if replays >= budget:
                return False
            replays += 1
            r = _run(spec, cand)
            # strictly better: fewer steps, then fewer preemptions, then fewer decisions
            if _signature(r) == sig and (
                r.stats.steps,
                r.stats.preemptions,
                len(r.decisions),
            ) < (best.stats.steps, best.stats.preemptions, len(best.decisions)):
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
                if attempt(best_d[:mid]):
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
                    if attempt(cand):
                        changed = True
                    else:
                        i += size
                size //= 2
        final = _run(spec, best_d, record=True)  # with the trace, for the report
    return ShrinkResult(
        tuple(final.decision_list),
        sig,
        first.stats.steps,
        final.stats.steps,
        first.stats.preemptions,
        final.stats.preemptions,
        replays + 1,
        final,
    )
