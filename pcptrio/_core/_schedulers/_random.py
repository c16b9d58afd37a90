"""Seeded random walk with sticky continuation.

At each scheduling point where the running actor could go on, it is preempted with
probability ``switch_p`` in favour of a uniformly chosen other candidate; when it cannot go on,
the next actor is uniform.  This is Coyote's *probabilistic* strategy rather than a uniform
pick at every point: a uniform pick among 8 CPUs preempts 7 times out of 8, which explores
the same races no better and costs a trio task switch at almost every point.  Set
``switch_p=1.0`` for a plain uniform walk.

Everything comes from one ``random.Random(seed)`` instance, never from the global ``random``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._base import Scheduler, weighted_index

if TYPE_CHECKING:
    from .._actor import Actor

__all__ = ["RandomScheduler"]


class RandomScheduler(Scheduler):
    """Random walk seeded by ``seed``; see the module docstring for ``switch_p``."""

    name = "random"

    def __init__(self, seed: int = 0, *, switch_p: float = 0.2) -> None:
        if not 0.0 <= switch_p <= 1.0:
            raise ValueError(f"switch_p must be within [0, 1], got {switch_p}")
        self.seed = seed
        self.switch_p = switch_p
        self.rng = random.Random(seed)

    def pick_actor(self, cands: Sequence[Actor], current: Actor | None, step: int) -> int:
        n = len(cands)
        u = self.rng.random
        if current is not None and current.cpu is not None:
            try:
                ci = cands.index(current)
            except ValueError:
                pass
            else:
                if u() >= self.switch_p:
                    return ci
                j = int(u() * (n - 1))
                return j if j < ci else j + 1
        return int(u() * n)

    def coin(self, label: str, p: float) -> int:
        # coin_index(self.rng.random(), p), inlined (a workload's chance on every page op).
        q = 1.0 - p
        return 0 if self.rng.random() * (q + p) < q else 1

    def choose(self, label: str, n: int, weights: Sequence[float] | None) -> int:
        if weights is None:
            return int(self.rng.random() * n)
        return weighted_index(self.rng.random(), weights)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "switch_p": self.switch_p}
