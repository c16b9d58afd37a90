"""Worker pools and workers: the data, the concurrency-management rules, the list moves.

Per CPU there are two pools, normal and highpri (pool ids ``2*cpu`` and ``2*cpu + 1``, as the
kernel's dumps print them), plus one unbound pool.  A pool has a worklist, workers, an idle
list (LIFO) and ``nr_running``: the number of its workers that are running a work item and not
sleeping.  Concurrency management (v4.19 ``kernel/workqueue.c``):

===========================  ================================================
need_more_worker(pool)       worklist non-empty and nr_running == 0
keep_working(pool)           worklist non-empty and nr_running <= 1
may_start_working(pool)      nr_idle > 0
need_to_create_worker(pool)  need_more_worker and not may_start_working
===========================  ================================================

So a work item that stays runnable keeps ``nr_running`` at 1 and no other item of its pool
starts; one that sleeps (``wq_worker_sleeping``) drops it to 0 and the first idle worker is
woken.  A worker flagged NOT_RUNNING (PREP, CPU_INTENSIVE, UNBOUND, REBOUND) never counts.

Everything here runs under ``pool->lock`` in the kernel; the model treats each such critical
section as one atomic step (no scheduling point inside), which is sound because nothing in
the hazards depends on races inside the workqueue core itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ..._core import Actor, Engine, Timer, Waitable
from ._work import WorkStruct

if TYPE_CHECKING:
    from ._queue import PoolWorkqueue, Workqueue

__all__ = [
    "NOT_RUNNING",
    "POOL_DISASSOCIATED",
    "WORKER_CPU_INTENSIVE",
    "WORKER_DIE",
    "WORKER_IDLE",
    "WORKER_PREP",
    "WORKER_REBOUND",
    "WORKER_UNBOUND",
    "PoolStatistics",
    "Worker",
    "WorkerPool",
    "move_linked_works",
]

WORKER_DIE = 1 << 1
WORKER_IDLE = 1 << 2
WORKER_PREP = 1 << 3
WORKER_CPU_INTENSIVE = 1 << 6
WORKER_UNBOUND = 1 << 7
WORKER_REBOUND = 1 << 8
NOT_RUNNING = WORKER_PREP | WORKER_CPU_INTENSIVE | WORKER_UNBOUND | WORKER_REBOUND

POOL_MANAGER_ACTIVE = 1 << 0
POOL_DISASSOCIATED = 1 << 2


@attrs.define(eq=False, repr=False)
class Worker:
    """``struct worker``: a kworker or a rescuer."""

    pool: WorkerPool | None
    id: int
    name: str
    actor: Actor | None = None
    flags: int = 0
    current_work: WorkStruct | None = None
    current_pwq: PoolWorkqueue | None = None
    scheduled: list[WorkStruct] = attrs.field(factory=list)
    #: For a rescuer: the workqueue it rescues.
    rescue_wq: Workqueue | None = None
    sleeping_idle: bool = False
    #: A wait on the worker itself is its idle sleep, ``TASK_IDLE`` in the kernel (not
    #: uninterruptible: khungtaskd ignores it).
    idle = True

    @property
    def wait_name(self) -> str:
        return f"{self.name} idle"

    def wait_holders(self) -> Sequence[Actor | Waitable]:
        return ()

    @property
    def pid(self) -> int:
        return self.actor.pid if self.actor is not None else 0

    def __repr__(self) -> str:
        return f"<worker {self.name}>"


@attrs.frozen
class PoolStatistics:
    id: int
    cpu: int | None
    highpri: bool
    workers: int
    idle: int
    running: int
    pending: int
    executed: int
    creations: int
    creation_failures: int
    maydays: int
    rescued: int
    disassociated: bool


class WorkerPool:
    """``struct worker_pool``."""

    def __init__(self, engine: Engine, pool_id: int, cpu: int | None, highpri: bool) -> None:
        self.engine = engine
        self.id = pool_id
        self.cpu = cpu
        self.highpri = highpri
        self.flags = 0
        self.worklist: list[WorkStruct] = []
        self.workers: list[Worker] = []
        self.idle_list: list[Worker] = []  # index 0 = most recently idle (LIFO)
        self.nr_running = 0
        self.busy: dict[WorkStruct, Worker] = {}  # busy_hash
        self.watchdog_ts = 0
        self.manager: Worker | None = None
        self.mayday_timer: Timer | None = None
        self._next_id = 0
        self.executed = 0
        self.creations = 0
        self.creation_failures = 0
        self.maydays = 0
        self.rescued = 0

    def __repr__(self) -> str:
        return f"<pool {self.id} cpus={self.cpu}>"

    @property
    def wait_name(self) -> str:
        return f"pool {self.id} ({self.describe()})"

    def wait_holders(self) -> Sequence[Actor | Waitable]:
        """Who could run this pool's pending work: its workers (busy or managing)."""
        return [w.actor for w in self.workers if w.actor is not None and not w.sleeping_idle]

    def describe(self) -> str:
        cpus = "unbound" if self.cpu is None else f"cpus={self.cpu}"
        return f"{cpus} flags={self.flags:#x} nice={-20 if self.highpri else 0}"

    # ---------------------------------------------------------------- predicates

    @property
    def nr_workers(self) -> int:
        return len(self.workers)

    @property
    def nr_idle(self) -> int:
        return len(self.idle_list)

    @property
    def disassociated(self) -> bool:
        return bool(self.flags & POOL_DISASSOCIATED)

    @property
    def manager_active(self) -> bool:
        return self.manager is not None

    def need_more_worker(self) -> bool:
        return bool(self.worklist) and self.nr_running == 0

    def keep_working(self) -> bool:
        return bool(self.worklist) and self.nr_running <= 1

    def may_start_working(self) -> bool:
        return self.nr_idle > 0

    def need_to_create_worker(self) -> bool:
        return self.need_more_worker() and not self.may_start_working()

    # ---------------------------------------------------------------- worker state

    def next_worker_id(self) -> int:
        i = self._next_id
        self._next_id += 1
        return i

    def set_flags(self, w: Worker, flags: int) -> None:
        """``worker_set_flags``: entering NOT_RUNNING takes the worker out of nr_running."""
        if flags & NOT_RUNNING and not w.flags & NOT_RUNNING:
            self.nr_running -= 1
        w.flags |= flags

    def clr_flags(self, w: Worker, flags: int) -> None:
        """``worker_clr_flags``: leaving NOT_RUNNING puts the worker into nr_running."""
        old = w.flags
        w.flags &= ~flags
        if flags & NOT_RUNNING and old & NOT_RUNNING and not w.flags & NOT_RUNNING:
            self.nr_running += 1

    def enter_idle(self, w: Worker) -> None:
        w.flags |= WORKER_IDLE
        self.idle_list.insert(0, w)

    def leave_idle(self, w: Worker) -> None:
        if w.flags & WORKER_IDLE:
            w.flags &= ~WORKER_IDLE
            self.idle_list.remove(w)

    def first_idle_worker(self) -> Worker | None:
        return self.idle_list[0] if self.idle_list else None

    def wake_up_worker(self) -> None:
        """``wake_up_worker``: wake the first idle worker, if it sleeps."""
        w = self.first_idle_worker()
        if w is not None and w.sleeping_idle and w.actor is not None:
            self.engine.wake(w.actor)

    # scheduler hooks (engine on_sleep / on_wake of the worker's actor) ----------------

    def worker_sleeping(self, w: Worker) -> None:
        """``wq_worker_sleeping``: a running worker blocks."""
        if w.flags & NOT_RUNNING:
            return
        self.nr_running -= 1
        if self.nr_running == 0 and self.worklist:
            self.wake_up_worker()

    def worker_waking_up(self, w: Worker) -> None:
        """``wq_worker_waking_up``."""
        if not w.flags & NOT_RUNNING:
            self.nr_running += 1

    def statistics(self) -> PoolStatistics:
        return PoolStatistics(
            self.id,
            self.cpu,
            self.highpri,
            self.nr_workers,
            self.nr_idle,
            self.nr_running,
            len(self.worklist),
            self.executed,
            self.creations,
            self.creation_failures,
            self.maydays,
            self.rescued,
            self.disassociated,
        )

    def info(self) -> dict[str, Any]:
        return {"pool": self.id, "cpu": self.cpu, "highpri": self.highpri}


def move_linked_works(work: WorkStruct, head: list[WorkStruct]) -> None:
    """``move_linked_works``: move ``work`` and the works linked after it to ``head``."""
    src = work.entry
    assert src is not None
    i = src.index(work)
    while True:
        w = src.pop(i)
        w.entry = head
        head.append(w)
        if not w.linked or i >= len(src):
            break
