"""Synchronisation primitives with kernel semantics, all visible to the engine.

Every acquire and release is a scheduling point, so contention is explored, and every wait
records what the actor waits on and who holds it (the wait-for graph).  A release first brings
a thread that ran CPU-local steps ahead back to the machine's time (``Engine.sync``): a lock
held through a local run is released at the holder's clock, never earlier.

===============  ===================================================================
primitive        kernel behaviour modelled
===============  ===================================================================
SpinLock         ``spin_lock`` disables preemption; a waiter *spins*: it keeps its CPU
                 busy (nothing else runs there; interrupts still may, unless it used
                 ``spin_lock_irqsave``).  FIFO hand-over, like a queued spinlock.
Mutex            sleeping lock with ``mutex_trylock``; waiters sleep (give up the CPU),
                 FIFO hand-over on unlock.  Sleeping in atomic context is a model error.
Completion       ``complete`` / ``complete_all`` / ``wait_for_completion``.
RWSemaphore      a percpu rw-semaphore such as ``cpu_hotplug_lock``: readers share, a
                 writer excludes everyone, a waiting writer blocks new readers.
WaitQueue        ``wait_event`` / ``wake_up``: the caller re-checks its condition.
===============  ===================================================================

Simplification: kernel mutexes allow optimistic spinning and lock stealing by a running
task; here the lock is handed to the oldest waiter, which keeps runs shorter and replayable.
The interleavings that matter (who reaches the lock first) are still explored, because the
attempt itself is a scheduling point.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ._actor import Actor
from ._errors import ModelError

if TYPE_CHECKING:
    from ._engine import Engine, Waitable

__all__ = ["Completion", "Mutex", "RWSemaphore", "SpinLock", "WaitQueue"]

Holders = Callable[[], Sequence["Actor | Waitable"]]


class SpinLock:
    """A kernel spinlock (``spinlock_t``).  ``owner`` is the actor holding it."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.owner: Actor | None = None
        self.waiters: deque[Actor] = deque()
        self.acquisitions = 0
        self.contended = 0

    @property
    def wait_name(self) -> str:
        return f"spinlock {self.name}"

    def wait_holders(self) -> Sequence[Actor | Waitable]:
        return [self.owner] if self.owner is not None else []

    @property
    def locked(self) -> bool:
        return self.owner is not None

    async def lock(self) -> None:
        """``spin_lock``: disable preemption, then spin until the lock is ours."""
        e = self.engine
        a = e.current
        e.preempt_disable()
        await e.point("spin_lock", lock=self.name)
        self.acquisitions += 1
        if self.owner is None:
            self.owner = a
            return
        self.contended += 1
        self.waiters.append(a)
        await e.block(self, "spin_wait", holds_cpu=True)
        if self.owner is not a:  # pragma: no cover - hand-over invariant
            raise ModelError(f"spinlock {self.name} woke {a.name} without handing it over")
        e.emit("lock_acquired", lock=self.name)

    async def lock_irqsave(self) -> int:
        """``spin_lock_irqsave``: IRQs off first, then the lock; returns ``flags``."""
        flags = self.engine.local_irq_save()
        await self.lock()
        return flags

    async def trylock(self) -> bool:
        """``spin_trylock``: take the lock if free; never spins."""
        e = self.engine
        a = e.current
        e.preempt_disable()
        await e.point("spin_trylock", lock=self.name)
        if self.owner is None:
            self.owner = a
            self.acquisitions += 1
            e.emit("trylock_result", lock=self.name, ok=True)
            return True
        e.preempt_enable()
        e.emit("trylock_result", lock=self.name, ok=False)
        return False

    def _release(self) -> None:
        e = self.engine
        a = e.current
        if self.owner is not a:
            held = self.owner.name if self.owner is not None else "nobody"
            raise ModelError(f"{a.name} unlocks spinlock {self.name} held by {held}")
        if self.waiters:
            w = self.waiters.popleft()
            self.owner = w
            e.wake(w)
        else:
            self.owner = None
        e.preempt_enable()

    async def unlock(self) -> None:
        """``spin_unlock``."""
        await self.engine.sync()
        self._release()
        await self.engine.point("spin_unlock", lock=self.name)

    async def unlock_irqrestore(self, flags: int) -> None:
        """``spin_unlock_irqrestore``."""
        await self.engine.sync()
        self._release()
        self.engine.local_irq_restore(flags)
        await self.engine.point("spin_unlock", lock=self.name)


class Mutex:
    """A kernel mutex (``struct mutex``): a sleeping lock with trylock."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.owner: Actor | None = None
        self.waiters: deque[Actor] = deque()

    @property
    def wait_name(self) -> str:
        return f"mutex {self.name}"

    def wait_holders(self) -> Sequence[Actor | Waitable]:
        return [self.owner] if self.owner is not None else []

    @property
    def locked(self) -> bool:
        return self.owner is not None

    async def lock(self) -> None:
        """``mutex_lock``: sleep until the mutex is handed over."""
        e = self.engine
        a = e.current
        await e.point("mutex_lock", lock=self.name)
        if self.owner is None:
            self.owner = a
            return
        self.waiters.append(a)
        await e.block(self, "mutex_wait")
        if self.owner is not a:  # pragma: no cover - hand-over invariant
            raise ModelError(f"mutex {self.name} woke {a.name} without handing it over")
        e.emit("lock_acquired", lock=self.name)

    async def trylock(self) -> bool:
        """``mutex_trylock``: True if the mutex was free and is now ours."""
        e = self.engine
        await e.point("mutex_trylock", lock=self.name)
        ok = self.owner is None
        if ok:
            self.owner = e.current
        e.emit("trylock_result", lock=self.name, ok=ok)
        return ok

    async def unlock(self) -> None:
        """``mutex_unlock``: hand the mutex to the oldest waiter, if any."""
        e = self.engine
        await e.sync()
        a = e.current
        if self.owner is not a:
            held = self.owner.name if self.owner is not None else "nobody"
            raise ModelError(f"{a.name} unlocks mutex {self.name} held by {held}")
        if self.waiters:
            w = self.waiters.popleft()
            self.owner = w
            e.wake(w)
        else:
            self.owner = None
        await e.point("mutex_unlock", lock=self.name)


class Completion:
    """``struct completion``.  ``holders`` (optional) names who is expected to complete it,
    for the wait-for graph (e.g. the worker that will run a flushed work)."""

    _ALL = 1 << 30

    def __init__(self, engine: Engine, name: str, holders: Holders | None = None) -> None:
        self.engine = engine
        self.name = name
        self.done = 0
        self.waiters: deque[Actor] = deque()
        self.holders = holders

    @property
    def wait_name(self) -> str:
        return f"completion {self.name}"

    def wait_holders(self) -> Sequence[Actor | Waitable]:
        return self.holders() if self.holders is not None else []

    @property
    def completed(self) -> bool:
        return self.done > 0

    async def wait(self) -> None:
        """``wait_for_completion``."""
        e = self.engine
        if self.done > 0:
            if self.done < self._ALL:
                self.done -= 1
            await e.point("wait_for_completion", on=self.name, ready=True)
            return
        self.waiters.append(e.current)
        await e.block(self, "wait_for_completion")

    def complete(self) -> None:
        """``complete``: release one waiter (or bank one completion)."""
        if self.waiters:
            self.engine.wake(self.waiters.popleft())
        elif self.done < self._ALL:
            self.done += 1

    def complete_all(self) -> None:
        """``complete_all``: release every waiter, now and later."""
        self.done = self._ALL
        while self.waiters:
            self.engine.wake(self.waiters.popleft())


class RWSemaphore:
    """A percpu rw-semaphore (``cpu_hotplug_lock``): ``down_read`` / ``down_write``."""

    def __init__(self, engine: Engine, name: str, *, writer_blocks_readers: bool = True) -> None:
        self.engine = engine
        self.name = name
        self.readers: list[Actor] = []
        self.writer: Actor | None = None
        self.waiters: deque[tuple[Actor, bool]] = deque()
        #: Whether a waiting writer holds off new readers (a percpu rw-semaphore); False for
        #: a lock that only an active writer closes (4.10's mutex + refcount hotplug lock).
        self.writer_blocks_readers = writer_blocks_readers

    @property
    def wait_name(self) -> str:
        return f"rwsem {self.name}"

    def wait_holders(self) -> Sequence[Actor | Waitable]:
        if self.writer is not None:
            return [self.writer]
        out: list[Actor] = []
        for r in self.readers:
            if r not in out:
                out.append(r)
        return out

    def _writer_waiting(self) -> bool:
        return any(w for _, w in self.waiters)

    async def down_read(self) -> None:
        e = self.engine
        a = e.current
        await e.point("down_read", lock=self.name)
        if self.writer is None and not (self.writer_blocks_readers and self._writer_waiting()):
            self.readers.append(a)
            return
        self.waiters.append((a, False))
        await e.block(self, "down_read_wait")

    async def up_read(self) -> None:
        e = self.engine
        await e.sync()
        a = e.current
        if a not in self.readers:
            raise ModelError(f"{a.name} up_read on {self.name} without down_read")
        self.readers.remove(a)
        self._grant()
        await e.point("up_read", lock=self.name)

    async def down_write(self) -> None:
        e = self.engine
        a = e.current
        await e.point("down_write", lock=self.name)
        if self.writer is None and not self.readers:
            self.writer = a
            return
        self.waiters.append((a, True))
        await e.block(self, "down_write_wait")

    async def up_write(self) -> None:
        e = self.engine
        await e.sync()
        a = e.current
        if self.writer is not a:
            raise ModelError(f"{a.name} up_write on {self.name} it does not hold")
        self.writer = None
        self._grant()
        await e.point("up_write", lock=self.name)

    def _grant(self) -> None:
        e = self.engine
        if not self.writer_blocks_readers and self.writer is None:
            # Readers do not queue behind a waiting writer: let every waiting reader in.
            for a, write in list(self.waiters):
                if not write:
                    self.waiters.remove((a, write))
                    self.readers.append(a)
                    e.wake(a)
        while self.waiters and self.writer is None:
            a, write = self.waiters[0]
            if write:
                if self.readers:
                    return
                self.waiters.popleft()
                self.writer = a
                e.wake(a)
                return
            self.waiters.popleft()
            self.readers.append(a)
            e.wake(a)


class WaitQueue:
    """``wait_queue_head_t``: sleepers re-check their condition after each wake-up."""

    def __init__(self, engine: Engine, name: str, holders: Holders | None = None) -> None:
        self.engine = engine
        self.name = name
        self.sleepers: deque[Actor] = deque()
        self.holders = holders

    @property
    def wait_name(self) -> str:
        return f"waitqueue {self.name}"

    def wait_holders(self) -> Sequence[Actor | Waitable]:
        return self.holders() if self.holders is not None else []

    async def wait(self, event: str = "wait_event") -> None:
        """Sleep until woken (the caller loops: ``while not cond: await wq.wait()``)."""
        e = self.engine
        self.sleepers.append(e.current)
        await e.block(self, event)

    def wake_up(self) -> bool:
        """Wake the oldest sleeper; False if nobody sleeps."""
        while self.sleepers:
            if self.engine.wake(self.sleepers.popleft()):
                return True
        return False

    def wake_up_all(self) -> int:
        n = 0
        while self.sleepers:
            n += self.engine.wake(self.sleepers.popleft())
        return n
