"""Bounded depth-first search over decisions, with a preemption bound (CHESS, loom).

Each run follows a *prefix* of choices and takes the default for every decision after it
(keep running the current actor; the first option of anything else).  After the run, the
next prefix is the current one up to the deepest decision that still has an untried
alternative within the preemption bound, with that alternative.  When no such decision is
left, every schedule with at most ``max_preemptions`` preemptions has been run: the search
is *exhausted* — a statement about those schedules only, never a proof about the program.

A preemption is choosing another actor at a ``sched`` decision where the running actor could
have continued.  Other decisions (tied timers, migration, model ``chance``) are explored too
and cost no preemption, so keep them few in the configurations searched this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._base import Scheduler

if TYPE_CHECKING:
    from .._actor import Actor

__all__ = ["DFSScheduler"]


class DFSScheduler(Scheduler):
    """Exhaustive search of the schedules with at most ``max_preemptions`` preemptions."""

    name = "dfs"

    def __init__(self, *, max_preemptions: int = 2) -> None:
        if max_preemptions < 0:
            raise ValueError("max_preemptions must be >= 0")
        self.max_preemptions = max_preemptions
        self.prefix: list[int] = []
        self.exhausted = False
        self.runs = 0
        # per decision of the current run: (n, choice, index of the current actor or None)
        self._taken: list[tuple[int, int, int | None]] = []
        self._pos = 0

    def start_run(self) -> None:
        self._taken = []
        self._pos = 0

    def _take(self, n: int, default: int, current: int | None) -> int:
        i = self._pos
        self._pos += 1
        c = self.prefix[i] if i < len(self.prefix) and self.prefix[i] < n else default
        self._taken.append((n, c, current))
        return c

    def pick_actor(self, cands: Sequence[Actor], current: Actor | None, step: int) -> int:
        ci: int | None = None
        if current is not None:
            for i, a in enumerate(cands):
                if a is current:
                    ci = i
                    break
        return self._take(len(cands), 0 if ci is None else ci, ci)

    def choose(self, label: str, n: int, weights: Sequence[float] | None) -> int:
        return self._take(n, 0, None)

    @staticmethod
    def _is_preemption(choice: int, current: int | None) -> bool:
        return current is not None and choice != current

    def end_run(self, steps: int) -> None:
        """Compute the next prefix (or mark the search exhausted)."""
        self.runs += 1
        taken = self._taken
        used = [0] * (len(taken) + 1)
        for i, (_, c, cur) in enumerate(taken):
            used[i + 1] = used[i] + self._is_preemption(c, cur)
        for j in range(len(taken) - 1, -1, -1):
            n, c, cur = taken[j]
            for alt in range(c + 1, n):
                if used[j] + self._is_preemption(alt, cur) <= self.max_preemptions:
                    self.prefix = [t[1] for t in taken[:j]] + [alt]
                    return
        self.exhausted = True

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "max_preemptions": self.max_preemptions}
