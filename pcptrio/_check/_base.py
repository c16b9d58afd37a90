"""What an oracle is: a named judge that watches a machine and reports violations.

An oracle attaches to a machine before the run (``attach(m)``) by subscribing to the
machine's sensors; when it sees a failure it calls ``m.engine.report_violation`` with a
:class:`~pcptrio._core.Violation` naming itself.  Oracles never look at which design runs.
"""

from __future__ import annotations

import abc
from typing import Any

from .._core import Violation
from .._kernel import Machine

__all__ = ["Oracle"]


class Oracle(abc.ABC):
    """A named oracle.  ``options`` are its settings (e.g. ``strict``, ``bound_ns``)."""

    name: str = "?"
    description: str = ""

    def __init__(self, **options: Any) -> None:
        self.options = options

    @abc.abstractmethod
    def attach(self, m: Machine) -> None:
        """Subscribe to ``m``'s sensors (before the run starts)."""

    def report(
        self,
        m: Machine,
        message: str,
        *,
        kind: str = "",
        actors: tuple[str, ...] = (),
        details: dict[str, Any] | None = None,
        subject: tuple[str, ...] | None = None,
    ) -> None:
        """Report a violation; ``subject`` names what it concerns (see ``Violation``)."""
        e = m.engine
        e.report_violation(
            Violation(self.name, message, e.step, e.now, actors, kind, details or {}, subject)
        )
