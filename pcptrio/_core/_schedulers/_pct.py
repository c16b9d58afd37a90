"""PCT: probabilistic concurrency testing with priority change points.

Burckhardt, Kothari, Musuvathi, Nagarakatte, "A Randomized Scheduler with Probabilistic
Guarantees of Finding Bugs" (ASPLOS 2010), as Coyote and Shuttle implement it.  Every actor gets
a random priority when first seen (``depth + U[0,1)``, above every change-point priority); the
highest-priority candidate always runs.  ``depth - 1`` change points are drawn uniformly from
``[1, k]``; at the i-th, the running actor drops to priority ``i`` (below every initial one).
A bug of depth ``d`` is found with probability at least ``1 / (n * k^(d-1))`` per run.

``k`` is the number of scheduling decisions of a run (the points where another actor could
run; steps that run CPU-local work ahead offer none, so counting steps would put most change
points where nothing can change).  It is unknown before the first run, so it starts at
``steps_estimate`` and then follows the longest run seen, as Shuttle does.

Choices that are not about which actor runs (timers, migration, model data) are drawn from
the same seeded generator.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._base import Scheduler, coin_index, weighted_index

if TYPE_CHECKING:
    from .._actor import Actor

__all__ = ["PCTScheduler"]


class PCTScheduler(Scheduler):
    """PCT of depth ``depth`` (``depth - 1`` priority change points per run)."""

    name = "pct"

    def __init__(self, seed: int = 0, *, depth: int = 3, steps_estimate: int = 100) -> None:
        if depth < 1:
            raise ValueError(f"PCT depth must be at least 1, got {depth}")
        if steps_estimate < 1:
            raise ValueError(f"steps_estimate must be at least 1, got {steps_estimate}")
        self.seed = seed
        self.depth = depth
        self.k = steps_estimate
        self.rng = random.Random(seed)
        self._prio: dict[int, float] = {}
        self._change_points: list[int] = []
        self._next_cp = 0
        self._picks = 0

    def start_run(self) -> None:
        self._prio = {}
        n_cp = min(self.depth - 1, self.k)
        self._change_points = sorted(self.rng.sample(range(1, self.k + 1), n_cp))
        self._next_cp = 0
        self._picks = 0

    def end_run(self, steps: int) -> None:
        self.k = max(self.k, self._picks)

    def _priority(self, a: Actor) -> float:
        p = self._prio.get(a.seq)
        if p is None:
            p = self.depth + self.rng.random()
            self._prio[a.seq] = p
        return p

    def pick_actor(self, cands: Sequence[Actor], current: Actor | None, step: int) -> int:
        self._picks = picks = self._picks + 1
        cps = self._change_points
        while self._next_cp < len(cps) and picks >= cps[self._next_cp]:
            self._next_cp += 1
            if current is not None:
                self._prio[current.seq] = float(self._next_cp)
        best = 0
        best_p = -1.0
        prio = self._prio
        for i, a in enumerate(cands):
            p = prio.get(a.seq)
            if p is None:
                p = self._priority(a)  # first seen: draws its initial priority
            if p > best_p:
                best, best_p = i, p
        return best

    def coin(self, label: str, p: float) -> int:
        return coin_index(self.rng.random(), p)

    def choose(self, label: str, n: int, weights: Sequence[float] | None) -> int:
        if weights is None:
            return self.rng.randrange(n)
        return weighted_index(self.rng.random(), weights)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "depth": self.depth, "k": self.k}
