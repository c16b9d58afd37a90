"""What a run returns: outcome, the violation if any, decisions, trace and statistics."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import attrs

from ._trace import TraceRecord, render_jsonl, trace_sha256
from ._values import Decision, Outcome, Violation

__all__ = ["RunResult", "RunStatistics"]


@attrs.frozen
class RunStatistics:
    """Counts of one run.  ``preemptions`` counts steps where the running actor could have
    gone on but the scheduler picked another one."""

    steps: int
    switches: int
    preemptions: int
    virtual_ns: int
    decisions: int
    actors: int
    per_actor_steps: dict[str, int] = attrs.field(factory=dict, eq=False)
    counters: dict[str, int] = attrs.field(factory=dict, eq=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "switches": self.switches,
            "preemptions": self.preemptions,
            "virtual_ns": self.virtual_ns,
            "decisions": self.decisions,
            "actors": self.actors,
            "per_actor_steps": dict(self.per_actor_steps),
            "counters": dict(self.counters),
        }


@attrs.define(eq=False)
class RunResult:
    """The result of one run.  ``trace`` holds compact records; ``trace_jsonl`` and
    ``trace_sha256`` render them canonically on first use."""

    outcome: Outcome
    violation: Violation | None
    error: str | None
    budget: str | None
    decisions: tuple[tuple[str, int, int], ...]
    trace: list[TraceRecord]
    stats: RunStatistics
    scheduler: dict[str, Any]
    wait_graph: dict[str, Any] | None = None
    #: (decision index, step) of each preemption (a sched decision that switched away from an
    #: actor that could have gone on).
    #: Digests of the candidate sets at every 64th sched decision, and at the end (the
    #: engine's _runqueue): tokens carry them so a strict replay can check them.
    choices: tuple[int, ...] = ()
    preempted: tuple[tuple[int, int], ...] = ()
    #: Filled by higher layers (scenario, design, metrics, token, ...).
    extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def failed(self) -> bool:
        """Whether the run found something (a violation or a deadlock)."""
        return self.outcome in (Outcome.VIOLATION, Outcome.DEADLOCK)

    @cached_property
    def decision_list(self) -> list[Decision]:
        return [Decision(label, n, c) for label, n, c in self.decisions]

    @cached_property
    def trace_jsonl(self) -> str:
        return render_jsonl(self.trace)

    @cached_property
    def trace_sha256(self) -> str:
        return trace_sha256(self.trace)

    @property
    def headline(self) -> str:
        """One line: what happened."""
        if self.violation is not None:
            v = self.violation
            return f"{self.outcome}: [{v.oracle}] {v.message} (step {v.step}, t={v.t_ns}ns)"
        if self.outcome is Outcome.BUDGET_EXHAUSTED:
            return f"budget-exhausted: {self.budget} budget used up at step {self.stats.steps}"
        if self.outcome is Outcome.ERROR:
            first = (self.error or "").splitlines()[0] if self.error else "unknown error"
            return f"error: {first}"
        return f"ok: {self.stats.steps} steps, {self.stats.virtual_ns}ns virtual"
