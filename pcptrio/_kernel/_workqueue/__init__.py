"""Workqueues (``kernel/workqueue.c`` as of v4.11–v4.19).

:class:`Workqueues` is the subsystem of one machine: the per-CPU pools (normal and highpri)
and the unbound pool, the system workqueues, ``alloc_workqueue``, the CPU hotplug callbacks,
freezing, the watchdog and statistics.  The pieces:

* ``_work``     work items, flush barriers, and their debug objects
                (``CONFIG_DEBUG_OBJECTS_WORK``: ``destroy_work_on_stack`` and friends)
* ``_pool``     pools, workers, concurrency management
* ``_queue``    workqueues, ``queue_work_on``, ``flush_work``, ``check_flush_dependency``
* ``_worker``   ``worker_thread``, the manager and worker creation, mayday, the rescuer
* ``_watchdog`` lockup detection and ``show_workqueue_state``

Not modelled: idle-worker reaping after ``IDLE_WORKER_TIMEOUT`` (300 s; no hazard depends on
it), ``flush_workqueue`` colours, ordered workqueues, NUMA-affine unbound pools.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._pool import (
    POOL_DISASSOCIATED,
    WORKER_REBOUND,
    WORKER_UNBOUND,
    PoolStatistics,
    Worker,
    WorkerPool,
)
from ._queue import (
    WQ_CPU_INTENSIVE,
    WQ_DFL_ACTIVE,
    WQ_FREEZABLE,
    WQ_HIGHPRI,
    WQ_MEM_RECLAIM,
    WQ_UNBOUND,
    PoolWorkqueue,
    Workqueue,
    activate_delayed,
    flush_work,
    queue_work_on,
)
from ._watchdog import arm_watchdog, show_workqueue_state
from ._work import (
    WorkFunc,
    WorkStruct,
    debug_check_no_obj_freed,
    destroy_work_on_stack,
)
from ._worker import (
    CREATE_COOLDOWN,
    MAYDAY_INITIAL_TIMEOUT,
    MAYDAY_INTERVAL,
    create_worker,
    spawn_worker,
    start_rescuer,
)

if TYPE_CHECKING:
    from .._machine import Machine

__all__ = [
    "CREATE_COOLDOWN",
    "MAYDAY_INITIAL_TIMEOUT",
    "MAYDAY_INTERVAL",
    "WQ_CPU_INTENSIVE",
    "WQ_DFL_ACTIVE",
    "WQ_FREEZABLE",
    "WQ_HIGHPRI",
    "WQ_MEM_RECLAIM",
    "WQ_UNBOUND",
    "PoolStatistics",
    "PoolWorkqueue",
    "WorkFunc",
    "WorkStruct",
    "Worker",
    "WorkerPool",
    "Workqueue",
    "WorkqueueStatistics",
    "Workqueues",
    "debug_check_no_obj_freed",
    "destroy_work_on_stack",
    "flush_work",
    "queue_work_on",
    "show_workqueue_state",
]


@attrs.frozen
class WorkqueueStatistics:
    pools: tuple[PoolStatistics, ...]
    maydays: int
    rescuer_runs: int
    creations: int
    creation_failures: int


class Workqueues:
    """The workqueue subsystem of one machine."""

    def __init__(self, m: Machine) -> None:
        self.m = m
        e = m.engine
        self.cpu_pools: list[tuple[WorkerPool, WorkerPool]] = [
            (WorkerPool(e, 2 * c, c, False), WorkerPool(e, 2 * c + 1, c, True))
            for c in range(m.nr_cpus)
        ]
        self.unbound_pool = WorkerPool(e, 2 * m.nr_cpus, None, False)
        # init_worker_pool(): POOL_DISASSOCIATED until bound to a CPU, which an unbound pool
        # never is, so its workers are WORKER_UNBOUND and never concurrency-managed.
        self.unbound_pool.flags |= POOL_DISASSOCIATED
        self.workqueues: list[Workqueue] = []
        self.system_wq: Workqueue | None = None
        self.system_highpri_wq: Workqueue | None = None
        self.system_unbound_wq: Workqueue | None = None
        self.mm_percpu_wq: Workqueue | None = None
        self.freezing = False

    def all_pools(self) -> list[WorkerPool]:
        out: list[WorkerPool] = []
        for normal, high in self.cpu_pools:
            out += [normal, high]
        out.append(self.unbound_pool)
        return out

    def init(self) -> None:
        """``workqueue_init``: one idle worker per pool of every online CPU (and the unbound
        pool), the system workqueues, the watchdog."""
        m = self.m
        for c, (normal, high) in enumerate(self.cpu_pools):
            if m.engine.cpu_online(c):
                spawn_worker(m, normal)
                spawn_worker(m, high)
        spawn_worker(m, self.unbound_pool)
        self.system_wq = self.alloc_workqueue("events", 0)
        self.system_highpri_wq = self.alloc_workqueue("events_highpri", WQ_HIGHPRI)
        self.system_unbound_wq = self.alloc_workqueue("events_unbound", WQ_UNBOUND)
        arm_watchdog(m)

    def init_mm_percpu_wq(self, *, freezable: bool = False) -> Workqueue:
        """``mm_percpu_wq = alloc_workqueue("mm_percpu_wq", WQ_MEM_RECLAIM, 0)`` (E7 as fixed by
        E8; with ``freezable``, E7 before E8: ``WQ_MEM_RECLAIM | WQ_FREEZABLE``)."""
        if self.mm_percpu_wq is None:
            flags = WQ_MEM_RECLAIM | (WQ_FREEZABLE if freezable else 0)
            self.mm_percpu_wq = self.alloc_workqueue("mm_percpu_wq", flags)
        return self.mm_percpu_wq

    def alloc_workqueue(self, name: str, flags: int, max_active: int = 0) -> Workqueue:
        """``alloc_workqueue``: per-CPU pwqs (or one unbound pwq) and, with WQ_MEM_RECLAIM,
        a rescuer thread."""
        if any(wq.name == name for wq in self.workqueues):
            raise ValueError(f"workqueue {name!r} exists already")
        wq = Workqueue(name, flags, max_active)
        if flags & WQ_UNBOUND:
            wq.unbound_pwq = PoolWorkqueue(wq, self.unbound_pool, wq.saved_max_active)
        else:
            for c, (normal, high) in enumerate(self.cpu_pools):
                pool = high if flags & WQ_HIGHPRI else normal
                wq.cpu_pwqs[c] = PoolWorkqueue(wq, pool, wq.saved_max_active)
        if flags & WQ_MEM_RECLAIM:
            start_rescuer(self.m, wq)
        if self.freezing and flags & WQ_FREEZABLE:
            self._freeze(wq)
        self.workqueues.append(wq)
        return wq

    # ------------------------------------------------------------------ hotplug

    async def prepare_cpu(self, cpu: int) -> bool:
        """``workqueue_prepare_cpu``: make sure each pool of ``cpu`` has a worker."""
        for pool in self.cpu_pools[cpu]:
            if pool.nr_workers == 0 and await create_worker(self.m, pool) is None:
                return False
        return True

    async def offline_cpu(self, cpu: int) -> None:
        """``workqueue_offline_cpu``, in the hotplug thread on the dying ``cpu``.

        With the ``highpri-work`` feature (v4.10 … v4.15) it queues ``wq_unbind_fn`` on
        ``cpu``'s ``system_highpri_wq`` and flushes it: the unbinding runs in a worker of that
        CPU's highpri pool, and ``cpu_down`` waits for it with the hotplug lock held.
        Otherwise (v4.16+) it calls ``unbind_workers`` itself."""
        m = self.m
        if m.features.wq_unbind == "highpri-work":
            assert self.system_highpri_wq is not None  # workqueue_init() ran at boot
            work = WorkStruct(
                _wq_unbind_fn, "wq_unbind_fn", f"unbind_work[{cpu}]", (self, cpu), on_stack=True
            )
            await m.queue_work_on(cpu, self.system_highpri_wq, work)
            await m.flush_work(work)
            destroy_work_on_stack(m, work)
            return
        self.unbind_workers(cpu)

    def unbind_workers(self, cpu: int) -> None:
        """``unbind_workers`` (``wq_unbind_fn`` in v4.10): the pools of ``cpu`` become
        DISASSOCIATED, their workers UNBOUND, concurrency management off."""
        m = self.m
        for pool in self.cpu_pools[cpu]:
            for w in pool.workers:
                w.flags |= WORKER_UNBOUND
            pool.flags |= POOL_DISASSOCIATED
            pool.nr_running = 0
            m.engine.emit("pool_disassociated", pool=pool.id)
            if pool.worklist:
                pool.wake_up_worker()

    async def online_cpu(self, cpu: int) -> None:
        """``workqueue_online_cpu`` → ``rebind_workers``."""
        m = self.m
        for pool in self.cpu_pools[cpu]:
            for w in pool.workers:
                if w.actor is not None:
                    m.engine.bind(w.actor, cpu)
                w.flags = (w.flags & ~WORKER_UNBOUND) | WORKER_REBOUND
            pool.flags &= ~POOL_DISASSOCIATED
            m.engine.emit("pool_rebound", pool=pool.id)
            for w in pool.idle_list:
                if w.sleeping_idle and w.actor is not None:
                    m.engine.wake(w.actor)

    # ------------------------------------------------------------------ freezing

    def _freeze(self, wq: Workqueue) -> None:
        wq.frozen = True
        for pwq in wq.pwqs():
            pwq.max_active = 0

    def freeze(self) -> None:
        """``freeze_workqueues_begin``: freezable workqueues run nothing new."""
        self.freezing = True
        for wq in self.workqueues:
            if wq.flags & WQ_FREEZABLE:
                self._freeze(wq)
        self.m.engine.emit("workqueues_frozen")

    def thaw(self) -> None:
        """``thaw_workqueues``."""
        self.freezing = False
        for wq in self.workqueues:
            if wq.frozen:
                wq.frozen = False
                for pwq in wq.pwqs():
                    pwq.max_active = wq.saved_max_active
                    activate_delayed(self.m, pwq)
        self.m.engine.emit("workqueues_thawed")

    def statistics(self) -> WorkqueueStatistics:
        pools = tuple(p.statistics() for p in self.all_pools())
        return WorkqueueStatistics(
            pools,
            sum(p.maydays for p in pools),
            self.m.engine.counters.get("rescuer_runs", 0),
            sum(p.creations for p in pools),
            sum(p.creation_failures for p in pools),
        )

    def dump(self) -> str:
        return show_workqueue_state(self.m)


async def _wq_unbind_fn(work: WorkStruct) -> None:
    """v4.10 ``wq_unbind_fn``: ``unbind_workers`` for the CPU it runs on."""
    wqs, cpu = work.data
    wqs.unbind_workers(cpu)
