"""Outcome classes and verdicts, shared by ``run``, campaigns and the matrix.

Every schedule ends in exactly one outcome class (:data:`OUTCOMES`): ``ok``, ``violation``,
``deadlock`` (the two that count as a failure), ``error`` (the design, the scenario or the
model raised, or a raw trio primitive was awaited) or ``budget-exhausted``.  A set of
schedules — one run, a campaign, a matrix cell — gets one verdict:

============== ============================================================================
found          some schedule ended in a violation or a deadlock
not-found      every schedule ended ``ok`` and every stage probe of the scenario was reached
               in some schedule
inconclusive   no failure, but some schedule errored or exhausted its budget, or a stage
               probe was never reached: nothing can be said
============== ============================================================================

The command line maps them to exit codes 1, 0 and 3.
"""

from __future__ import annotations

from .._core import RunResult

__all__ = ["OUTCOMES", "campaign_verdict", "run_verdict"]

#: The outcome classes of a schedule, in report order.
OUTCOMES = ("ok", "violation", "deadlock", "error", "budget-exhausted")


def campaign_verdict(
    failure: bool, outcomes: dict[str, int], probes: dict[str, int]
) -> tuple[str, str | None]:
    """The verdict of a set of schedules and, when inconclusive, the reason."""
    if failure:
        return "found", None
    reasons = []
    if outcomes.get("error"):
        reasons.append(f"{outcomes['error']} schedule(s) errored")
    if outcomes.get("budget-exhausted"):
        reasons.append(f"{outcomes['budget-exhausted']} schedule(s) exhausted their budget")
    missed = [p for p, n in probes.items() if n == 0]
    if missed:
        reasons.append("stage not reached: " + ", ".join(missed))
    if reasons:
        return "inconclusive", "; ".join(reasons)
    return "not-found", None


def run_verdict(r: RunResult) -> tuple[str, str | None]:
    """The verdict of one run, as a campaign of that one schedule would give it."""
    reached = set(r.extra.get("probes_reached", ()))
    probes = {p: int(p in reached) for p in r.extra.get("probes", ())}
    return campaign_verdict(r.failed, {str(r.outcome): 1}, probes)
