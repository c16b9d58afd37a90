"""Workqueues, pool_workqueues, ``queue_work_on`` and ``flush_work``.

``queue_work_on(cpu, wq, work)`` (v4.19 ``__queue_work``):

* PENDING already set → return False, do nothing (both requests are served by one run);
* the pwq is the one of ``cpu``'s pool — **no online check**: a CPU that went offline has a
  disassociated pool whose workers run elsewhere;
* non-reentrancy: if the work still runs on another pool, it is queued there instead;
* below ``max_active`` it joins the pool's worklist (refreshing ``watchdog_ts`` if the list
  was empty), otherwise the pwq's delayed list; then ``nr_running == 0`` wakes an idle worker.

``flush_work(work)`` returns False at once if the work is idle (neither queued nor running);
otherwise it links a barrier right behind the work (behind a running work: at the head of its
worker's ``scheduled`` list) and waits for the barrier's completion, so it returns only after
the work's last queued instance has finished.  ``check_flush_dependency`` warns when a
reclaim-safe context (PF_MEMALLOC, or a WQ_MEM_RECLAIM worker) flushes a !WQ_MEM_RECLAIM work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ..._core import Completion
from .._task import task_of
from ._pool import WorkerPool, move_linked_works
from ._work import WorkStruct, debug_work_activate

if TYPE_CHECKING:
    from .._machine import Machine
    from ._pool import Worker

__all__ = [
    "WQ_CPU_INTENSIVE",
    "WQ_DFL_ACTIVE",
    "WQ_FREEZABLE",
    "WQ_HIGHPRI",
    "WQ_MEM_RECLAIM",
    "WQ_UNBOUND",
    "PoolWorkqueue",
    "Workqueue",
    "flush_work",
    "queue_work_on",
]

WQ_UNBOUND = 1 << 1
WQ_FREEZABLE = 1 << 2
WQ_MEM_RECLAIM = 1 << 3
WQ_HIGHPRI = 1 << 4
WQ_CPU_INTENSIVE = 1 << 5
WQ_DFL_ACTIVE = 256


@attrs.define(eq=False, repr=False)
class PoolWorkqueue:
    """``struct pool_workqueue``: links a workqueue to a pool."""

    wq: Workqueue
    pool: WorkerPool
    max_active: int
    nr_active: int = 0
    delayed_works: list[WorkStruct] = attrs.field(factory=list)
    on_mayday: bool = False

    def __repr__(self) -> str:
        return f"<pwq {self.wq.name} pool {self.pool.id}>"


class Workqueue:
    """``struct workqueue_struct``: a name, flags, one pwq per pool it uses, a rescuer."""

    def __init__(self, name: str, flags: int, max_active: int = 0) -> None:
        self.name = name
        self.flags = flags
        self.saved_max_active = max_active or WQ_DFL_ACTIVE
        self.cpu_pwqs: dict[int, PoolWorkqueue] = {}
        self.unbound_pwq: PoolWorkqueue | None = None
        self.rescuer: Worker | None = None
        self.maydays: list[PoolWorkqueue] = []
        self.frozen = False

    def __repr__(self) -> str:
        return f"<workqueue {self.name} flags={self.flags:#x}>"

    @property
    def mem_reclaim(self) -> bool:
        return bool(self.flags & WQ_MEM_RECLAIM)

    def pwqs(self) -> list[PoolWorkqueue]:
        out = [self.cpu_pwqs[c] for c in sorted(self.cpu_pwqs)]
        if self.unbound_pwq is not None:
            out.append(self.unbound_pwq)
        return out

    def pwq_for(self, cpu: int) -> PoolWorkqueue:
        if self.flags & WQ_UNBOUND:
            assert self.unbound_pwq is not None
            return self.unbound_pwq
        return self.cpu_pwqs[cpu]


# ------------------------------------------------------------------------- queueing


def insert_work(
    m: Machine, pwq: PoolWorkqueue, work: WorkStruct, head: list[WorkStruct], at: int | None = None
) -> None:
    """``insert_work``: link ``work`` into ``head`` (at index ``at``, default the tail) and
    wake a worker if nobody of the pool is running."""
    work.pwq = pwq
    work.entry = head
    if at is None:
        head.append(work)
    else:
        head.insert(at, work)
    pool = pwq.pool
    if pool.nr_running == 0:
        pool.wake_up_worker()


def _queue(m: Machine, cpu: int, wq: Workqueue, work: WorkStruct) -> PoolWorkqueue:
    """``__queue_work`` (PENDING already set by the caller)."""
    e = m.engine
    pwq = wq.pwq_for(cpu)
    last = work.last_pool
    if last is not None and last is not pwq.pool:
        worker = last.busy.get(work)
        if worker is not None and worker.current_pwq is not None and worker.current_pwq.wq is wq:
            pwq = worker.current_pwq  # still running there: stay non-reentrant
    pool = pwq.pool
    work.last_pool = pool
    if pwq.nr_active < pwq.max_active:
        pwq.nr_active += 1
        if not pool.worklist:
            pool.watchdog_ts = e.now
        work.delayed = False
        insert_work(m, pwq, work, pool.worklist)
    else:
        work.delayed = True
        insert_work(m, pwq, work, pwq.delayed_works)
    return pwq


async def queue_work_on(m: Machine, cpu: int, wq: Workqueue, work: WorkStruct) -> bool:
    """``queue_work_on``: True if queued, False if it was already pending.  Once PENDING is
    set, ``debug_work_activate`` checks the work (``_work``): queueing an uninitialised work,
    or one that INIT_WORK orphaned from a list that still links it, is reported and done."""
    e = m.engine
    await e.point("queue_work_on", target=cpu, wq=wq.name, work=work.label, pending=work.pending)
    if work.pending:
        return False
    work.pending = True
    call = task_of(e.current).drain_call
    work.drain_call = call
    debug_work_activate(m, work)  # CONFIG_DEBUG_OBJECTS_WORK; reports, never refuses
    pwq = _queue(m, cpu, wq, work)
    m.count("works_queued")
    if call is not None:
        call.works += 1
        m.drain_works_active += 1
        m.disturbance_changed()
    e.emit("work_queued", work=work.label, pool=pwq.pool.id, delayed=work.delayed)
    return True


def activate_delayed(m: Machine, pwq: PoolWorkqueue) -> None:
    """``pwq_activate_first_delayed`` while below ``max_active``."""
    pool = pwq.pool
    while pwq.delayed_works and pwq.nr_active < pwq.max_active:
        work = pwq.delayed_works[0]
        if not pool.worklist:
            pool.watchdog_ts = m.engine.now
        move_linked_works(work, pool.worklist)
        work.delayed = False
        pwq.nr_active += 1
    if pool.nr_running == 0 and pool.worklist:
        pool.wake_up_worker()


def work_done(m: Machine, pwq: PoolWorkqueue, work: WorkStruct) -> None:
    """``pwq_dec_nr_in_flight``: the work finished; activate delayed works."""
    if not work.is_barrier:
        pwq.nr_active -= 1
        activate_delayed(m, pwq)


# ------------------------------------------------------------------------- flushing


def check_flush_dependency(m: Machine, target_wq: Workqueue, work: WorkStruct) -> None:
    """``check_flush_dependency`` (``fca839c00a12``): warn when reclaim-safe context flushes a
    !WQ_MEM_RECLAIM work (each message once, like WARN_ONCE)."""
    if target_wq.mem_reclaim:
        return
    e = m.engine
    t = task_of(e.current)
    msgs = []
    if t.memalloc:
        msgs.append(
            f"workqueue: PF_MEMALLOC task {t.pid}({t.comm}) is flushing !WQ_MEM_RECLAIM "
            f"{target_wq.name}:{work.func_name}"
        )
    w = t.worker
    if w is not None and w.current_pwq is not None and w.current_pwq.wq.mem_reclaim:
        cur = w.current_work.func_name if w.current_work is not None else "?"
        msgs.append(
            f"workqueue: WQ_MEM_RECLAIM {w.current_pwq.wq.name}:{cur} is flushing "
            f"!WQ_MEM_RECLAIM {target_wq.name}:{work.func_name}"
        )
    for msg in msgs:
        m.count("flush_dependency_warnings")
        e.emit("flush_dependency_warning", message=msg)
        if msg not in m.warned_once:
            m.warned_once.add(msg)
            for fn in m.sensors.flush_warning:
                fn(msg, {"flusher": t.comm, "target_wq": target_wq.name, "work": work.label})


async def _barrier_func(work: WorkStruct) -> None:
    work.barrier_done.complete()


def insert_wq_barrier(
    m: Machine, pwq: PoolWorkqueue, target: WorkStruct, worker: Worker | None
) -> WorkStruct:
    """``insert_wq_barrier``: a barrier right behind ``target``."""
    e = m.engine
    flusher = e.current
    done = Completion(e, f"flush {target.label} BAR({flusher.pid})", holders=lambda: [pwq.pool])
    barr = WorkStruct(
        _barrier_func,
        "wq_barrier_func",
        f"BAR({flusher.pid})",
        on_stack=True,
        barrier_done=done,
        barrier_pid=flusher.pid,
    )
    barr.pending = True
    if worker is not None:  # target is running: head of the worker's scheduled list
        insert_work(m, pwq, barr, worker.scheduled, at=0)
    else:
        head = target.entry
        assert head is not None
        barr.linked = target.linked
        target.linked = True
        insert_work(m, pwq, barr, head, at=head.index(target) + 1)
    return barr


async def flush_work(m: Machine, work: WorkStruct) -> bool:
    """``flush_work``: wait for ``work``'s last queued instance; False if it was idle."""
    e = m.engine
    await e.point("flush_work", work=work.label)
    pwq = work.pwq
    worker: Worker | None = None
    if pwq is None:
        pool = work.last_pool
        if pool is None:
            return False
        worker = pool.busy.get(work)
        if worker is None:
            return False  # already gone
        pwq = worker.current_pwq
        assert pwq is not None
    check_flush_dependency(m, pwq.wq, work)
    barr = insert_wq_barrier(m, pwq, work, worker)
    await barr.barrier_done.wait()
    e.emit("flush_done", work=work.label)
    return True
