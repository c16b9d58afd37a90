"""Virtual time: spend, sleep, timers, and the threads' local clocks.

The machine's time (``Engine._front``) moves only when no thread can take a step: the engine
fires the earliest timer (ties are a ``timer`` decision).  The running thread's clock
(``Engine.now``) is the machine's time, or later while it runs CPU-local steps ahead
(``spend(..., local=True)``): the engine module docstring, "Local clocks", says when that is
allowed and why it stays deterministic and faithful.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from trio.lowlevel import (
    enable_ki_protection,
)

from ._actor import Actor, ActorState
from ._baton import RunOver
from ._errors import ModelError
from ._state import EngineState
from ._time import Due, Timer

if TYPE_CHECKING:
    from ._engine import Waitable

RUNNABLE = ActorState.RUNNABLE
BLOCKED = ActorState.BLOCKED
DONE = ActorState.DONE


_FAR = 1 << 62  # later than any deadline


class _Sleep:
    """What a sleeping actor waits on."""

    __slots__ = ("busy", "until")

    def __init__(self, until: int, busy: bool) -> None:
        self.until = until
        self.busy = busy

    @property
    def wait_name(self) -> str:
        return f"{'busy' if self.busy else 'sleep'} until {self.until}ns"

    def wait_holders(self) -> Sequence[Actor | Waitable]:
        return ()


def _due_fp(x: Due) -> int:
    """A tied timer's share of a timer decision's fingerprint: the woken actor's, or a
    checksum of the timer's name (not its seq: a lone thread's wait takes no timer, so seqs
    differ between a run and its replay with step hooks attached)."""
    if isinstance(x, Timer):
        return zlib.crc32(x.name.encode())
    return x.fp


class ClockMixin(EngineState):
    """Time and timers (part of :class:`~pcptrio._core.Engine`)."""

    @enable_ki_protection
    async def _catch_up(self, a: Actor) -> None:
        """``a`` ran CPU-local steps ahead of the machine's time; before its next non-local
        step it waits, keeping its CPU, until that time reaches its clock (no step, no
        trace): so non-local steps happen in time order."""
        self.timers.add_wake(self.now, a)
        try:
            a.wake_value = None
            a.waiting_on = _Sleep(self.now, True)
            self._set_blocked(a, True)
            a.slept = False
            self.now = self._front
            await self._yield_blocked(a)
        finally:
            if a.wake_seq:
                self.timers.cancel_wake(a)

    def _horizon(self) -> int:
        """How far the running thread's CPU-local steps may run ahead: not past the machine's
        time if anything else is runnable or waits for a CPU (an interrupt included), else
        up to the earliest non-local timer, and at most ``lookahead_ns`` past the earliest
        local wake-up of another thread (which may do a non-local step when it wakes)."""
        if self._waiting or len(self._cands) > 1:
            return self._front
        t = self.timers
        if t.changes == self._hz_changes:  # no timer came or went since the last look
            return self._hz
        self._hz_changes = t.changes
        nxt = t.next_nonlocal()
        h = _FAR if nxt is None else nxt
        lo = t.next_local()
        if lo is not None and lo + self.lookahead_ns < h:
            h = lo + self.lookahead_ns
        if self.max_time_ns is not None and self.max_time_ns < h:
            h = self.max_time_ns
        self._hz = h
        return h

    @enable_ki_protection
    async def sync(self) -> None:
        """If the running thread ran CPU-local steps ahead of the machine's time, wait (no
        step) until the machine's time reaches its clock: call it before a non-local effect
        that is not itself a scheduling point (releasing a lock others may wait for)."""
        if self.now != self._front:
            a = self._cur
            if self.finished or a is None:
                raise RunOver
            await self._catch_up(a)

    def _alone_until(self, until: int) -> bool:
        """Whether the running thread's ordinary timed wait until ``until`` may be a jump of
        time: it is the only candidate, nobody waits for a CPU, nothing is due before the
        wait ends, no step hook looks.  Blocking, firing its wake-up (no tie, no decision)
        and resuming it (the only candidate, no decision) would come to the same."""
        if (
            len(self._cands) != 1
            or self._waiting
            or self._due
            or self._step_hooks
            or self._stop is not None
            or (self.max_time_ns is not None and until > self.max_time_ns)
        ):
            return False
        nd = self.timers.next_deadline()
        return nd is None or nd > until

    @property
    def ahead(self) -> bool:
        """Whether the running thread is running CPU-local steps ahead of the machine's time
        (what it touches must then be its own CPU's state)."""
        return self.now != self._front

    def check_local(self, what: str) -> None:
        """The validator: ``what`` is not CPU-local, and must not happen while running ahead."""
        if self.now != self._front:
            a = self._cur
            raise ModelError(
                f"{a.name if a is not None else '?'}: {what} in a step declared CPU-local, "
                f"{self.now - self._front} ns ahead of the machine's time (only steps on the "
                "CPU's own state may be declared local)"
            )

    def add_timer(
        self, delay_ns: int, name: str, callback: Callable[[], None], *, deferrable: bool = False
    ) -> Timer:
        """Call ``callback()`` (no actor context) ``delay_ns`` from now."""
        return self.timers.add(self.now + max(delay_ns, 0), name, callback, deferrable=deferrable)

    def _take_due(self, deadline: int) -> None:
        """Move the timers due at ``deadline`` into ``_due``, and their fingerprints into
        ``_due_fp`` (kept as entries come and go, so a tie costs no sum over the list)."""
        more = self.timers.pop_due(deadline)
        self._due.extend(more)
        self._due_fp += sum(_due_fp(x) for _, x in more)

    def _advance_time(self) -> None:
        timers = self.timers
        due = self._due
        if due and timers.cancels != self._due_cancels:  # some may have been cancelled
            live = timers.live
            due[:] = [d for d in due if live(*d)]
            self._due_fp = sum(_due_fp(x) for _, x in due)
        self._due_cancels = timers.cancels
        if due:
            deadline = self._due_at
            if timers.next_deadline() == deadline:  # added since, due at the same instant
                self._take_due(deadline)
        else:
            if not timers.has_hard:
                self._finish_deadlock()
                return
            nd = timers.next_deadline()
            assert nd is not None
            deadline = nd
            if self.max_time_ns is not None and deadline > self.max_time_ns:
                self.now = self._front = self.max_time_ns
                self._finish_budget("time")
                return
            self._take_due(deadline)
            self._due_at = deadline
        # Timers due at the same instant fire one at a time, in an order the scheduler picks;
        # the others wait in ``_due`` (still pending, still counted by the heap).
        if len(due) == 1:
            k = 0
        else:  # which of the tied timers fires: a decision among them
            self._note_choice(self._due_fp & 0xFFFFFFFF)
            k = self._decide("timer", len(due), None)
        _, x = due.pop(k)
        self._due_fp -= _due_fp(x)
        if deadline > self.now:
            self.now = self._front = deadline
        timers.fire(x)
        if isinstance(x, Timer):
            x.callback()
        else:
            self.wake(x)
