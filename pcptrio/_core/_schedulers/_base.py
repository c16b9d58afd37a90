"""The scheduler interface: every nondeterministic choice of a run is asked here.

The engine asks two kinds of question.  :meth:`Scheduler.pick_actor` chooses which of the
actors able to take the next step does so (label ``sched``); :meth:`Scheduler.choose` answers
every other choice (tied timers, migration, ``chance``/``choose`` in model code).  The engine
records each answer whose choice set has more than one option; that list replays the run.

A scheduler object may serve many runs in a row (a campaign): :meth:`start_run` and
:meth:`end_run` bracket each one, so PCT can learn the step count of earlier runs.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._actor import Actor

__all__ = ["Scheduler", "coin_index", "weighted_index"]


class Scheduler(abc.ABC):
    """Chooses, for one run at a time, every decision the engine cannot make alone."""

    name: str = "?"

    def start_run(self) -> None:
        """Called before the first decision of a run."""

    def end_run(self, steps: int) -> None:
        """Called after the last decision of a run with the number of steps it took."""

    @abc.abstractmethod
    def pick_actor(self, cands: Sequence[Actor], current: Actor | None, step: int) -> int:
        """Index into ``cands`` (two or more actors, in spawn order) of the actor to run."""

    @abc.abstractmethod
    def choose(self, label: str, n: int, weights: Sequence[float] | None) -> int:
        """Index in ``range(n)`` for the choice labelled ``label`` (``n >= 2``)."""

    def coin(self, label: str, p: float) -> int:
        """``choose(label, 2, (1 - p, p))``: 1 with probability ``p`` (``0 < p < 1``).  A
        scheduler may answer it faster, but must answer the same."""
        return self.choose(label, 2, (1.0 - p, p))

    def spec(self) -> dict[str, Any]:
        """Parameters that recreate this scheduler (reported, and kept in tokens)."""
        return {"name": self.name}


def coin_index(u: float, p: float) -> int:
    """``weighted_index(u, (1 - p, p))``, with the same float operations (so the same
    answer for every ``u``), without the loops: a model's ``chance`` is on hot paths."""
    q = 1.0 - p
    return 0 if u * (q + p) < q else 1


def weighted_index(u: float, weights: Sequence[float]) -> int:
    """The index whose cumulative weight first exceeds ``u * sum(weights)``."""
    total = 0.0
    for w in weights:
        total += w
    x = u * total
    acc = 0.0
    for i, w in enumerate(weights):
        acc += w
        if x < acc:
            return i
    return len(weights) - 1
