"""A nursery of simulated threads, opened through the engine.

``async with engine.open_nursery() as n`` has trio's structured-concurrency shape: children
started with ``n.start_soon`` are threads of the run, and the block does not end before every
child has returned.  The children are not trio tasks (the CPU tasks drive them, see the
engine), so the parent's wait at the end of the block is an engine wait: the parent blocks on
"children of <parent>" and is woken when the last child returns, and the scheduler decides
what runs meanwhile.  An exception in the block or in a child ends the run as an error (the
engine unwinds every thread), so unlike trio's nursery this one never cancels children.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._actor import INHERIT, Actor, ActorState

if TYPE_CHECKING:
    from ._engine import Engine, Waitable

__all__ = ["EngineNursery"]


class EngineNursery:
    """See the module docstring.  Children default to the parent's CPU binding."""

    #: The parent's wait for its children is structure, not a kernel wait (a thread waiting
    #: in the kernel waits on a lock, a completion or a work inside one of the children):
    #: lockup detectors treat it as an idle wait.
    idle = True

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.children: list[Actor] = []
        self.done = 0
        self.joining = False
        self.parent: Actor | None = None

    @property
    def wait_name(self) -> str:
        p = self.parent.name if self.parent is not None else "?"
        return f"children of {p}"

    def wait_holders(self) -> Sequence[Actor | Waitable]:
        return [c for c in self.children if c.state is not ActorState.DONE]

    async def __aenter__(self) -> EngineNursery:
        self.parent = self.engine.current
        return self

    def start_soon(
        self,
        fn: Callable[..., Awaitable[Any]],
        *args: Any,
        name: str,
        cpu: int | None = INHERIT,
        daemon: bool = False,
    ) -> Actor:
        """Spawn a child actor (``cpu`` defaults to the parent's binding; ``None``: unbound)."""
        return self.engine.spawn(fn, *args, name=name, cpu=cpu, daemon=daemon, nursery=self)

    async def __aexit__(
        self,
        etype: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        eng = self.engine
        if exc is None and not eng.finished and self.done < len(self.children):
            self.joining = True
            try:
                await eng.block(self, "nursery_join")
            finally:
                self.joining = False
        return False
