"""CPU tasks and the baton: how the engine runs one simulated thread at a time on trio.

Each CPU is one trio task (``cpu<N>``) that drives the coroutines of the threads running on it
by hand; a thread suspends by yielding :data:`_SWITCH` up its await chain.  A switch on one CPU
is a coroutine switch; a hand-over between CPUs is one trio park/reschedule.  The engine's
module docstring tells the whole story; this module holds the mechanics.
"""

from __future__ import annotations

import inspect
import os
import types
from collections.abc import Awaitable, Callable, Generator
from types import FrameType
from typing import TYPE_CHECKING, Any

import trio
from trio.lowlevel import (
    Abort,
    checkpoint,
    current_task,
    disable_ki_protection,
    enable_ki_protection,
    reschedule,
    wait_task_rescheduled,
)

from ._actor import CPU, Actor, ActorState
from ._errors import ForeignBlockError
from ._state import EngineState
from ._values import Outcome

if TYPE_CHECKING:
    from ._engine import Engine

RUNNABLE = ActorState.RUNNABLE
BLOCKED = ActorState.BLOCKED
DONE = ActorState.DONE

_TRIO_DIR = os.path.dirname(trio.__file__)


class RunOver(BaseException):
    """Unwinds an actor once its run has ended.  Never escapes the engine."""


@disable_ki_protection
async def _call_model(e: Engine, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
    """Run an actor's function unprotected: Ctrl-C and the run guard land in model code.  A
    thread that ends ahead of the machine's time exits at its own clock (its exit wakes the
    nursery's parent: not a local step)."""
    await fn(*args)
    if e.now != e._front:
        await e._catch_up(e.current)


class _Switch:
    """What a thread's coroutine yields to the CPU task driving it: "the baton moved; look at
    ``engine._cur``".  Anything else it yields is a trio primitive the engine cannot see."""

    def __repr__(self) -> str:
        return "<pcptrio switch>"


_SWITCH = _Switch()


@types.coroutine
def _suspend() -> Generator[_Switch, None, None]:
    """Suspend the running thread; its CPU task takes over (the thread resumes when some CPU
    task sends into its coroutine again)."""
    yield _SWITCH


#: Thread switches a CPU task makes before it lets trio run a loop pass (a checkpoint): so a
#: long run without hand-overs between CPUs still sees cancellation and other trio tasks.
_BREATHE_EVERY = 4096


def _await_frames(coro: Any) -> list[FrameType]:
    """The frames of a suspended coroutine, outermost first, down its await chain."""
    out: list[FrameType] = []
    obj = coro
    while obj is not None:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)
        if frame is not None:
            out.append(frame)
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)
    return out


def _abort(_: Any) -> Abort:
    return Abort.SUCCEEDED


class BatonMixin(EngineState):
    """The CPU tasks and the baton (part of :class:`~pcptrio._core.Engine`)."""

    @staticmethod
    def _host_of(a: Actor, default: int) -> int:
        """The CPU task that runs ``a``'s next stretch: the CPU it occupies."""
        c = a.cpu
        return default if c is None else c

    @enable_ki_protection
    def _pass_baton(self, cpu: int) -> None:
        """Make CPU ``cpu``'s task the one trio runs next (the caller then parks or ends).  A
        CPU's task starts the first time it gets the baton, so a big machine whose CPUs are
        mostly idle costs nothing per idle CPU."""
        c = self.cpus[cpu]
        if c.parked:
            c.parked = False
            reschedule(c.task)  # type: ignore[arg-type]  # parked implies task is set
            return
        c.baton = True
        if not c.started:
            c.started = True
            assert self._root is not None
            self._root.start_soon(self._cpu_task, c, name=f"cpu{c.id}")

    async def _to_host(self, a: Actor) -> None:
        """``a`` goes on running, but on another CPU than the task driving it: hand over."""
        if a.cpu is not None and a.cpu != self._host:
            await _suspend()
            if self.finished:
                raise RunOver

    @enable_ki_protection
    async def _cpu_task(self, c: CPU) -> None:
        """The trio task of one CPU: while it holds the baton it drives the coroutines of the
        threads that run on this CPU, one after the other as the scheduler picks them, and
        hands the baton to another CPU's task when the next thread runs there."""
        c.task = current_task()
        try:
            while True:
                if c.baton:
                    c.baton = False
                else:
                    c.parked = True
                    await wait_task_rescheduled(_abort)
                if self.finished:
                    return
                host = await self._drive(c.id)
                if host is None:
                    return
                self._pass_baton(host)
        except trio.Cancelled:
            if self.finished:
                return
            self.finished = True  # cancelled from outside: every thread left unwinds
            raise

    @enable_ki_protection
    async def _drive(self, cid: int) -> int | None:
        """Run threads on CPU ``cid`` until the next one runs elsewhere (its CPU is returned)
        or the run is over (None)."""
        self._host = cid
        beat = 0
        while True:
            a = self._cur
            if a is None or self.finished:
                return None
            host = a.cpu
            if host is not None and host != cid:
                return host
            beat += 1
            if beat >= _BREATHE_EVERY:
                beat = 0
                await checkpoint()
                self._host = cid
                continue
            coro = a.coro
            try:
                y = coro.send(None)
            except StopIteration:
                a.coro = None
                if not self.finished:
                    try:  # picking who runs next can fail (a replay drift, a timer callback)
                        self._exit(a)
                    except BaseException as exc:
                        self._crashed(a, exc)
                continue
            except RunOver:
                a.coro = None
                continue
            except BaseException as exc:  # model code crashed or was interrupted: run ends
                a.coro = None
                self._crashed(a, exc)
                continue
            if y is not _SWITCH:
                self._foreign(a)

    @enable_ki_protection
    @types.coroutine
    def _yield_blocked(self, a: Actor) -> Generator[Any, Any, None]:
        """``a`` stopped (blocked): pick who runs next, moving time on while nobody can, and
        give the baton to it (``a`` itself, woken meanwhile, may simply go on)."""
        nxt = self._next_after(a)
        if nxt is None:
            raise RunOver
        self._cur = nxt
        if nxt is not a:
            self.switches += 1
        elif a.cpu is None or a.cpu == self._host:
            return
        yield _SWITCH
        if self.finished:
            raise RunOver

    @enable_ki_protection
    def _foreign(self, a: Actor) -> None:
        """``a``'s coroutine yielded something else than the engine's switch: it awaits a trio
        primitive.  The run ends as an error, and the coroutine unwinds here, in the trio
        task whose cancel scopes it may have entered."""
        frames = [
            f"{fr.f_code.co_filename}:{fr.f_lineno} in {fr.f_code.co_name}"
            for fr in _await_frames(a.coro)
            if not fr.f_code.co_filename.startswith(_TRIO_DIR)
        ]
        where = f" (awaiting at {frames[-1]})" if frames else ""
        err = ForeignBlockError(
            f"actor {a.name} blocked on a trio primitive the engine cannot see{where}; "
            "model code must wait through the engine (its locks, completions, wait queues, "
            "sleep) so the scheduler stays in control"
        )
        if not self.finished:
            self.error = str(err)
            self._finish(Outcome.ERROR)
        self._unwind(a)

    @enable_ki_protection
    def _unwind_all(self) -> None:
        """Unwind every thread left suspended when the run ended (its ``finally`` blocks run;
        any engine call raises RunOver) and close the ones never started, in spawn order."""
        for a in self.actors:
            if a.coro is not None:
                self._unwind(a)

    @enable_ki_protection
    def _unwind(self, a: Actor) -> None:
        coro = a.coro
        a.coro = None
        if coro is None:
            return
        if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            coro.close()
            return
        try:
            coro.throw(RunOver())
        except (RunOver, StopIteration):
            return
        except BaseException as exc:
            self._crashed(a, exc)  # once the run is over, only an interrupt is kept
            return
        try:  # it awaited again while unwinding (a trio primitive in a finally block)
            coro.close()
        except BaseException as exc:
            self._crashed(a, exc)
