"""Virtual time: integer nanoseconds and a heap of timers.

Time never comes from the wall clock.  It moves only when no actor can take a step: the
engine then jumps to the earliest timer.  Timers due at the same instant are a decision
(``timer``), so their firing order is explored like any other interleaving.

A *deferrable* timer (the kernel's ``TIMER_DEFERRABLE``, used by the workqueue watchdog) fires
in time order while the machine is otherwise busy, but does not keep an idle machine alive:
nothing runnable plus only deferrable timers pending plus someone waiting is a deadlock.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import attrs

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
                self._heap._gone(self)

    def __repr__(self) -> str:
        return f"<Timer {self.name} @{self.deadline}ns>"


class TimerHeap:
    """Timers ordered by ``(deadline, seq)``; cancelled entries are dropped lazily."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Timer]] = []
        self._seq = 0
        self._live = 0
        self._live_hard = 0  # live, non-deferrable

    def add(
        self, deadline: int, name: str, callback: Callable[[], None], *, deferrable: bool = False
    ) -> Timer:
        self._seq += 1
        t = Timer(deadline, self._seq, name, callback, deferrable, True, self)
        heapq.heappush(self._heap, (deadline, self._seq, t))
        self._live += 1
        if not deferrable:
            self._live_hard += 1
        return t

    def _gone(self, t: Timer) -> None:
        self._live -= 1
        if not t.deferrable:
            self._live_hard -= 1

    @property
    def has_hard(self) -> bool:
        """Whether a non-deferrable timer is pending (the machine is not idle)."""
        return self._live_hard > 0

    def __len__(self) -> int:
        return self._live

    def next_deadline(self) -> int | None:
        h = self._heap
        while h and not h[0][2].pending:
            heapq.heappop(h)
        return h[0][0] if h else None

    def pop_due(self, deadline: int) -> list[Timer]:
        """Remove and return every pending timer due at exactly ``deadline``, in seq order.

        The caller fires one of them and returns the others with :meth:`push_back`.
        """
        out: list[Timer] = []
        h = self._heap
        while h and h[0][0] == deadline:
            t = heapq.heappop(h)[2]
            if t.pending:
                out.append(t)
        return out

    def fire(self, t: Timer) -> None:
        """Mark a popped timer as fired (no longer pending) before running its callback."""
        t.pending = False
        self._gone(t)

    def push_back(self, t: Timer) -> None:
        """Return a popped-but-not-fired timer (a tie that lost the draw) to the heap."""
        heapq.heappush(self._heap, (t.deadline, t.seq, t))
