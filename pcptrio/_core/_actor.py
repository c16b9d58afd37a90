"""Actors: the simulated threads of control, and the CPUs they run on.

An :class:`Actor` is one simulated thread (a coroutine the engine drives by hand) registered
under a stable human name (``kworker/2:0``, ``drainer#1``, ``ipi:drainer#1->cpu3``,
``cpu1/churn``).  A :class:`CPU` is one trio task that runs at most one actor at a time
(``curr``); an interrupt pushes ``curr`` onto the CPU's interrupt stack and runs on top of it
until it returns.

Nothing here decides anything: the engine reads these fields to build the set of actors that
may take the next step.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from trio.lowlevel import Task

    from ._engine import Waitable

__all__ = ["CPU", "INHERIT", "Actor", "ActorState"]


class _Inherit:
    def __repr__(self) -> str:
        return "INHERIT"


#: ``cpu=INHERIT`` binds a spawned actor like the actor that spawns it.
INHERIT: Any = _Inherit()


class ActorState(enum.IntEnum):
    RUNNABLE = 0
    BLOCKED = 1
    DONE = 2


@attrs.define(eq=False, repr=False)
class Actor:
    """One simulated thread of control.

    ``bound`` is the CPU the actor is pinned to (``None``: unbound, may run on and migrate
    between online CPUs).  ``cpu`` is the CPU it occupies right now (``None``: off-CPU).
    """

    name: str
    seq: int
    bound: int | None
    daemon: bool = False
    interrupt: bool = False
    state: ActorState = ActorState.RUNNABLE
    # Invariant: cpu is not None iff this actor is the ``curr`` of that CPU.
    cpu: int | None = None
    last_cpu: int | None = None
    # Invariant: holds_cpu only while BLOCKED; the actor stays ``curr`` (spinning or busy).
    holds_cpu: bool = False
    # Invariant: interrupted iff the actor sits on some CPU's interrupt stack.
    interrupted: bool = False
    preempt_count: int = 0
    irq_disabled: int = 0
    # Virtual time at which the actor last became non-preemptible (preemption or IRQs off,
    # or hardirq context): the start of its current atomic section.
    atomic_since: int = 0
    # ... and when it last turned IRQs off (the hard-lockup watchdog's interval).
    irq_off_since: int = 0
    # When it last blocked (khungtaskd measures uninterruptible waits from here).
    blocked_since: int = 0
    waiting_on: Waitable | None = None
    slept: bool = False
    wake_value: Any = None
    steps: int = 0
    # Opaque to the engine: L1 hangs its task_struct (flags, worker, ...) here.
    kernel: Any = None
    # Scheduler hooks (workqueue concurrency management: wq_worker_sleeping / waking_up).
    on_sleep: Callable[[Actor], None] | None = None
    on_wake: Callable[[Actor], None] | None = None
    # Whether the actor is in the engine's candidate set (it may take the next step).
    cand: bool = False
    # Its share of the candidate set's fingerprint (a hash of seq; see _runqueue).
    fp: int = 0
    # The pending wake-up of a spend/sleep in the engine's timer heap (0: none).
    wake_seq: int = 0
    # The thread's coroutine, driven by hand by the CPU task it runs on (None once done).
    coro: Any = None
    nursery: Any = None

    @property
    def pid(self) -> int:
        """A stable pid-like number (spawn order), used in kernel-style dumps."""
        return self.seq + 1

    # An interrupt actor starts with preempt_count = irq_disabled = 1 (hardirq context), so
    # these two tests need no special case for it.
    @property
    def preemptible(self) -> bool:
        return not (self.preempt_count or self.irq_disabled)

    @property
    def irqs_enabled(self) -> bool:
        return not self.irq_disabled

    def __repr__(self) -> str:
        return f"<Actor {self.name} {self.state.name.lower()} cpu={self.cpu}>"


@attrs.define(eq=False, repr=False)
class CPU:
    """A simulated CPU: who runs on it, who it interrupted, and whether it is online."""

    id: int
    online: bool = True
    curr: Actor | None = None
    irq_stack: list[Actor] = attrs.field(factory=list)
    pending_irqs: list[Actor] = attrs.field(factory=list)
    # Runnable actors bound here and waiting for this CPU (off every CPU, not interrupted).
    waiters: dict[Actor, None] = attrs.field(factory=dict)
    # Whether it was online and open when the engine last looked (see _runqueue).
    was_open: bool = True
    was_irq_open: bool = True
    # trio plumbing: the CPU's trio task (``cpu<N>``), parked while another CPU holds the
    # baton; ``baton`` hands it over before the task has first parked.
    task: Task | None = None
    started: bool = False
    parked: bool = False
    baton: bool = False

    @property
    def open(self) -> bool:
        """Whether another (non-interrupt) actor may take this CPU at the next step."""
        c = self.curr
        return c is None or not (c.preempt_count or c.irq_disabled)

    @property
    def irq_open(self) -> bool:
        """Whether a pending interrupt may start on this CPU at the next step."""
        c = self.curr
        return c is None or not c.irq_disabled

    def __repr__(self) -> str:
        return f"<CPU{self.id} {'online' if self.online else 'offline'} curr={self.curr}>"
