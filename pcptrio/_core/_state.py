"""The engine's state, declared in one place.

:class:`~pcptrio._core.Engine` is assembled from parts, one concept per module: the CPU tasks
and the baton (``_baton``), the candidate set (``_runqueue``), time and timers (``_clock``),
signals during a run (``_guard``) and the model-facing API with the step path (``_engine``).
Every part reads and writes the fields set here; the methods one part calls in another are
declared at the end (for the type checker only), so each part can be read on its own.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

import trio

from ._actor import CPU, Actor
from ._schedulers import RandomScheduler, Scheduler
from ._time import Due, TimerHeap
from ._trace import TraceRecord
from ._values import Outcome, Violation

if TYPE_CHECKING:
    pass

#: Most actors (threads, interrupts) one run may create: a budget like steps and time.
MAX_ACTORS = 100_000

#: How far (virtual ns) a thread's CPU-local steps may run past the earliest pending local
#: wake-up of another thread (engine module docstring, "Local clocks").
LOOKAHEAD_NS = 20_000


class EngineState:
    """The fields of one run (see :class:`~pcptrio._core.Engine` for the arguments)."""

    def __init__(
        self,
        *,
        cpus: int = 1,
        scheduler: Scheduler | None = None,
        max_steps: int = 1_000_000,
        max_time_ns: int | None = None,
        logger: Any = None,
        record_trace: bool = True,
        run_timeout_s: float | None = None,
        lookahead_ns: int = LOOKAHEAD_NS,
    ) -> None:
        if cpus < 1:
            raise ValueError(f"a machine needs at least one CPU, got {cpus}")
        self.cpus: list[CPU] = [CPU(i) for i in range(cpus)]
        self.scheduler: Scheduler = scheduler if scheduler is not None else RandomScheduler(0)
        #: What ends the run at its next step instead of its budget: an interrupt or a
        #: RunTimeout that landed in protected code (module docstring).
        self._stop: BaseException | None = None
        # Invariant: _limit is max_steps, or 0 once _stop is set (the hot path tests one int).
        self._limit = max_steps
        self.max_steps = max_steps
        #: The run guard (module docstring): seconds without a step before the run ends as
        #: error; None or 0 for no guard.  Set it before :meth:`run`.
        self.run_timeout_s = run_timeout_s
        self._guard_on = False
        self._guard_mark: tuple[int, int] | None = None
        self._guard_still = 0
        self.max_time_ns = max_time_ns
        if lookahead_ns < 0:
            raise ValueError(f"lookahead_ns must be >= 0, got {lookahead_ns}")
        self.lookahead_ns = lookahead_ns
        #: The running thread's clock: the machine's time (``_front``, where the timers are)
        #: or, while it runs CPU-local steps ahead, later.
        self.now = 0
        self._front = 0
        self._latest = 0  # the latest clock a thread reached before it stopped running ahead
        self._hz = 0  # the last look-ahead limit, valid while timers.changes == _hz_changes
        self._hz_changes = -1
        self.step = 0
        self.actors: list[Actor] = []
        self.trace: list[TraceRecord] = []
        self.timers = TimerHeap()
        self.finished = False
        self.outcome: Outcome | None = None
        self.violation: Violation | None = None
        self.error: str | None = None
        self.budget: str | None = None
        self.switches = 0
        self.preemptions = 0
        self.counters: dict[str, int] = {}
        self._decisions: list[tuple[str, int, int]] = []
        #: (decision index, step) of every preemption: the sched decisions that switched
        #: away from an actor that could have gone on.
        self._preempted: list[tuple[int, int]] = []
        self._record = record_trace
        self._log = logger
        self._names: dict[str, int] = {}
        # The candidate set, maintained incrementally (see "The candidate set" below).
        self._cands: list[Actor] = []  # sorted by seq
        self._cand_keys: list[int] = []
        self._unbound: dict[Actor, None] = {}  # runnable unbound actors waiting for a CPU
        self._waiting = 0  # runnable actors that are off-CPU (and not interrupted)
        # The candidate set's fingerprint (sum of members' fp), kept with the set, and the
        # digest of the fingerprints at every sched decision so far (see _runqueue).
        self._cand_fp = 0
        self._choices = 0
        self._choice_marks: list[int] = []
        #: Recorded digests a strict replay must meet (set by the caller; None: no check).
        self.expect_choices: Sequence[int] | None = None
        self._n_open = 0  # online open CPUs, while _unbound is not empty (see _runqueue)
        self._cur: Actor | None = None
        self._live = 0  # non-daemon actors not DONE
        self._root: trio.Nursery | None = None
        self._ran = False
        self._runner: Any = None
        self._runner_parked = False
        self._host = 0  # the CPU whose task drives the running thread
        self._due: list[tuple[int, Due]] = []  # popped timer entries due now, not fired yet
        self._due_at = 0  # their deadline
        self._due_cancels = 0  # timers.cancels when _due was last checked
        self._due_fp = 0  # their fingerprint (the sum of _clock._due_fp), kept with the list
        self._step_hooks: list[Callable[[], None]] = []
        self._wake_hooks: list[Callable[[Actor], None]] = []
        self._finish_hooks: list[Callable[[], None]] = []
        self._atomic_hooks: list[Callable[[Actor, int], None]] = []

    @property
    def max_steps(self) -> int:
        """The step budget: a run reaching it ends as ``budget-exhausted``."""
        return self._max_steps

    @max_steps.setter
    def max_steps(self, n: int) -> None:
        self._max_steps = n
        # Most actors a run may create: the step budget, and at most MAX_ACTORS.
        self._actor_cap = min(n, MAX_ACTORS)
        if self._stop is None:
            self._limit = n

    if TYPE_CHECKING:  # implemented by the parts; declared here for the type checker

        def _exit(self, a: Actor) -> None: ...
        def _crashed(self, a: Actor | None, exc: BaseException) -> None: ...
        def _finish(self, outcome: Outcome) -> None: ...
        def _next_after(self, prev: Actor | None) -> Actor | None: ...
        def _decide(self, label: str, n: int, weights: Sequence[float] | None) -> int: ...
        def emit(self, event: str, **fields: Any) -> None: ...
        def wake(self, a: Actor, value: Any = None) -> bool: ...
        def _finish_deadlock(self) -> None: ...
        def _finish_budget(self, what: str) -> None: ...
        @property
        def current(self) -> Actor: ...
        # between the parts
        async def _to_host(self, a: Actor) -> None: ...
        @types.coroutine
        def _yield_blocked(self, a: Actor) -> Generator[Any, Any, None]: ...
        def _set_blocked(self, a: Actor, holds_cpu: bool) -> None: ...
        async def _catch_up(self, a: Actor) -> None: ...
        def _horizon(self) -> int: ...
        def _note_choice(self, fp: int) -> None: ...
