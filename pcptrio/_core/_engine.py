"""The deterministic engine: simulated threads on trio, run one at a time in an order it picks.

Each CPU is a trio task; threads are coroutines it drives
-------------------------------------------------------
trio decides the order of runnable tasks itself (it reverses each batch with probability
1/2, from a process-global generator), and tied deadlines or cancellation fan-out are ordered
by object addresses.  None of that may leak into a run.  So, like loom, Shuttle and Coyote, the
engine keeps exactly one task runnable *in trio* at any time: the one holding the baton.

The trio tasks are the CPUs (``cpu0`` … ``cpuN`` under the run's nursery, each started when
its CPU first runs a thread), not the threads.
A simulated thread (an :class:`Actor`: a workload task, a kworker, the rescuer, an interrupt
handler) is a coroutine that the CPU task it runs on drives by hand (``coro.send``).  When the
running thread reaches a scheduling point and the scheduler picks another thread, the thread
yields a private marker up its await chain to the CPU task, which then either sends into the
next thread's coroutine itself (same CPU: a context switch, an interrupt, a spawn or an exit is
one coroutine switch, no trio switch) or reschedules the next thread's CPU task and parks (a
hand-over between CPUs: one trio park/reschedule).  A thread that migrates is simply driven by
another CPU task from then on.  Anything else a thread's coroutine yields is a trio primitive
the engine cannot see: the run ends as an error at once, naming the thread and its line.

::

    cpu0 task                         engine                      cpu1 task (parked)
    ─────────                         ──────                      ──────────────────
    send → thread A: await point() ─▶ record step, candidates {A, B, C}
                                      scheduler picks C (on cpu0)
    A yields; send → thread C …       scheduler picks B (on cpu1)
    C yields; reschedule(cpu1) ─────────────────────────────────▶ resumes, send → thread B
    park                                                          …

A point where the scheduler keeps the same thread costs no switch of any kind.  Determinism
follows from the baton: trio only ever has one runnable engine task, and which thread runs
next is the scheduler's decision alone.  A CPU task lets trio's loop run every few thousand
thread switches (a checkpoint), so an enclosing cancel scope and other trio tasks still get
their turn in a long run without hand-overs.

CPUs and what may run
---------------------
A CPU runs one actor at a time (``CPU.curr``).  At each step the candidates are: every
runnable actor that is ``curr`` somewhere (it continues); runnable off-CPU actors bound to a
CPU whose ``curr`` is preemptible or absent (a context switch); pending interrupts of a CPU
whose ``curr`` has IRQs enabled (the interrupt runs on top of it, to completion); unbound
off-CPU actors if any online CPU is open.  An unbound actor that continues at a preemptible
point may migrate to another open CPU (decision ``migrate``).  Actors on different CPUs
interleave at every point.

Time, idleness, deadlock
------------------------
Virtual time (integer ns) moves only when no actor can take a step: the engine fires the
earliest timer (ties are a ``timer`` decision).  With nothing runnable, no non-deferrable timer
pending and a non-daemon actor waiting, the run ends as a deadlock with the wait-for graph.
Budgets (steps, virtual time) end a run as ``budget-exhausted``.

Local clocks
------------
Most steps of a busy machine touch only the running CPU's own state: a PCP fast-path operation
on its own list, a workload's think time.  Offering a switch between two such steps of
different CPUs explores nothing (they commute) and costs a decision and a hand-over each.  So
a step may be declared CPU-local (``spend(ns, local=True)``) and then *runs ahead*: the
running thread's clock (``now``) moves past the machine's time (``_front``, where the timers
are) with no decision and no switch, as long as nothing else could happen earlier —
conservative lookahead, as in parallel discrete-event simulation:

- nothing else is runnable and nobody waits for a CPU (an interrupt included): otherwise the
  local step is an ordinary timed wait, and the other thread gets its turn at the same time;
- not past the earliest non-local timer (a sleep, a mayday timer, a watchdog, another
  thread's ordinary spend): what it wakes runs at its time, before the local steps after it;
- at most ``lookahead_ns`` (20 µs) past the earliest *local* wake-up of another thread (a
  thread that waits at the end of a local step it could not run ahead with): when that thread
  wakes, its next step may be non-local (an allocation that drains), and its effect on this
  CPU is then at most ``lookahead_ns`` late.  This bound is the one inexactness of the scheme,
  the temporal decoupling of loosely-timed simulators (SystemC TLM-2.0's global quantum).

Before any non-local step (a scheduling point, a block, an ordinary spend, a lock release, the
thread's exit) a thread that ran ahead waits, keeping its CPU, until the machine's time reaches
its clock (``_catch_up``, no step): non-local steps happen in time order, and a lock held
through local steps is released at its holder's clock.  Virtual time stays parallel: two CPUs
busy for 1 ms each end at 1 ms, not 2.  Run-ahead depends only on the run's state, so it is
as deterministic as the rest.

Replay checks the choice sets
-----------------------------
A decision is recorded as (label, number of options, choice); a strict replay that meets
another number stops with "replay drift".  Edited model code can also offer as many options
among *other* actors, and the same choice then means another thread.  So the candidate set
carries a fingerprint, kept in step with the set (``_runqueue``), and every decision folds it
(or the tied timers' one) into a digest recorded every 64 decisions and at the end
(``RunResult.choices``, carried by tokens).  A strict replay with ``expect_choices`` compares
them and reports a drift within 64 decisions of where the runs part.

A wrong declaration must not silently drop interleavings: while a thread runs ahead, waking
another thread, spawning, raising an interrupt, hotplugging a CPU, or touching another CPU's
PCP (checked by the PCP) is a ``ModelError`` that names the step (``check_local``).

Ctrl-C and the run guard
------------------------
An exception from model code ends the run as ``error``, except an *interrupt*
(``KeyboardInterrupt``, ``SystemExit``): that ends the run at once and :meth:`Engine.run`
re-raises it, bare, once every actor has unwound; no result is made, so nothing can record an
interrupted run as a model error.

Where the interrupt lands matters.  Raised inside the engine's baton passing or inside trio, it
would leave a task rescheduled twice or a nursery half closed (trio then reports an internal
error).  So, like trio, the engine marks its own critical code KI-protected
(``trio.lowlevel.enable_ki_protection``: a mark on the code object, free at run time) and runs
model code unprotected.  During a run (main thread only) the engine's own SIGINT handler raises
``KeyboardInterrupt`` at once in model code, and in protected code asks the run to stop at its
next step instead (a second Ctrl-C while that request is pending raises anyway, outside trio).
Unlike trio's own handler, whose deferred delivery waits for the main task's next checkpoint,
this stops a run whose one actor never yields to trio.

``run_timeout_s`` arms a wall-clock guard for runs that stop taking steps (``while True:
pass`` in a design): ``ITIMER_REAL`` ticks four times per timeout, and when ``step`` and
``now`` have not moved for the whole timeout the SIGALRM handler raises :class:`RunTimeout` in
the model code that spins; the run ends as ``error``, "no scheduling point for N s in
<actor>".  It reads the run's progress, never writes it, so it changes no decision and no
trace: it can only fire on a hang.  It stands aside where it cannot work: off the main thread
(signals are delivered there only), without ``setitimer`` (Windows), and when SIGALRM or
``ITIMER_REAL`` is already in use (pytest-timeout's signal method, an outer guard).  A hang
inside protected code (an oracle's step hook, the scheduler) is stopped at the next step, or,
if none comes, by the next tick raising wherever it lands outside trio.
"""

from __future__ import annotations

import contextvars
import os
import sysconfig
import traceback
import types
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, Protocol, TypeVar, cast

import attrs
import trio
from trio.lowlevel import (
    current_task,
    enable_ki_protection,
    reschedule,
    wait_task_rescheduled,
)

from ._actor import INHERIT, Actor, ActorState
from ._baton import _SWITCH, BatonMixin, RunOver, _abort, _call_model
from ._clock import ClockMixin, _Sleep
from ._errors import ModelError, ReplayDrift
from ._guard import _INTERRUPTS, GuardMixin, RunTimeout, _interrupt_of
from ._nursery import EngineNursery
from ._result import RunResult, RunStatistics
from ._runqueue import CHOICE_MARK, RunQueueMixin, actor_fp
from ._time import TimerHeap
from ._values import Outcome, Violation
from ._waitgraph import build_wait_graph

__all__ = ["INHERIT", "Engine", "RunOver", "RunTimeout", "Waitable", "current_engine"]

_MARK_MASK = CHOICE_MARK - 1  # a choice at a decision index that is a multiple of it is marked

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)

RUNNABLE = ActorState.RUNNABLE
BLOCKED = ActorState.BLOCKED
DONE = ActorState.DONE

_TRIO_DIR = os.path.dirname(trio.__file__)

_current: contextvars.ContextVar[Engine] = contextvars.ContextVar("pcptrio_engine")


def current_engine() -> Engine:
    """The engine running the calling actor (set for every task of a run)."""
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("not inside a pcptrio run") from None


class Waitable(Protocol):
    """Anything an actor can block on; it names itself and who holds it (wait-for graph)."""

    @property
    def wait_name(self) -> str: ...

    def wait_holders(self) -> Sequence[Actor | Waitable]: ...


_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NOT_USER = (
    _PKG_DIR + os.sep,
    os.path.dirname(os.path.abspath(trio.__file__)) + os.sep,
    sysconfig.get_paths()["stdlib"] + os.sep,
)


def _user_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    """The frames of ``exc`` that are the user's code (a design, a scenario hook), not
    pcptrio's, trio's or the standard library's."""
    return [
        fs
        for fs in traceback.extract_tb(exc.__traceback__)
        if not os.path.abspath(fs.filename).startswith(_NOT_USER)
    ]


def _user_traceback(frames: list[traceback.FrameSummary]) -> str:
    """The traceback through the user's ``frames`` only ("" if none)."""
    if not frames:
        return ""
    return "Traceback (your code):\n" + "".join(traceback.format_list(frames))


def _first_leaf(exc: BaseException, kind: type[E]) -> E | None:
    """``exc`` itself, or the first exception of type ``kind`` inside the exception groups
    trio nurseries wrap errors in (a model error raised inside an engine nursery)."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_leaf(inner, kind)
            if found is not None:
                return found
        return None
    return exc if isinstance(exc, kind) else None


@types.coroutine
def _ready() -> Generator[Any, Any, None]:
    yield from ()


# An awaitable that is done at once, however often it is awaited: an exhausted generator
# marked as a coroutine.  ``await _READY`` runs no Python code (an object with an
# ``__await__`` method would cost a call per await; this is on every page operation).
_READY: Awaitable[None] = _ready()
next(cast(Generator[Any, Any, None], _READY), None)


class Engine(BatonMixin, RunQueueMixin, ClockMixin, GuardMixin):
    """One deterministic run of simulated actors on ``cpus`` CPUs.

    Example::

        engine = Engine(cpus=2, scheduler=RandomScheduler(seed=1))

        async def main() -> None:
            async with engine.open_nursery() as n:
                n.start_soon(worker, name="w0", cpu=0)
                n.start_soon(worker, name="w1", cpu=1)

        result = trio.run(engine.run, main)
        print(result.outcome, result.trace_sha256)
    """

    # ------------------------------------------------------------------ model-facing API

    @property
    def current(self) -> Actor:
        """The actor taking the current step."""
        a = self._cur
        if a is None:
            raise RuntimeError("no actor is running (timer callback or outside a run)")
        return a

    @property
    def current_or_none(self) -> Actor | None:
        return self._cur

    @property
    def nr_cpus(self) -> int:
        return len(self.cpus)

    def smp_processor_id(self) -> int:
        """The CPU the current actor runs on (``smp_processor_id()``)."""
        c = self.current.cpu
        if c is None:  # pragma: no cover - the running actor always occupies a CPU
            raise ModelError(f"{self.current.name} runs without a CPU")
        return c

    # A generator-based coroutine (``types.coroutine``), not ``async def``: awaiting it is
    # one frame, and a switch yields straight to the CPU task (the hottest path there is).
    @enable_ki_protection
    @types.coroutine
    def point(self, event: str, **fields: Any) -> Generator[Any, Any, None]:
        """``await e.point(event, **fields)``: a scheduling point: record one trace event, then
        let the scheduler pick who goes on."""
        a = self._cur
        if self.finished or a is None:
            raise RunOver
        if self.now != self._front:
            # It ran ahead: a non-local step waits for the machine's time.
            yield from self._catch_up(a).__await__()
        # _trace_step(a, event, fields), inlined: the hottest path of every run.
        step = self.step = self.step + 1
        a.steps += 1
        if self._record:
            self.trace.append((step, self.now, a.name, a.cpu, event, fields))
        if self._log is not None:
            self._log.debug(event, step=step, t_ns=self.now, actor=a.name, cpu=a.cpu, **fields)
        if self._step_hooks or step >= self._limit:
            self._after_step()
        if a.bound is not None and a.cpu != a.bound and not (a.preempt_count or a.irq_disabled):
            self._take_off(a)  # rebound elsewhere while running: moves at a preemptible point
        cands = self._cands
        if a.cpu is None or not cands:
            yield from self._yield_blocked(a)
            return
        if len(cands) == 1:
            if a.bound is None and not (a.preempt_count or a.irq_disabled):
                # Alone, but it may still be moved elsewhere.
                yield from self._maybe_migrate(a).__await__()
            return
        # _pick(cands, a), inlined.
        self._choices += self._cand_fp
        decisions = self._decisions
        if not len(decisions) & _MARK_MASK:
            self._mark_choices()
        try:
            i = self.scheduler.pick_actor(cands, a, step)
        except ReplayDrift as exc:
            raise ReplayDrift(step, exc.expected, exc.got) from None
        n = len(cands)
        if not 0 <= i < n:
            raise ModelError(f"scheduler picked {i} of {n} candidates")
        decisions.append(("sched", n, i))
        nxt = cands[i]
        if nxt is not a:
            self.preemptions += 1
            self._preempted.append((len(decisions) - 1, step))
        else:
            if a.bound is None and not (a.preempt_count or a.irq_disabled):
                yield from self._maybe_migrate(a).__await__()
            return
        if nxt.cpu is None:
            here = a.cpu
            if nxt.bound == here and a.bound == here and not nxt.interrupt:
                # A context switch between two threads bound to this CPU: both are
                # preemptible (nxt waited, so the CPU was open), so every CPU stays as open
                # as it was and the candidate set is unchanged; only who waits changes.
                c = self.cpus[here]
                waiters = c.waiters
                del waiters[nxt]
                waiters[a] = None
                c.curr = nxt
                a.cpu = None
                nxt.cpu = nxt.last_cpu = here
            elif nxt.bound is not None and not nxt.interrupt:
                self._occupy(nxt, nxt.bound)
            else:
                self._switch_in(nxt)
        self.switches += 1
        self._cur = nxt
        yield _SWITCH  # to the CPU task, which runs nxt (here, or hands over to its CPU)
        if self.finished:
            raise RunOver

    # The one step path of point, block and spend: a step is traced, then (once the step's
    # effect on the actor's state is made) the oracles' step hooks and the budget run.

    def _trace_step(self, a: Actor, event: str, fields: dict[str, Any]) -> None:
        self.step += 1
        a.steps += 1
        if self._record:
            self.trace.append((self.step, self.now, a.name, a.cpu, event, fields))
        if self._log is not None:
            self._log.debug(event, step=self.step, t_ns=self.now, actor=a.name, cpu=a.cpu, **fields)

    def _after_step(self) -> None:
        if self._step_hooks:
            for hook in self._step_hooks:
                hook()
            if self.finished:
                raise RunOver
        if self.step >= self._limit:
            self._at_limit()
            raise RunOver

    def emit(self, event: str, **fields: Any) -> None:
        """Record a trace event that is not a scheduling point (same step as the last one)."""
        if self.finished:
            return
        a = self._cur
        name = a.name if a is not None else "-"
        cpu = a.cpu if a is not None else None
        if self._record:
            self.trace.append((self.step, self.now, name, cpu, event, fields))
        if self._log is not None:
            self._log.debug(event, step=self.step, t_ns=self.now, actor=name, cpu=cpu, **fields)

    def count(self, key: str, n: int = 1) -> None:
        """Add ``n`` to a named run counter (reported in the run statistics)."""
        self.counters[key] = self.counters.get(key, 0) + n

    def spawn(
        self,
        fn: Callable[..., Awaitable[Any]],
        *args: Any,
        name: str,
        cpu: int | None = INHERIT,
        daemon: bool = False,
        nursery: EngineNursery | None = None,
    ) -> Actor:
        """Start ``fn(*args)`` as a new actor; it runs when the scheduler first picks it.

        ``cpu`` binds it (``None``: unbound; default: like the spawning actor).  A daemon
        actor (a kworker, a rescuer) does not keep the run alive.
        """
        if self.finished:
            raise RunOver
        if self.now != self._front:
            self.check_local("spawn")
        if cpu is INHERIT:
            cpu = self._cur.bound if self._cur is not None else 0
        elif cpu is not None and not 0 <= cpu < len(self.cpus):
            self._check_cpu(cpu)
        if len(self.actors) >= self._actor_cap:
            self._count_spawn()
        a = Actor(self._unique(name), len(self.actors), cpu, daemon)
        self._launch(a, fn, args, nursery)
        if self._log is not None:
            self.emit("spawn", child=a.name, bound=cpu)
        elif self._record:  # emit("spawn", ...), inlined
            cur = self._cur
            self.trace.append(
                (self.step, self.now, cur.name if cur is not None else "-",
                 cur.cpu if cur is not None else None, "spawn", {"child": a.name, "bound": cpu})
            )  # fmt: skip
        return a

    def raise_irq(
        self, cpu: int, fn: Callable[..., Awaitable[Any]], *args: Any, name: str
    ) -> Actor:
        """Queue an interrupt on ``cpu``: it starts when that CPU has IRQs enabled and runs
        to completion on top of whatever ran there."""
        if self.finished:
            raise RunOver
        self.check_local("raise_irq")
        self._check_cpu(cpu)
        self._count_spawn()
        a = Actor(self._unique(name), len(self.actors), cpu, daemon=False, interrupt=True)
        a.preempt_count = a.irq_disabled = 1  # hardirq context
        self.cpus[cpu].pending_irqs.append(a)
        self._launch(a, fn, args, None)
        self.emit("irq_raise", target=cpu, handler=a.name)
        return a

    def open_nursery(self) -> EngineNursery:
        """``async with engine.open_nursery() as n: n.start_soon(fn, name=...)``.

        The nursery's exit waits, through the engine, until every child has returned.
        """
        return EngineNursery(self)

    # Generator-based coroutines (``types.coroutine``), like point: block and the wait it
    # shares with spend are two frames, and the switch yields straight to the CPU task.
    @enable_ki_protection
    @types.coroutine
    def block(
        self, on: Waitable, event: str = "block", *, holds_cpu: bool = False, **fields: Any
    ) -> Generator[Any, Any, Any]:
        """Park the current actor until :meth:`wake` is called for it; returns the wake value.

        ``holds_cpu``: the actor keeps its CPU while waiting (a spinning lock waiter, a
        busy loop), so nothing else runs there unless it is preemptible.  Otherwise it sleeps:
        that is a context switch, forbidden with preemption or IRQs disabled.
        """
        a = self._cur
        if self.finished or a is None:
            raise RunOver
        if not holds_cpu and (a.preempt_count or a.irq_disabled):
            raise ModelError(
                f"BUG: scheduling while atomic: {a.name} sleeps on {on.wait_name} with "
                f"preempt_count={a.preempt_count} irqs_disabled={a.irq_disabled}"
                + (" in interrupt context" if a.interrupt else "")
            )
        if self.now != self._front:
            yield from self._catch_up(a).__await__()
        fields["on"] = on.wait_name
        return (yield from self._wait(a, on, event, holds_cpu, fields))

    @enable_ki_protection
    @types.coroutine
    def _wait(
        self, a: Actor, on: Waitable, event: str, holds_cpu: bool, fields: dict[str, Any]
    ) -> Generator[Any, Any, Any]:
        """The step that blocks ``a`` (recorded at its clock) and the wait itself."""
        self._trace_step(a, event, fields)
        a.wake_value = None
        a.waiting_on = on
        a.blocked_since = self.now
        self._set_blocked(a, holds_cpu)
        # Invariant: slept iff on_sleep ran for this wait (a busy or spinning wait is not a
        # sleep, even if the actor is later preempted off its CPU).
        a.slept = not holds_cpu
        if a.slept and a.on_sleep is not None:
            a.on_sleep(a)
        if self._step_hooks or self.step >= self._limit:
            self._after_step()
        self.now = self._front
        yield from self._yield_blocked(a)
        return a.wake_value

    def wake(self, a: Actor, value: Any = None) -> bool:
        """Make a blocked actor runnable again; returns False if it was not blocked."""
        if a.state is not BLOCKED or self.finished:
            return False
        if self.now != self._front:
            self.check_local(f"waking {a.name}")
        a.waiting_on = None
        a.wake_value = value
        a.state = RUNNABLE
        slept = a.slept
        a.slept = False
        a.holds_cpu = False
        if a.cpu is None and not a.interrupted:
            self._add_waiter(a)
        self._refresh(a)
        if slept and a.on_wake is not None:
            a.on_wake(a)
        if slept and self._wake_hooks:
            for hook in self._wake_hooks:
                hook(a)
        return True

    # Not a coroutine: a CPU-local step, or a timed wait while nothing else can run, takes no
    # decision and no switch, so it is done here and returns a ready awaitable (no coroutine
    # made: this is twice on every page operation of a busy CPU).  Only a real wait makes one.
    @enable_ki_protection
    def spend(
        self, ns: int, event: str = "spend", *, local: bool = False, **fields: Any
    ) -> Awaitable[None]:
        """``await e.spend(ns, event, **fields)``: be busy for ``ns`` of virtual time, keeping
        the CPU (not a sleep: workqueue concurrency management still counts the actor as
        running).  The step is recorded as ``event`` with ``fields``; with ``ns <= 0`` a
        named event is a plain scheduling point.

        ``local``: the step touches only the running CPU's own state (a PCP fast-path
        operation on its own list, a workload's think time), so it may run ahead of the
        machine's time without a decision (module docstring, "Local clocks")."""
        if ns <= 0:
            return self.point(event, **fields) if event != "spend" else _READY
        a = self._cur
        if self.finished or a is None:
            raise RunOver
        until = self.now + ns
        if local:
            # It may run ahead of the machine's time: until <= _horizon(), with the horizon
            # cached by _horizon itself read here while still good.
            if self._waiting or len(self._cands) > 1 or self.timers.changes != self._hz_changes:
                fast = until <= self._horizon()
            else:
                fast = until <= self._hz
        elif self.now == self._front and self._alone_until(until):
            self._front = until  # nothing else happens meanwhile: time jumps with it
            fast = True
        else:
            fast = False
        if not fast:
            return self._spend_waiting(a, ns, event, local, fields)
        # A step, but no decision and no switch (_trace_step, inlined).
        self.step = step = self.step + 1
        a.steps += 1
        if self._record:
            self.trace.append((step, self.now, a.name, a.cpu, event, fields))
        if self._log is not None:
            self._log.debug(event, step=step, t_ns=self.now, actor=a.name, cpu=a.cpu, **fields)
        self.now = until
        if self._step_hooks or step >= self._limit:
            self._after_step()
        return _READY

    # Protected: a coroutine interrupted before its await is never awaited.
    @enable_ki_protection
    async def _spend_waiting(
        self, a: Actor, ns: int, event: str, local: bool, fields: dict[str, Any]
    ) -> None:
        """:meth:`spend` that waits for its time on a timer (others may run meanwhile)."""
        if not local and self.now != self._front:
            await self._catch_up(a)
            until = self.now + ns
            if self._alone_until(until):  # caught up, and now alone: as spend's fast path
                self._front = until
                self._trace_step(a, event, fields)
                self.now = until
                if self._step_hooks or self.step >= self._limit:
                    self._after_step()
                return
        until = self.now + ns
        self.timers.add_wake(until, a, local)
        try:
            await self._wait(a, _Sleep(until, True), event, True, fields)
        finally:
            if a.wake_seq:
                self.timers.cancel_wake(a)

    @enable_ki_protection
    async def sleep(self, ns: int) -> None:
        """Sleep for ``ns`` of virtual time (gives up the CPU)."""
        a = self.current
        until = self.now + max(ns, 0)
        self.timers.add_wake(until, a)
        try:
            await self.block(_Sleep(until, False), "sleep")
        finally:
            if a.wake_seq:
                self.timers.cancel_wake(a)

    def chance(self, label: str, p: float) -> bool:
        """A yes/no decision that is yes with probability ``p`` under random schedulers."""
        if p <= 0.0:
            return False
        if p >= 1.0:
            return True
        # _decide(label, 2, (1 - p, p)), through the scheduler's coin (model hot paths).
        try:
            i = self.scheduler.coin(label, p)
        except ReplayDrift as exc:
            raise ReplayDrift(self.step, exc.expected, exc.got) from None
        if i not in (0, 1):
            raise ModelError(f"scheduler chose {i} of 2 for {label!r}")
        self._decisions.append((label, 2, i))
        return i == 1

    def choose(self, label: str, options: Sequence[T]) -> T:
        """One of ``options``, chosen by the scheduler and recorded."""
        n = len(options)
        if n == 0:
            raise ValueError(f"choose({label!r}) needs at least one option")
        return options[0] if n == 1 else options[self._decide(label, n, None)]

    def need_resched(self) -> bool:
        """Whether something may want the current actor's CPU: an interrupt pending there, or
        any runnable actor waiting for a CPU.  (Conservative: a waiter bound elsewhere also
        counts; the point it causes is harmless.)"""
        a = self._cur
        if a is None or a.cpu is None:
            return False
        return self._waiting > 0 or bool(self.cpus[a.cpu].pending_irqs)

    def preempt_point(self, event: str = "preempt_point") -> Awaitable[None]:
        """``await e.preempt_point()``: a scheduling point only if some thread waits for a CPU
        (a pending interrupt included): what ``preempt_enable()`` and ``local_irq_restore()``
        do in the kernel.  When nothing waits, the awaitable is a ready one (no coroutine is
        made: this is on every page operation)."""
        if self._waiting:
            return self.point(event)
        return _READY

    # CPU state of the current actor --------------------------------------------------

    # An actor's atomic section (preemption or IRQs off) starts when both counts leave 0 and
    # ends when both are back at 0: ``atomic_since`` marks the start, the atomic hooks see
    # the end (irq-off-bound).  The hooks cost a list test only on the way out.

    def preempt_disable(self) -> None:
        a = self._cur or self.current  # (current raises outside a step)
        a.preempt_count = n = a.preempt_count + 1
        if n == 1 and not a.irq_disabled:  # its CPU just closed
            a.atomic_since = self.now
            if self._waiting:
                self._cpu_changed(a.cpu)

    def preempt_enable(self) -> None:
        a = self._cur or self.current  # (current raises outside a step)
        if a.preempt_count <= 0:
            raise ModelError(f"{a.name}: preempt_enable() without preempt_disable()")
        a.preempt_count = n = a.preempt_count - 1
        if n == 0 and not a.irq_disabled:  # its CPU just opened
            if self._atomic_hooks:
                self._atomic_end(a)
            if self._waiting:
                self._cpu_changed(a.cpu)

    def local_irq_save(self) -> int:
        """Disable local IRQs; returns the previous nesting depth (``flags``)."""
        a = self._cur or self.current  # (current raises outside a step)
        flags = a.irq_disabled
        a.irq_disabled = flags + 1
        if not flags:  # IRQs just went off here (and maybe preemption)
            a.irq_off_since = self.now
            if not a.preempt_count:
                a.atomic_since = self.now
            if self._waiting:
                self._cpu_changed(a.cpu)
        return flags

    def local_irq_restore(self, flags: int) -> None:
        a = self._cur or self.current  # (current raises outside a step)
        if a.irq_disabled != flags + 1:
            raise ModelError(
                f"{a.name}: local_irq_restore({flags}) does not match depth {a.irq_disabled}"
            )
        a.irq_disabled = flags
        if not flags:  # IRQs just came back on here
            if self._atomic_hooks and not a.preempt_count:
                self._atomic_end(a)
            if self._waiting:
                self._cpu_changed(a.cpu)

    def add_atomic_hook(self, hook: Callable[[Actor, int], None]) -> None:
        """Call ``hook(actor, duration_ns)`` each time an actor's atomic section ends: it ran
        with preemption or IRQs off (a spinlock held, a hardirq handler) for ``duration_ns``
        of its virtual time, from ``actor.atomic_since``."""
        self._atomic_hooks.append(hook)

    def _atomic_end(self, a: Actor) -> None:
        d = self.now - a.atomic_since
        for hook in self._atomic_hooks:
            hook(a, d)

    # CPUs ----------------------------------------------------------------------------

    def cpu_online(self, cpu: int) -> bool:
        return self.cpus[cpu].online

    def online_cpus(self) -> list[int]:
        return [c.id for c in self.cpus if c.online]

    def set_cpu_online(self, cpu: int, online: bool) -> None:
        """Mark a CPU online or offline.  Whatever ran there is taken off it; actors bound to
        an offline CPU do not run until it is back or they are rebound (:meth:`bind`)."""
        c = self.cpus[cpu]
        if c.online == online:
            return
        self.check_local("CPU hotplug")
        if not online:
            if c.irq_stack or (c.curr is not None and c.curr.interrupt):
                raise ModelError(f"CPU{cpu} goes offline inside an interrupt")
            if c.curr is not None:
                self._take_off(c.curr)
        c.online = online
        self._cpu_changed(cpu)
        self.emit("cpu_online" if online else "cpu_offline", target=cpu)

    def bind(self, a: Actor, cpu: int | None) -> None:
        """Rebind ``a`` to ``cpu`` (``None``: unbound).  It leaves a CPU it may no longer use."""
        self._check_cpu(cpu)
        waiter = self._drop_waiter(a)
        a.bound = cpu
        if waiter:
            self._add_waiter(a)
        # Like set_cpus_allowed_ptr(): the move goes through the stopper, which cannot run
        # while the actor has preemption or IRQs off; it then happens at a preemptible point.
        if (
            a.cpu is not None
            and cpu is not None
            and a.cpu != cpu
            and a is not self._cur
            and not (a.preempt_count or a.irq_disabled)
        ):
            self._take_off(a)
        self._refresh(a)

    # Hooks for oracles -----------------------------------------------------------------

    def add_step_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` after every step (scheduling point or block; keep it O(1))."""
        self._step_hooks.append(hook)

    def add_wake_hook(self, hook: Callable[[Actor], None]) -> None:
        """Call ``hook(actor)`` whenever a sleeping actor is woken (an observer: it must not
        change the run)."""
        self._wake_hooks.append(hook)

    def add_finish_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` once when a run ends normally (``ok``), before the result is made;
        it may still report a violation."""
        self._finish_hooks.append(hook)

    def report_violation(self, v: Violation) -> None:
        """End the run with outcome ``violation`` (the first one reported wins)."""
        if self.finished:
            return
        if not v.step and not v.t_ns:
            v = attrs.evolve(v, step=self.step, t_ns=self.now)
        self.violation = v
        self._finish(Outcome.VIOLATION)

    # ------------------------------------------------------------------ running a run

    @enable_ki_protection
    async def run(self, main: Callable[..., Awaitable[Any]], *args: Any, cpu: int = 0) -> RunResult:
        """Run ``main(*args)`` as actor ``main`` bound to ``cpu`` until every non-daemon actor
        has returned, or the run ends otherwise.  Call it from inside ``trio.run`` (or a
        pytest-trio test); one engine runs once.

        A ``KeyboardInterrupt`` or ``SystemExit`` (Ctrl-C, ``sys.exit()`` in model code) ends
        the run and is raised from here, bare, once every actor has unwound."""
        if self._ran:
            raise RuntimeError("an Engine runs only once; make a new one")
        self._ran = True
        token = _current.set(self)
        unguard = self._guard()
        try:
            self.scheduler.start_run()
            try:
                await self._run_root(main, args, cpu)
            finally:
                self._unwind_all()
                self.scheduler.end_run(self.step)
            want = self.expect_choices
            if (
                want
                and len(want) == len(self._choice_marks) + 1
                and want[-1] != self._choices & 0xFFFFFFFF
                and self.outcome is not Outcome.ERROR
            ):
                self.error = (
                    "replay drift at the end of the run: the candidates differed from the "
                    "recording (with the same numbers of options)"
                )
                self.outcome = Outcome.ERROR
                self.violation = None
        finally:
            unguard()
            _current.reset(token)
            self._teardown()
        if isinstance(self._stop, _INTERRUPTS):
            raise self._stop from None
        return self._result()

    def _teardown(self) -> None:
        """Drop what only a running engine needs, so a finished run leaves few reference
        cycles for the collector: the CPU tasks (whose contexts hold the engine), the hooks
        (oracle closures hold the machine, which holds the engine), the timers (callbacks
        hold the machine), and each thread's links to its nursery and its waits.  What
        reports read after a run (actors, their names, steps and kernel state, the trace,
        counters) stays."""
        for c in self.cpus:
            c.task = None
            c.waiters.clear()
            c.pending_irqs.clear()
        self._runner = None
        self._root = None
        self._step_hooks = []
        self._wake_hooks = []
        self._finish_hooks = []
        self._atomic_hooks = []
        self.timers = TimerHeap()
        self._due = []
        self._unbound = {}
        for a in self.actors:  # what each one waits on stays: the wait-for graph after a run
            a.nursery = None
            a.coro = None
            a.on_sleep = a.on_wake = None

    @enable_ki_protection
    async def _run_root(
        self, main: Callable[..., Awaitable[Any]], args: tuple[Any, ...], cpu: int
    ) -> None:
        try:
            async with trio.open_nursery() as root:
                self._root = root
                self._runner = current_task()
                try:
                    self.spawn(main, *args, name="main", cpu=cpu)
                    try:
                        nxt = self._next_after(None)
                    except ReplayDrift as exc:
                        self.error = str(exc)
                        self._finish(Outcome.ERROR)
                        nxt = None
                    if nxt is not None:
                        self.switches += 1
                        self._cur = nxt
                        self._pass_baton(self._host_of(nxt, 0))
                    if not self.finished:
                        self._runner_parked = True
                        await wait_task_rescheduled(_abort)
                except BaseException as exc:
                    # Not woken by _finish: an interrupt trio delivered to the main task, a
                    # cancellation from outside, a hang in a timer callback run from here.
                    self._runner_parked = False
                    if _interrupt_of(exc) is None and _first_leaf(exc, RunTimeout) is None:
                        self.finished = True  # an actor still to run sees it and unwinds
                        raise
                    self._crashed(self._cur, exc)
                root.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # An interrupt trio delivered while the nursery closed: it ends the run all the same.
            stop = _interrupt_of(group)
            if stop is None:
                raise
            self._crashed(None, stop)

    # ------------------------------------------------------------------ internals

    def _unique(self, name: str) -> str:
        n = self._names.get(name, 0) + 1
        self._names[name] = n
        return name if n == 1 else f"{name}~{n}"

    def _check_cpu(self, cpu: int | None) -> None:
        if cpu is not None and not 0 <= cpu < len(self.cpus):
            raise ValueError(f"CPU {cpu} does not exist (machine has {len(self.cpus)})")

    # Protected: trio's start_soon is not, and an interrupt inside it can leave a task made
    # but never scheduled (its nursery then waits for it forever).
    @enable_ki_protection
    def _launch(
        self,
        a: Actor,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        nursery: EngineNursery | None,
    ) -> None:
        if self._root is None:
            raise RuntimeError("spawn() needs a running engine (inside Engine.run)")
        self.actors.append(a)
        a.state = RUNNABLE
        a.fp = actor_fp(a.seq)
        self._add_waiter(a)
        self._refresh(a)
        if not a.daemon:
            self._live += 1
        if nursery is not None:
            a.nursery = nursery
            nursery.children.append(a)
        # Started by the first send of the CPU task it is first picked on.
        a.coro = _call_model(self, fn, args)

    @enable_ki_protection
    def _crashed(self, a: Actor | None, exc: BaseException) -> None:
        """``exc`` escaped model code run by ``a`` (None: by the engine itself): the run ends.
        An interrupt is kept for :meth:`run` to re-raise, even once the run is over; anything
        else, a RunTimeout included, is the run's error unless the run ended first."""
        stop = _interrupt_of(exc)
        if stop is not None:
            if not isinstance(self._stop, _INTERRUPTS):
                self._stop = stop
                self._limit = 0
            if not self.finished:
                self.error = "interrupted"
                self._finish(Outcome.ERROR)
            return
        if self.finished:
            return
        drift = _first_leaf(exc, ReplayDrift)
        if drift is not None:
            self.error = str(drift)
        else:
            leaf = _first_leaf(exc, BaseException) or exc
            # The user's frames when their code raised; the whole story when the model did.
            frames = _user_frames(leaf)
            text = _user_traceback(frames) or "".join(traceback.format_exception(exc))
            at = (
                f" (at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})"
                if frames
                else ""
            )
            name = a.name if a is not None else "the engine"
            head = (
                str(leaf)
                if isinstance(leaf, RunTimeout)
                else f"{name} raised {type(leaf).__name__}: {leaf}"
            )
            self.error = f"{head}{at}\n{text}"
        self._finish(Outcome.ERROR)

    @enable_ki_protection
    def _exit(self, a: Actor) -> None:
        if self._log is not None:
            self.emit("exit")
        elif self._record:  # emit("exit"), inlined
            cur = self._cur
            self.trace.append(
                (self.step, self.now, cur.name if cur is not None else "-",
                 cur.cpu if cur is not None else None, "exit", {})
            )  # fmt: skip
        if a.interrupt and self._atomic_hooks:  # the end of a hardirq handler's section
            self._atomic_end(a)
        if a.cpu is None:  # (the exiting thread runs: it waits for no CPU)
            self._drop_waiter(a)
        a.state = DONE
        self._refresh(a)
        self._release_cpu(a)
        if not a.daemon:
            self._live -= 1
        n = a.nursery
        if n is not None:
            n.done += 1
            parent = n.parent
            if n.joining and n.done == len(n.children) and parent is not None:
                self.wake(parent)
        if self._live == 0:
            self._cur = None
            self._run_finish_hooks()
            self._finish(self.outcome or Outcome.OK)
            return
        nxt = self._next_after(a)
        if nxt is not None:
            self.switches += 1
            self._cur = nxt

    def _run_finish_hooks(self) -> None:
        for hook in self._finish_hooks:
            hook()
            if self.finished:
                return

    # ------------------------------------------------------------------ CPU tasks, the baton

    def _next_after(self, prev: Actor | None) -> Actor | None:
        """The actor to run after ``prev`` stopped (blocked or exited), moving time forward
        while nobody can run.  ``None`` when the run is over."""
        self._cur = None
        if self.now != self._front:  # it stopped while ahead (it crashed, or the run ended)
            self._latest = max(self._latest, self.now)
            self.now = self._front
        while not self.finished:
            if self._stop is not None:  # a signal asked the run to stop (module docstring)
                self._at_limit()
                return None
            cands = self._cands
            if cands:
                nxt = cands[0] if len(cands) == 1 else self._pick(cands, None)
                if nxt.cpu is None:
                    self._switch_in(nxt)
                return nxt
            self._advance_time()
        return None

    def _pick(self, cands: list[Actor], cur: Actor | None) -> Actor:
        """The scheduler's pick among ``cands`` (``cur`` is running), recorded: the decision,
        a preemption if it displaces ``cur``, and the choice set's fingerprint."""
        self._choices += self._cand_fp  # _note_choice(), inlined: on every sched decision
        if not len(self._decisions) & _MARK_MASK:
            self._mark_choices()
        try:
            i = self.scheduler.pick_actor(cands, cur, self.step)
        except ReplayDrift as exc:
            raise ReplayDrift(self.step, exc.expected, exc.got) from None
        n = len(cands)
        if not 0 <= i < n:
            raise ModelError(f"scheduler picked {i} of {n} candidates")
        self._decisions.append(("sched", n, i))
        nxt = cands[i]
        if cur is not None and nxt is not cur:
            self.preemptions += 1
            self._preempted.append((len(self._decisions) - 1, self.step))
        return nxt

    def _note_choice(self, fp: int) -> None:
        """A decision (the next one recorded) among a set of fingerprint ``fp``: the
        candidates, or the tied timers."""
        self._choices += fp
        if not len(self._decisions) & _MARK_MASK:
            self._mark_choices()

    def _mark_choices(self) -> None:
        """Record the choice-set digest; in a strict replay, compare it with the recording."""
        digest = self._choices & 0xFFFFFFFF
        marks = self._choice_marks
        marks.append(digest)
        want = self.expect_choices
        if want is not None and len(marks) < len(want) and want[len(marks) - 1] != digest:
            raise ReplayDrift(
                self.step,
                "the recorded candidates",
                f"other candidates (same numbers of options) within the last {CHOICE_MARK} "
                "decisions",
            )

    def _decide(self, label: str, n: int, weights: Sequence[float] | None) -> int:
        try:
            i = self.scheduler.choose(label, n, weights)
        except ReplayDrift as exc:
            raise ReplayDrift(self.step, exc.expected, exc.got) from None
        if not 0 <= i < n:
            raise ModelError(f"scheduler chose {i} of {n} for {label!r}")
        self._decisions.append((label, n, i))
        return i

    # ------------------------------------------------------------------ the candidate set
    #
    # ``_cands`` holds, in seq order, every runnable actor that may take the next step: one
    # that is ``curr`` somewhere; a waiter bound to an online CPU whose ``curr`` is
    # preemptible or absent; a pending interrupt of an online CPU whose ``curr`` has IRQs on;
    # an unbound waiter while some online CPU is open.  It is kept up to date at each change
    # that can move an actor in or out (:meth:`_refresh` for the actor, :meth:`_cpu_changed`
    # for the actors waiting on a CPU), so a step costs the same on 8 CPUs as on 1024.

    # ------------------------------------------------------------------ ending a run

    @enable_ki_protection
    def _finish(self, outcome: Outcome) -> None:
        if self.finished:
            return
        self.finished = True
        self.outcome = outcome
        self.now = max(self.now, self._latest)
        if self._runner_parked:
            self._runner_parked = False
            reschedule(self._runner)

    def _at_limit(self) -> None:
        """The step limit is reached: the budget, or a stop a signal handler asked for."""
        stop = self._stop
        if stop is None:
            self._finish_budget("steps")
            return
        self.error = str(stop) if isinstance(stop, RunTimeout) else "interrupted"
        self._finish(Outcome.ERROR)

    def _count_spawn(self) -> None:
        """A spawn is not a step, so the step budget alone cannot stop a runaway count of
        actors: each one counts against the step budget too (and against MAX_ACTORS)."""
        if len(self.actors) >= self._actor_cap:
            self._finish_budget("actors")
            raise RunOver

    def _finish_budget(self, what: str) -> None:
        self.budget = what
        self._finish(Outcome.BUDGET_EXHAUSTED)

    def _finish_deadlock(self) -> None:
        if self._live == 0:  # pragma: no cover - _exit finishes the run first
            self._finish(Outcome.OK)
            return
        graph = build_wait_graph(self.actors)
        stuck = [a.name for a in self.actors if a.state is not DONE and not a.daemon]
        kind = "cycle" if graph.cycles else "stall"
        head = (
            "circular wait: " + " -> ".join(graph.cycles[0])
            if graph.cycles
            else "nothing can run and no timer is pending; waiting: " + ", ".join(stuck)
        )
        self.violation = Violation(
            "deadlock",
            head,
            self.step,
            self.now,
            tuple(stuck),
            kind,
            {"graph": graph.to_json()},
            tuple(graph.cycles[0]) if graph.cycles else tuple(stuck),
        )
        self._finish(Outcome.DEADLOCK)

    # ------------------------------------------------------------------ signals during a run

    def _result(self) -> RunResult:
        per_actor = {a.name: a.steps for a in self.actors}
        stats = RunStatistics(
            steps=self.step,
            switches=self.switches,
            preemptions=self.preemptions,
            virtual_ns=self.now,
            decisions=len(self._decisions),
            actors=len(self.actors),
            per_actor_steps=per_actor,
            counters=dict(sorted(self.counters.items())),
        )
        return RunResult(
            outcome=self.outcome or Outcome.ERROR,
            violation=self.violation,
            error=self.error,
            budget=self.budget,
            decisions=tuple(self._decisions),
            choices=(*self._choice_marks, self._choices & 0xFFFFFFFF),
            preempted=tuple(self._preempted),
            trace=self.trace,
            stats=stats,
            scheduler=self.scheduler.spec(),
            wait_graph=(self.violation.details.get("graph") if self.violation else None),
        )
