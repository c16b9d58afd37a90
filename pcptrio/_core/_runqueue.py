"""The candidate set: which threads may take the next step, kept up to date incrementally.

A CPU runs one thread at a time (``CPU.curr``).  The candidates are, in spawn order: every
runnable thread that is ``curr`` somewhere; waiters bound to an online CPU that is open (its
``curr`` preemptible or absent); pending interrupts of an online CPU whose ``curr`` has IRQs
on; unbound waiters while some online CPU is open.  Each change that can move a thread in or
out re-checks that thread (or the threads waiting on one CPU), so a step costs the same on 8
CPUs as on 1024.  Putting threads on and off CPUs (context switch, interrupt, migration,
blocking) lives here too, since it is what changes the set.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from ._actor import Actor, ActorState
from ._state import EngineState

if TYPE_CHECKING:
    pass

RUNNABLE = ActorState.RUNNABLE
BLOCKED = ActorState.BLOCKED
DONE = ActorState.DONE

#: Probability that an unbound actor continuing at a preemptible point migrates.
MIGRATE_P = 0.2

# The candidate set's fingerprint: the sum (mod 2^32) of a hash of each member's seq, kept up
# to date in _refresh, so knowing it costs nothing per step.  At every sched (and timer)
# decision it is added to a digest of the run's choice sets; the digest (mod 2^32) is recorded
# at every decision whose index is a multiple of CHOICE_MARK, and at the end, and tokens carry
# the record: a strict replay then notices when the candidates differ from the recording even
# where their number is the same.
_MASK = 0xFFFFFFFF
CHOICE_MARK = 64  # a power of two


def actor_fp(seq: int) -> int:
    """An actor's share of the fingerprint (Fibonacci hashing of its seq)."""
    return ((seq + 1) * 0x9E3779B1) & _MASK


class RunQueueMixin(EngineState):
    """The candidate set (part of :class:`~pcptrio._core.Engine`)."""

    def _eligible(self, a: Actor) -> bool:
        if a.state is not RUNNABLE or a.interrupted:
            return False
        if a.cpu is not None:
            return True
        if a.bound is None:
            return self._n_open > 0  # valid: ``a`` waits, so _unbound is not empty
        c = self.cpus[a.bound]
        if not c.online:
            return False
        cur = c.curr
        if cur is None:
            return True
        return not cur.irq_disabled if a.interrupt else not (cur.preempt_count or cur.irq_disabled)

    def _refresh(self, a: Actor) -> None:
        """Put ``a`` in the candidate set or take it out, as its state now says."""
        if a.state is not RUNNABLE or a.interrupted:  # _eligible(a), inlined: a hot path
            e = False
        elif a.cpu is not None:
            e = True
        else:
            e = self._eligible(a)
        if e is a.cand:
            return
        a.cand = e
        keys = self._cand_keys
        i = bisect.bisect_left(keys, a.seq)
        if e:
            keys.insert(i, a.seq)
            self._cands.insert(i, a)
            self._cand_fp = (self._cand_fp + a.fp) & _MASK
        else:
            del keys[i]
            del self._cands[i]
            self._cand_fp = (self._cand_fp - a.fp) & _MASK

    def _cpu_changed(self, cpu: int | None) -> None:
        """CPU ``cpu`` may have opened or closed (its ``curr``, that one's preemption or IRQ
        state, or its online state changed): re-check who waits for it."""
        if cpu is None:
            return
        c = self.cpus[cpu]
        # Every waiter of one CPU is eligible exactly when the CPU is open: re-check them
        # only when that flips (the gates are kept while someone waits; see _add_waiter).
        cur = c.curr  # c.online and c.open, inlined
        now = c.online and (cur is None or not (cur.preempt_count or cur.irq_disabled))
        if now is not c.was_open:
            c.was_open = now
            for w in c.waiters:
                self._refresh(w)
            if self._unbound:
                before = self._n_open > 0
                self._n_open += 1 if now else -1
                if (self._n_open > 0) is not before:
                    for w in self._unbound:
                        self._refresh(w)
        if c.pending_irqs:
            now = c.online and c.irq_open
            if now is not c.was_irq_open:
                c.was_irq_open = now
                for w in c.pending_irqs:
                    self._refresh(w)

    def _add_waiter(self, a: Actor) -> None:
        """``a`` is runnable and off every CPU now (the caller refreshes it)."""
        self._waiting += 1
        if a.interrupt:  # it waits in its CPU's pending_irqs
            c = self.cpus[a.bound]  # type: ignore[index]
            if len(c.pending_irqs) == 1:  # the first: the gate may be stale
                c.was_irq_open = c.online and c.irq_open
            return
        if a.bound is None:
            if not self._unbound:  # the open-CPU count is kept only while someone needs it
                n = 0
                for c in self.cpus:
                    c.was_open = o = c.online and c.open
                    n += o
                self._n_open = n
            self._unbound[a] = None
        else:
            c = self.cpus[a.bound]
            if not c.waiters:  # the first: the gate may be stale (see _cpu_changed)
                c.was_open = c.online and c.open
            c.waiters[a] = None

    def _drop_waiter(self, a: Actor) -> bool:
        """``a`` stops waiting for a CPU (it got one, blocked or ended); whether it waited."""
        if a.state is not RUNNABLE or a.cpu is not None or a.interrupted:
            return False
        self._waiting -= 1
        if not a.interrupt:
            if a.bound is None:
                del self._unbound[a]
            else:
                del self.cpus[a.bound].waiters[a]
        return True

    # Unbound waiters may run on any open CPU: while there are some (and only then, so the
    # hot path of a machine without them pays nothing), ``_n_open`` counts the online CPUs
    # that are open and ``CPU.was_open`` says which; _cpu_changed keeps both up to date.

    def _open_cpus(self, exclude: int | None = None) -> list[int]:
        return [c.id for c in self.cpus if c.online and c.open and c.id != exclude]

    async def _maybe_migrate(self, a: Actor) -> None:
        here = a.cpu
        others = self._open_cpus(exclude=here)
        if not others:
            return
        n = len(others) + 1
        weights = [1.0 - MIGRATE_P] + [MIGRATE_P / len(others)] * len(others)
        k = self._decide("migrate", n, weights)
        if k == 0:
            return
        self._take_off(a)
        self._occupy(a, others[k - 1])
        self.emit("migrate", src=here, dst=a.cpu)
        await self._to_host(a)

    def _switch_in(self, nxt: Actor) -> None:
        """Put ``nxt`` on a CPU if it is not on one already."""
        if nxt.cpu is not None:
            return
        if nxt.interrupt:
            c = self.cpus[nxt.bound]  # type: ignore[index]
            prev = c.curr
            if prev is not None:
                prev.interrupted = True
                prev.cpu = None
                c.irq_stack.append(prev)
                self._refresh(prev)
            c.pending_irqs.remove(nxt)
            self._waiting -= 1
            c.curr = nxt
            nxt.cpu = c.id
            nxt.last_cpu = c.id
            nxt.atomic_since = nxt.irq_off_since = self.now  # hardirq: atomic from entry
            self._refresh(nxt)
            self._cpu_changed(c.id)  # hardirq context closes the CPU
            return
        if nxt.bound is not None:
            self._occupy(nxt, nxt.bound)
            return
        opens = self._open_cpus()
        last = nxt.last_cpu
        if len(opens) == 1:
            target = opens[0]
        elif last is not None and last in opens:
            # Back to its last CPU unless the load balancer moves it (a decision, like migrate).
            others = [c for c in opens if c != last]
            weights = [1.0 - MIGRATE_P] + [MIGRATE_P / len(others)] * len(others)
            k = self._decide("place", len(opens), weights)
            target = last if k == 0 else others[k - 1]
        else:
            target = opens[self._decide("place", len(opens), None)]
        self._occupy(nxt, target)

    def _occupy(self, a: Actor, cpu: int) -> None:
        c = self.cpus[cpu]
        prev = c.curr
        # Swapping preemptible actors on a CPU (or filling an idle one with a preemptible
        # actor) leaves every CPU exactly as open as before, so the candidate set is unchanged:
        # an off-CPU actor is always preemptible, having been switched out at a preemptible
        # point or having slept.  Anything else invalidates the cached candidates.
        same = not (a.preempt_count or a.irq_disabled) and (
            prev is None or prev is a or not (prev.preempt_count or prev.irq_disabled)
        )
        if prev is not None and prev is not a:
            self._take_off(prev)
        self._drop_waiter(a)
        c.curr = a
        a.cpu = cpu
        a.last_cpu = cpu
        if not a.cand:
            self._refresh(a)
        if not same:
            self._cpu_changed(cpu)

    def _take_off(self, a: Actor) -> None:
        """``a`` loses its CPU (preempted, or it blocked, or its CPU went offline)."""
        cpu = a.cpu
        if cpu is None:
            return
        c = self.cpus[cpu]
        if c.curr is a:
            c.curr = None
        a.cpu = None
        if a.state is RUNNABLE:
            self._add_waiter(a)
        elif a.holds_cpu:
            # A busy or spinning actor preempted off its CPU waits without holding it.
            a.holds_cpu = False
        self._refresh(a)
        if a.preempt_count or a.irq_disabled:
            self._cpu_changed(cpu)

    def _release_cpu(self, a: Actor) -> None:
        cpu = a.cpu
        if cpu is None:
            return
        c = self.cpus[cpu]
        a.cpu = None
        if a.interrupt:
            back = c.curr = c.irq_stack.pop() if c.irq_stack else None
            if back is not None:
                back.interrupted = False
                back.cpu = cpu
                self._refresh(back)
        elif c.curr is a:
            c.curr = None
        # ``a`` blocked or ended: its caller has taken it out of the candidate set already.
        self._cpu_changed(cpu)

    def _set_blocked(self, a: Actor, holds_cpu: bool) -> None:
        if a.cpu is None:  # (the running thread holds a CPU: it waits for none)
            self._drop_waiter(a)
        a.state = BLOCKED
        a.holds_cpu = holds_cpu
        self._refresh(a)
        if not holds_cpu:
            self._release_cpu(a)
