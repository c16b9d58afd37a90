"""Signals during a run: Ctrl-C and the run guard (engine module docstring, "Ctrl-C and
the run guard")."""

from __future__ import annotations

import math
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

import trio
from trio.lowlevel import (
    currently_ki_protected,
)

from ._actor import ActorState
from ._state import EngineState

if TYPE_CHECKING:
    pass

RUNNABLE = ActorState.RUNNABLE
BLOCKED = ActorState.BLOCKED
DONE = ActorState.DONE


class RunTimeout(BaseException):
    """Raised by the run guard into model code that took no scheduling point for the run's
    ``run_timeout_s`` (module docstring).  A BaseException, so a design's ``except Exception``
    cannot swallow it; it never escapes the engine: the run ends as ``error``."""


#: Ticks of the run guard per timeout: a hang is caught between 1 and 1.25 timeouts after
#: the last step.
_GUARD_TICKS = 4

#: Exceptions that end a run without being a model error; :meth:`Engine.run` re-raises them.
_INTERRUPTS = (KeyboardInterrupt, SystemExit)


_TRIO_DIR = os.path.dirname(trio.__file__)


def _interrupt_of(exc: BaseException) -> BaseException | None:
    """The KeyboardInterrupt or SystemExit ``exc`` is or carries (in exception groups)."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _interrupt_of(inner)
            if found is not None:
                return found
        return None
    return exc if isinstance(exc, _INTERRUPTS) else None


def _is_trio_sigint_handler(handler: Any) -> bool:
    return getattr(handler, "__module__", None) == "trio._core._ki"


def _in_trio(frame: FrameType | None) -> bool:
    return frame is not None and frame.f_code.co_filename.startswith(_TRIO_DIR)


def _nothing() -> None:
    return None


class GuardMixin(EngineState):
    """Signal handling during a run (part of :class:`~pcptrio._core.Engine`)."""

    def _guard(self) -> Callable[[], None]:
        """Install the run's SIGINT handler and arm the run guard, in the main thread only
        and only where nobody else uses them (module docstring); returns what undoes it."""
        if threading.current_thread() is not threading.main_thread():
            return _nothing
        prev_int = signal.getsignal(signal.SIGINT)
        t = self.run_timeout_s
        own_int = own_alarm = False

        def undo() -> None:
            # signal.signal() runs a pending handler first: ours, still in place, which is
            # inert once _guard_on is off (SIGALRM) or defers (SIGINT, protected here).
            if own_alarm:
                self._guard_on = False
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
            if own_int:
                signal.signal(signal.SIGINT, prev_int)

        try:
            if (
                t is not None
                and 0 < t < math.inf
                and hasattr(signal, "setitimer")
                and signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
                and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
            ):
                signal.signal(signal.SIGALRM, self._on_alarm)
                own_alarm = self._guard_on = True
                signal.setitimer(signal.ITIMER_REAL, t / _GUARD_TICKS, t / _GUARD_TICKS)
            if prev_int is signal.default_int_handler or _is_trio_sigint_handler(prev_int):
                signal.signal(signal.SIGINT, self._on_sigint)
                own_int = True
        except (ValueError, OSError):  # signals cannot be set here (a subinterpreter): none
            undo()
            return _nothing
        return undo

    def _request_stop(self, stop: BaseException) -> None:
        """End the run at its next step (or time advance) with ``stop``: what a handler does
        when the signal lands in protected code."""
        if not isinstance(self._stop, _INTERRUPTS):
            self._stop = stop
            self._limit = 0

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        """Ctrl-C during the run: KeyboardInterrupt in model code; in protected code, a stop
        at the next step (a second Ctrl-C while that is pending raises, outside trio)."""
        pending = isinstance(self._stop, _INTERRUPTS)
        if currently_ki_protected() and (not pending or _in_trio(frame)):
            self._request_stop(KeyboardInterrupt())
            return
        raise KeyboardInterrupt

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        """A tick of the run guard: after a whole timeout without a step or a time advance,
        RunTimeout in model code; in protected code a stop at the next step first, and at
        the next tick a RunTimeout wherever it lands outside trio."""
        if not self._guard_on or self.finished:
            return
        mark = (self.step, self.now)
        if mark != self._guard_mark:
            self._guard_mark = mark
            self._guard_still = 0
            return
        self._guard_still += 1
        if self._guard_still < _GUARD_TICKS or _in_trio(frame):
            return
        a = self._cur
        who = a.name if a is not None else "a timer callback"
        exc = RunTimeout(f"no scheduling point for {self.run_timeout_s:g} s in {who}")
        if currently_ki_protected() and self._stop is None:
            self._request_stop(exc)
            return
        raise exc
