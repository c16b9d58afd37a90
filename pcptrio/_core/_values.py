"""Frozen values shared by the engine, the oracles and the reports.

A :class:`Decision` is one nondeterministic choice of a run; the list of them, with the run's
parameters, is the replay token.  A :class:`Violation` is what an oracle reports.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

__all__ = ["Decision", "Outcome", "Violation"]


class Outcome(enum.StrEnum):
    """How a run ended."""

    OK = "ok"
    VIOLATION = "violation"
    DEADLOCK = "deadlock"
    BUDGET_EXHAUSTED = "budget-exhausted"
    ERROR = "error"


@attrs.frozen
class Decision:
    """One recorded choice: ``choice`` out of ``n`` options at a point labelled ``label``.

    Labels are fixed for engine choices (``sched`` = next actor, ``timer`` = which of tied
    timers fires, ``migrate`` / ``place`` = CPU of an unbound actor) and free-form for model
    choices made through ``chance`` / ``choose``.
    """

    label: str
    n: int
    choice: int

    def describe(self) -> str:
        return f"{self.label}[{self.choice}/{self.n}]"


@attrs.frozen
class Violation:
    """An oracle's verdict that something went wrong, with what a kernel developer needs.

    ``kind`` refines the oracle (e.g. ``cycle`` for a deadlock).  ``subject`` names the objects
    the failure concerns — a drain call's caller and zone, a CPU, actors, a lock, a work — with
    step numbers and counts left out (default: ``actors``).  Oracle + kind + subject is the
    failure signature: a shrunk run is *the same* failure only if its signature is equal.
    """

    oracle: str
    message: str
    step: int = 0
    t_ns: int = 0
    actors: tuple[str, ...] = ()
    kind: str = ""
    details: dict[str, Any] = attrs.field(factory=dict, eq=False)
    subject: tuple[str, ...] | None = None

    @property
    def signature(self) -> str:
        head = f"{self.oracle}:{self.kind}" if self.kind else self.oracle
        subject = self.actors if self.subject is None else self.subject
        return f"{head}({', '.join(subject)})" if subject else head

    def to_json(self) -> dict[str, Any]:
        return {
            "oracle": self.oracle,
            "kind": self.kind,
            "step": self.step,
            "t_ns": self.t_ns,
            "actors": list(self.actors),
            "subject": list(self.subject if self.subject is not None else self.actors),
            "message": self.message,
            "details": self.details,
        }
