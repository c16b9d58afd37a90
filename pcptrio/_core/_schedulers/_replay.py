"""Replay a recorded decision list.

*Strict* replay (the default) requires every decision to match the recording: same label,
same number of options.  The first mismatch raises :class:`~pcptrio._core.ReplayDrift`
("replay drift at step N: expected sched[1/3], got sched among 2"), so a token that no longer
fits the code is never silently replayed as a different run.

*Lenient* replay (used by the shrinker) follows the recording where it fits and otherwise
takes the default choice: keep running the current actor, the first option of anything else.
A ``None`` in the list means "the default here" while keeping later positions aligned.
Defaults are the "no preemption, no fault" choices, so removing decisions shortens a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._errors import ReplayDrift
from .._values import Decision
from ._base import Scheduler

if TYPE_CHECKING:
    from .._actor import Actor

__all__ = ["ReplayScheduler"]


class ReplayScheduler(Scheduler):
    """Feeds back ``decisions``; see the module docstring for strict and lenient modes."""

    name = "replay"

    def __init__(self, decisions: Sequence[Decision | None], *, strict: bool = True) -> None:
        self.decisions = list(decisions)
        self.strict = strict
        self.pos = 0
        self.step = 0
        self.mismatches = 0

    def start_run(self) -> None:
        self.pos = 0
        self.mismatches = 0

    def _next(self, label: str, n: int) -> int | None:
        i = self.pos
        self.pos += 1
        if i >= len(self.decisions):
            if self.strict:
                raise ReplayDrift(
                    self.step, "the end of the recorded decisions", f"{label} among {n}"
                )
            self.mismatches += 1
            return None
        d = self.decisions[i]
        if d is None:  # lenient only: "take the default here"
            return None
        if d.label == label and d.n == n:
            return d.choice
        if self.strict:
            raise ReplayDrift(self.step, d.describe(), f"{label} among {n}")
        self.mismatches += 1
        if d.label == label and d.choice < n:
            return d.choice
        return None

    def pick_actor(self, cands: Sequence[Actor], current: Actor | None, step: int) -> int:
        self.step = step
        c = self._next("sched", len(cands))
        if c is not None:
            return c
        if current is not None:
            for i, a in enumerate(cands):
                if a is current:
                    return i
        return 0

    def choose(self, label: str, n: int, weights: Sequence[float] | None) -> int:
        c = self._next(label, n)
        return 0 if c is None else c

    @property
    def exhausted(self) -> bool:
        return self.pos >= len(self.decisions)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "strict": self.strict}
