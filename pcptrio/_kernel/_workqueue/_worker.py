"""What workers do: ``worker_thread``, ``process_one_work``, the manager, the rescuer.

::

    worker_thread                               manage_workers (one manager per pool)
    ─────────────                               ─────────────────────────────────────
    woke up: leave idle                         arm mayday timer (10 ms)
    recheck: no work needing us -> sleep        loop: create_worker()   # GFP_KERNEL +
             no idle worker left -> manage              success or not needed -> stop
             clear PREP (nr_running++)                  sleep CREATE_COOLDOWN (1 s)
             process works while keep_working   cancel mayday timer
             set PREP (nr_running--)
    sleep:   enter idle (LIFO), sleep           pool_mayday_timeout (timer)
                                                ───────────────────────────
    rescuer_thread (WQ_MEM_RECLAIM only)        still need_to_create_worker ->
    ──────────────                                send_mayday() for every pending work
    for each pwq on wq->maydays:                  (a no-op without a rescuer)
      attach to its pool, take all of that      re-arm: every MAYDAY_INTERVAL (100 ms)
      pwq's works, run them; re-queue the pwq
      if the pool still needs a worker; detach

A work item runs with the worker's ``task.drain_call`` set to the call that queued it, so
pages drained on its behalf are attributed to that drain_all_pages() call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._core import MSEC, SEC, Actor
from .._gfp import PF_KTHREAD, PF_WQ_WORKER
from .._kthread import kthread_create
from .._task import task_of
from ._pool import (
    WORKER_CPU_INTENSIVE,
    WORKER_DIE,
    WORKER_PREP,
    WORKER_REBOUND,
    WORKER_UNBOUND,
    Worker,
    WorkerPool,
    move_linked_works,
)
from ._queue import WQ_CPU_INTENSIVE, PoolWorkqueue, Workqueue, work_done
from ._work import WorkStruct, debug_work_deactivate, queued_on, work_debug_report

if TYPE_CHECKING:
    from .._machine import Machine

__all__ = [
    "CREATE_COOLDOWN",
    "MAYDAY_INITIAL_TIMEOUT",
    "MAYDAY_INTERVAL",
    "create_worker",
    "start_rescuer",
]

#: ``max(HZ/100, 2)`` jiffies at HZ=1000.
MAYDAY_INITIAL_TIMEOUT = 10 * MSEC
#: ``HZ/10``.
MAYDAY_INTERVAL = 100 * MSEC
#: ``HZ``.
CREATE_COOLDOWN = 1 * SEC


def _worker_name(pool: WorkerPool, wid: int) -> str:
    if pool.cpu is None:
        return f"kworker/u{pool.id}:{wid}"
    return f"kworker/{pool.cpu}:{wid}{'H' if pool.highpri else ''}"


def _setup_actor(m: Machine, w: Worker, actor: Actor, pool: WorkerPool) -> None:
    w.actor = actor
    t = task_of(actor)
    t.flags |= PF_WQ_WORKER | PF_KTHREAD
    t.worker = w
    actor.on_sleep = lambda _a: pool.worker_sleeping(w) if w.pool is pool else None
    actor.on_wake = lambda _a: pool.worker_waking_up(w) if w.pool is pool else None


def spawn_worker(m: Machine, pool: WorkerPool) -> Worker:
    """Attach a new worker to ``pool`` and start it idle (the tail of ``create_worker``)."""
    wid = pool.next_worker_id()
    w = Worker(pool, wid, _worker_name(pool, wid), flags=WORKER_PREP)
    if pool.disassociated:
        w.flags |= WORKER_UNBOUND
    cpu = None if pool.cpu is None or pool.disassociated else pool.cpu
    actor = m.engine.spawn(worker_thread, m, w, name=w.name, cpu=cpu, daemon=True)
    _setup_actor(m, w, actor, pool)
    pool.workers.append(w)
    pool.enter_idle(w)
    pool.creations += 1
    return w


async def create_worker(m: Machine, pool: WorkerPool) -> Worker | None:
    """``create_worker``: ``kthread_create_on_node(worker_thread, ...)``, so kthreadd forks the
    worker with GFP_KERNEL memory: it can fail, stall, or (through direct reclaim in
    kthreadd) end in ``drain_all_pages()`` under memory pressure."""
    e = m.engine
    await e.point("create_worker", pool=pool.id)
    w: Worker | None = await kthread_create(
        m, f"kworker@pool{pool.id}", lambda: spawn_worker(m, pool)
    )
    if w is None:
        pool.creation_failures += 1
        m.count("worker_create_failures")
        e.emit("create_worker_failed", pool=pool.id)
        return None
    e.emit("worker_created", pool=pool.id, worker=w.name)
    return w


def _mayday_timeout(m: Machine, pool: WorkerPool) -> None:
    """``pool_mayday_timeout``: call for help for every pending work, re-arm."""
    if pool.need_to_create_worker():
        for work in list(pool.worklist):
            send_mayday(m, work)
    pool.mayday_timer = m.engine.add_timer(
        MAYDAY_INTERVAL, f"mayday:pool{pool.id}", lambda: _mayday_timeout(m, pool)
    )


def send_mayday(m: Machine, work: WorkStruct) -> None:
    """``send_mayday``: put the work's pwq on its workqueue's mayday list and wake the
    rescuer; a no-op for workqueues without one."""
    pwq = work.pwq
    if pwq is None:
        return
    pool = pwq.pool
    pool.maydays += 1
    m.count("maydays")
    if work.drain_call is not None:
        work.drain_call.maydays += 1
    wq = pwq.wq
    m.engine.emit(
        "mayday", pool=pool.id, wq=wq.name, work=work.label, rescuer=wq.rescuer is not None
    )
    if wq.rescuer is None:
        return
    if not pwq.on_mayday:
        pwq.on_mayday = True
        wq.maydays.append(pwq)
        r = wq.rescuer
        if r.actor is not None:
            m.engine.wake(r.actor)


async def maybe_create_worker(m: Machine, pool: WorkerPool) -> None:
    e = m.engine
    while True:  # restart:
        pool.mayday_timer = e.add_timer(
            MAYDAY_INITIAL_TIMEOUT, f"mayday:pool{pool.id}", lambda: _mayday_timeout(m, pool)
        )
        while True:
            if await create_worker(m, pool) is not None or not pool.need_to_create_worker():
                break
            await e.sleep(CREATE_COOLDOWN)
            if not pool.need_to_create_worker():
                break
        if pool.mayday_timer is not None:
            pool.mayday_timer.cancel()
            pool.mayday_timer = None
        if not pool.need_to_create_worker():
            return


async def manage_workers(m: Machine, w: Worker) -> bool:
    """``manage_workers``: become the pool's manager unless someone already is."""
    pool = w.pool
    assert pool is not None
    if pool.manager is not None:
        return False
    pool.manager = w
    await maybe_create_worker(m, pool)
    pool.manager = None
    return True


def drop_orphaned_link(m: Machine, w: Worker, link: WorkStruct) -> None:
    """A worker reached the link INIT_WORK left in a list (``_work``).  The kernel oopses
    here: ``process_one_work`` dereferences ``get_work_pwq(work)``, which ``WORK_DATA_INIT``
    cleared.  The model reports it, unlinks the orphan and settles the accounting of the
    queueing it stood for (``nr_active``, drain works in flight), so the run can go on."""
    work = link.stale_of
    assert work is not None and link.entry is not None and link.pwq is not None
    where = queued_on(link)
    msg = (
        f"BUG: kernel NULL pointer dereference in process_one_work: {w.name} took the link "
        f"of {link.label} that INIT_WORK orphaned on {where} (work->data has no pwq)"
    )
    work_debug_report(
        m, "list-corruption", work, msg, corruption="orphaned-link", stale=where, worker=w.name
    )
    link.entry.remove(link)
    link.entry = None
    link.pending = False
    work.stale.remove(link)
    if link.drain_call is not None:
        m.drain_works_active -= 1
        m.disturbance_changed()
    work_done(m, link.pwq, link)


async def process_one_work(m: Machine, w: Worker, work: WorkStruct) -> None:
    e = m.engine
    pool = w.pool
    assert pool is not None
    if work.stale_of is not None:
        drop_orphaned_link(m, w, work)
        return
    collision = pool.busy.get(work)
    if collision is not None:  # running elsewhere in this pool: defer to that worker
        move_linked_works(work, collision.scheduled)
        return
    pwq = work.pwq
    assert pwq is not None
    if work.on_stack:
        debug_work_deactivate(m, w, work)  # claim and dequeue
    pool.busy[work] = w
    work.busy_in.append(pool)
    w.current_work = work
    w.current_pwq = pwq
    assert work.entry is not None
    work.entry.remove(work)
    work.entry = None
    cpu_intensive = bool(pwq.wq.flags & WQ_CPU_INTENSIVE)
    if cpu_intensive:
        pool.set_flags(w, WORKER_CPU_INTENSIVE)
    if pool.need_more_worker():
        pool.wake_up_worker()
    work.pending = False  # set_work_pool_and_clear_pending
    work.pwq = None
    work.last_pool = pool
    work.executions += 1
    t = task_of(e.current)
    t.drain_call = work.drain_call
    if work.drain_call is not None and w.rescue_wq is not None:
        work.drain_call.rescuer_ran = True
    await e.point("work_start", work=work.label, func=work.func_name, wq=pwq.wq.name, pool=pool.id)
    await work.func(work)
    e.emit("work_end", work=work.label, func=work.func_name, pool=pool.id)
    t.drain_call = None
    if cpu_intensive:
        pool.clr_flags(w, WORKER_CPU_INTENSIVE)
    del pool.busy[work]
    work.busy_in.remove(pool)
    w.current_work = None
    w.current_pwq = None
    pool.executed += 1
    if w.rescue_wq is not None:
        pool.rescued += 1
    if work.drain_call is not None:
        m.drain_works_active -= 1
        m.disturbance_changed()
    work_done(m, pwq, work)


async def process_scheduled_works(m: Machine, w: Worker) -> None:
    while w.scheduled:
        await process_one_work(m, w, w.scheduled[0])


async def worker_thread(m: Machine, w: Worker) -> None:
    """``worker_thread``: the loop of a kworker."""
    e = m.engine
    first = True
    while True:
        pool = w.pool
        assert pool is not None
        if w.flags & WORKER_DIE:
            return
        if not first:
            # wake-up and context switch (a highpri worker preempts a nice-0 task at once)
            await e.spend(m.costs.wakeup_highpri_ns if pool.highpri else m.costs.wakeup_ns)
        first = False
        pool.leave_idle(w)
        while pool.need_more_worker():  # recheck:
            if not pool.may_start_working() and await manage_workers(m, w):
                continue
            pool.clr_flags(w, WORKER_PREP | WORKER_REBOUND)
            while True:
                work = pool.worklist[0]
                pool.watchdog_ts = e.now
                if not work.linked:
                    await process_one_work(m, w, work)
                    if w.scheduled:
                        await process_scheduled_works(m, w)
                else:
                    move_linked_works(work, w.scheduled)
                    await process_scheduled_works(m, w)
                if not pool.keep_working():
                    break
            pool.set_flags(w, WORKER_PREP)
            break
        # sleep:
        pool.enter_idle(w)
        w.sleeping_idle = True
        await e.block(w, "worker_idle")
        w.sleeping_idle = False


# ------------------------------------------------------------------------- the rescuer


def start_rescuer(m: Machine, wq: Workqueue) -> Worker:
    """``init_rescuer``: one rescuer thread per WQ_MEM_RECLAIM workqueue."""
    r = Worker(None, 0, f"rescuer:{wq.name}", flags=WORKER_PREP, rescue_wq=wq)
    actor = m.engine.spawn(rescuer_thread, m, r, name=r.name, cpu=None, daemon=True)
    r.actor = actor
    t = task_of(actor)
    t.flags |= PF_WQ_WORKER | PF_KTHREAD
    t.worker = r
    wq.rescuer = r
    return r


async def rescuer_thread(m: Machine, r: Worker) -> None:
    """``rescuer_thread``: serve every pwq on the workqueue's mayday list, one after another."""
    e = m.engine
    wq = r.rescue_wq
    assert wq is not None
    while True:
        while wq.maydays:
            pwq: PoolWorkqueue = wq.maydays.pop(0)
            pwq.on_mayday = False
            pool = pwq.pool
            # worker_attach_to_pool: take the pool's CPU (unbound if disassociated)
            e.bind(r.actor, None if pool.cpu is None or pool.disassociated else pool.cpu)  # type: ignore[arg-type]
            r.pool = pool
            if pool.disassociated:
                r.flags |= WORKER_UNBOUND
            await e.point("rescuer_attach", pool=pool.id, wq=wq.name)
            first = True
            for work in list(pool.worklist):
                if work.pwq is pwq:
                    if first:
                        pool.watchdog_ts = e.now
                    if work.entry is pool.worklist:
                        move_linked_works(work, r.scheduled)
                first = False
            if r.scheduled:
                m.count("rescuer_runs")
                await process_scheduled_works(m, r)
                if pool.need_to_create_worker() and not pwq.on_mayday:
                    pwq.on_mayday = True
                    wq.maydays.append(pwq)
            if pool.need_more_worker():
                pool.wake_up_worker()
            r.pool = None
            r.flags &= ~WORKER_UNBOUND
            e.bind(r.actor, None)  # type: ignore[arg-type]
        await e.block(r, "rescuer_idle")
