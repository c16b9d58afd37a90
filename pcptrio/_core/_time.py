"""Virtual time: integer nanoseconds and a heap of timers.

Time never comes from the wall clock.  It moves only when no actor can take a step: the
engine then jumps to the earliest timer.  Timers due at the same instant are a decision
(``timer``), so their firing order is explored like any other interleaving.

Two kinds of entries share one heap and one sequence counter (the tie order):

* a :class:`Timer` (``add_timer``: the mayday timer, the watchdogs), a callback run with no
  actor context;
* a *wake-up* of an actor at the end of its ``spend``/``sleep``: a plain heap entry
  ``(deadline, seq, actor)``, no object and no closure per wait.  It is live while the
  actor's ``wake_seq`` equals the entry's ``seq`` (cancelling it resets ``wake_seq``).

Wake-ups of CPU-local waits (a ``spend(..., local=True)`` that could not run ahead, see the
engine's "Local clocks") live in a heap of their own, so the engine can ask for the earliest
*non-local* event (:meth:`TimerHeap.next_nonlocal`) and the earliest local one separately;
both heaps share the sequence counter, and firing merges them in ``(deadline, seq)`` order.

A *deferrable* timer (the kernel's ``TIMER_DEFERRABLE``, used by the workqueue watchdog) fires
in time order while the machine is otherwise busy, but does not keep an idle machine alive:
nothing runnable plus only deferrable timers pending plus someone waiting is a deadlock.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING, Union

import attrs

if TYPE_CHECKING:
    from ._actor import Actor

__all__ = ["MSEC", "NSEC", "SEC", "USEC", "Timer", "TimerHeap"]

NSEC = 1
USEC = 1_000
MSEC = 1_000_000
SEC = 1_000_000_000


@attrs.define(eq=False, repr=False)
class Timer:
    """A callback due at ``deadline`` (virtual ns).  Cancel it with :meth:`cancel`."""

    deadline: int
    seq: int
    name: str
    callback: Callable[[], None]
    deferrable: bool = False
    # Invariant: pending iff the timer is in its heap and neither fired nor cancelled.
    pending: bool = True
    _heap: TimerHeap | None = None

    def cancel(self) -> None:
        """Cancel the timer if it has not fired yet (``del_timer``)."""
        if self.pending:
            self.pending = False
            if self._heap is not None:
                self._heap._gone(self.deferrable, cancelled=True)

    def __repr__(self) -> str:
        return f"<Timer {self.name} @{self.deadline}ns>"


#: What a heap entry carries: a timer, or the actor a wake-up is for.
Due = Union[Timer, "Actor"]


def _by_seq(d: tuple[int, Due]) -> int:
    return d[0]


class TimerHeap:
    """Entries ordered by ``(deadline, seq)``; cancelled ones are dropped lazily."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Due]] = []
        self._lheap: list[tuple[int, int, Due]] = []  # wake-ups of CPU-local waits
        self._seq = 0
        self._live = 0
        self._live_hard = 0  # live, non-deferrable
        #: Cancellations so far: popped-but-unfired entries need a re-check only if it moved.
        self.cancels = 0
        #: Additions and cancellations so far: what the engine's look-ahead limit depends on.
        self.changes = 0

    def add(
        self, deadline: int, name: str, callback: Callable[[], None], *, deferrable: bool = False
    ) -> Timer:
        self._seq += 1
        t = Timer(deadline, self._seq, name, callback, deferrable, True, self)
        heapq.heappush(self._heap, (deadline, self._seq, t))
        self.changes += 1
        self._live += 1
        if not deferrable:
            self._live_hard += 1
        return t

    def add_wake(self, deadline: int, a: Actor, local: bool = False) -> None:
        """Wake ``a`` at ``deadline`` (it has at most one wake-up pending); ``local``: the end
        of a CPU-local wait."""
        self._seq = seq = self._seq + 1
        a.wake_seq = seq
        heapq.heappush(self._lheap if local else self._heap, (deadline, seq, a))
        self.changes += 1
        self._live += 1
        self._live_hard += 1

    def cancel_wake(self, a: Actor) -> None:
        """Drop ``a``'s pending wake-up, if any."""
        if a.wake_seq:
            a.wake_seq = 0
            self._gone(False, cancelled=True)

    def _gone(self, deferrable: bool, *, cancelled: bool = False) -> None:
        """An entry left the live count: fired, or ``cancelled`` (which popped-but-unfired
        entries and the engine's look-ahead cache must notice)."""
        self._live -= 1
        if not deferrable:
            self._live_hard -= 1
        if cancelled:
            self.cancels += 1
            self.changes += 1

    @property
    def has_hard(self) -> bool:
        """Whether a non-deferrable timer is pending (the machine is not idle)."""
        return self._live_hard > 0

    def __len__(self) -> int:
        return self._live

    @staticmethod
    def _head(h: list[tuple[int, int, Due]]) -> int | None:
        while h:
            _, seq, x = h[0]
            if x.pending if isinstance(x, Timer) else x.wake_seq == seq:
                return h[0][0]
            heapq.heappop(h)
        return None

    def next_deadline(self) -> int | None:
        a = self._head(self._heap)
        b = self._head(self._lheap)
        if a is None:
            return b
        return a if b is None or a <= b else b

    def next_nonlocal(self) -> int | None:
        """The earliest deadline of anything but a local wait's wake-up."""
        return self._head(self._heap)

    def next_local(self) -> int | None:
        """The earliest wake-up of a local wait."""
        return self._head(self._lheap)

    def pop_due(self, deadline: int) -> list[tuple[int, Due]]:
        """Remove and return every live entry due at exactly ``deadline`` as ``(seq, what)``,
        in seq order.  The caller fires them one at a time (:meth:`live`, :meth:`fire`)."""
        out: list[tuple[int, Due]] = []
        for h in (self._heap, self._lheap):
            while h and h[0][0] == deadline:
                _, seq, x = heapq.heappop(h)
                if x.pending if isinstance(x, Timer) else x.wake_seq == seq:
                    out.append((seq, x))
        if len(out) > 1:
            out.sort(key=_by_seq)
        return out

    @staticmethod
    def live(seq: int, x: Due) -> bool:
        """Whether a popped entry is still due (not cancelled since it was popped)."""
        return x.pending if isinstance(x, Timer) else x.wake_seq == seq

    def fire(self, x: Due) -> None:
        """Mark a popped entry as fired before acting on it."""
        self.changes += 1
        if isinstance(x, Timer):
            x.pending = False
            self._gone(x.deferrable)
        else:
            x.wake_seq = 0
            self._gone(False)
