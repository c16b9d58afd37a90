"""A trio nursery opened through the engine.

``async with engine.open_nursery() as n`` opens a real trio nursery, so children are trio
tasks in the usual structured-concurrency tree; but the parent's wait at the end of the block
is an engine wait (the parent blocks on "children of <parent>" and is woken when the last child
returns), so the scheduler, not trio, decides what runs while the parent waits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import trio

from ._actor import INHERIT, Actor, ActorState

if TYPE_CHECKING:
    from ._engine import Engine, Waitable

__all__ = ["EngineNursery"]


class EngineNursery:
    """See the module docstring.  Children default to the parent's CPU binding."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.children: list[Actor] = []
        self.done = 0
        self.joining = False
        self.parent: Actor | None = None
        self._cm: Any = None
        self.trio_nursery: trio.Nursery = None  # type: ignore[assignment]

    @property
    def wait_name(self) -> str:
        p = self.parent.name if self.parent is not None else "?"
        return f"children of {p}"

    def wait_holders(self) -> Sequence[Actor | Waitable]:
        return [c for c in self.children if c.state is not ActorState.DONE]

    async def __aenter__(self) -> EngineNursery:
        self.parent = self.engine.current
        self._cm = trio.open_nursery()
        self.trio_nursery = await self._cm.__aenter__()
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
            except BaseException as new:  # run over / cancelled: trio's nursery still closes
                if await self._cm.__aexit__(type(new), new, new.__traceback__):
                    return True
                raise
            finally:
                self.joining = False
        return bool(await self._cm.__aexit__(etype, exc, tb))
