"""Work items: ``struct work_struct``, the flush barrier, and their debug objects.

A work item is *pending* from a successful ``queue_work_on`` until the worker that executes
it clears PENDING just before calling its function; a pending work cannot be queued again
(``queue_work_on`` returns False).  While queued it sits in exactly one list (a pool's
worklist, a pwq's delayed list, or a worker's ``scheduled`` list) — ``entry`` says which — and
``linked`` means the next entry of that list (a flush barrier) must run right after it, on the
same worker.

``CONFIG_DEBUG_OBJECTS_WORK`` (``lib/debugobjects.c``, the ``work_debug_descr`` hooks of
``kernel/workqueue.c``) tracks each work's life::

    INIT_WORK              debug_object_init         ACTIVE: "ODEBUG: init active"
    queue_work_on          debug_work_activate       untracked and not DECLARE_WORK-static:
                                                     "ODEBUG: activate not available"
    process_one_work       debug_work_deactivate     ACTIVE -> INACTIVE, before func runs
    destroy_work_on_stack  debug_object_free         ACTIVE: "ODEBUG: free active"
    kfree, free_percpu,    debug_check_no_obj_freed  the same, for each object freed
    a thread's stack

ACTIVE is "pending" here.  The kernel's fixups (``work_fixup_init`` / ``work_fixup_free``:
``cancel_work_sync`` and carry on) are *not* modelled: an observer must not change the run,
so the machine does what a kernel without debug objects does and reports through
``m.sensors.work_debug`` (the ``work-debug`` oracle of L2 turns that into a violation).

What ``INIT_WORK`` does to an active work (``__INIT_WORK``, include/linux/workqueue.h)::

    __init_work(work, onstack);                    /* the debug-objects check */
    work->data = (atomic_long_t)WORK_DATA_INIT();  /* PENDING, LINKED, DELAYED, pwq/pool: gone */
    INIT_LIST_HEAD(&work->entry);                  /* the work forgets its list ...        */
    work->func = func;                             /* ... but the list still links it       */

The race it catches (static per-CPU works re-initialised by unserialised callers)::

    drainer#1                   drainer#2                   kworker/1:0
    INIT_WORK(pcpu_drain[1])
    queue_work_on(1, ..)        ·                           (busy)
      PENDING, on worklist      INIT_WORK(pcpu_drain[1])    <- init active: PENDING gone,
                                                               the worklist still links it
                                queue_work_on(1, ..)        <- linked a second time
                                                            process_one_work(old link)

So after INIT_WORK on a queued work its list keeps a dangling link: a second
``queue_work_on`` (PENDING is clear) links the same ``list_head`` into a list again — list
corruption — and a worker reaching the old link finds no pwq in ``work->data``
(``process_one_work`` dereferences ``get_work_pwq(work)``: an oops).  The model puts an
*orphaned link* in the old list at the work's place (:attr:`WorkStruct.stale_of` names the
work it stands for; it keeps the pwq accounting of the original queueing), reports the
second link as ``list-corruption``, and a worker that reaches the orphan reports it and
unlinks it, so a run without the oracle can go on.  INIT_WORK on a *running* work (PENDING
already clear; debug objects see an INACTIVE object and stay silent) wipes the pool the work
runs on, so ``flush_work`` returns before the function ends and non-reentrancy is lost: the
model forgets ``last_pool`` and reports ``init-running``.

An on-stack work lives in a frame.  Besides ``destroy_work_on_stack``, the model notices a
frame that returned while its on-stack work was still pending when a worker is about to run
that work from the dead frame: the frame is the ``drain_all_pages()`` call that queued it
(queued by the call's own caller) or, failing that, the thread that queued it (its stack is
freed when it exits).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from ..._core import ActorState, ModelError

if TYPE_CHECKING:
    from ..._core import Actor
    from .._drainstats import DrainCall
    from .._machine import Machine
    from ._pool import Worker, WorkerPool
    from ._queue import PoolWorkqueue

__all__ = [
    "WorkFunc",
    "WorkStruct",
    "debug_check_no_obj_freed",
    "debug_work_activate",
    "debug_work_deactivate",
    "destroy_work_on_stack",
    "work_debug_report",
    "work_state",
]

WorkFunc = Callable[["WorkStruct"], Awaitable[None]]


async def _null_func(work: WorkStruct) -> None:
    """The ``func`` of zero-filled memory: the worker calls NULL."""
    raise ModelError(
        f"BUG: kernel NULL pointer dereference: work {work.label} ran with func == NULL "
        "(queued without INIT_WORK)"
    )


@attrs.define(eq=False, repr=False)
class WorkStruct:
    """``struct work_struct``.  ``func_name`` is what dumps print (``drain_local_pages_wq``);
    ``label`` tells instances apart (``pcpu_drain[2]``).

    The constructor is ``INIT_WORK`` (or ``DECLARE_WORK``): the work is initialised.
    :meth:`uninitialised` makes one that never was (zero-filled memory).  ``data`` is the
    payload of the structure around the work (what ``container_of`` reaches, like
    ``pcpu_drain->zone``), not the kernel's ``work->data``: that word is modelled by
    ``pending``, ``pwq``, ``last_pool``, ``linked`` and ``delayed``.

    Example::

        w = WorkStruct(drain_local_pages_wq, "drain_local_pages_wq", "pcpu_drain[1]", (m, None))
        await m.queue_work_on(1, m.mm_percpu_wq, w)
        await m.flush_work(w)
        w.init(drain_local_pages_wq, "drain_local_pages_wq")  # idle again: a quiet INIT_WORK
    """

    func: WorkFunc
    func_name: str
    label: str
    data: Any = None
    on_stack: bool = False
    # Invariant: pending iff queued (entry is not None) and not yet picked up by a worker.
    pending: bool = False
    #: The pwq it is queued on (``get_work_pwq``), None when not queued.
    pwq: PoolWorkqueue | None = None
    #: The pool it last ran or was queued on (``get_work_pool`` once off the queue).
    last_pool: WorkerPool | None = None
    #: The list holding it now (worklist, delayed list or a worker's scheduled list).
    entry: list[WorkStruct] | None = None
    linked: bool = False
    delayed: bool = False
    #: A flush barrier (``wq_barrier``): its completion, and the flusher's pid.
    barrier_done: Any = None
    barrier_pid: int | None = None
    #: The drain_all_pages() call it works for (metrics, disturbance).
    drain_call: Any = None
    #: How many times it ran.
    executions: int = 0
    #: The pools whose busy hash holds it (running there now): what
    #: ``find_worker_executing_work`` finds, kept here so looking it up costs no scan.
    busy_in: list[WorkerPool] = attrs.field(factory=list)
    # ---- CONFIG_DEBUG_OBJECTS_WORK --------------------------------------------------------
    # Invariant: initialised iff debug objects track the work (ODEBUG_STATE_INIT, INACTIVE
    # or ACTIVE): set by INIT_WORK (the constructor, init()), cleared by debug_object_free
    # (destroy_work_on_stack, debug_check_no_obj_freed).  ACTIVE is ``pending``: activated by
    # __queue_work, deactivated by process_one_work before the function runs.
    initialised: bool = True
    #: Who untracked it (``destroy_work_on_stack by drainer``), for the activate report.
    freed_by: str | None = None
    #: The machine whose queue_work_on activated it last: INIT_WORK and the free hooks
    #: report through its sensors.
    machine: Machine | None = None
    #: On-stack works: the thread whose stack holds it (the first one to queue it) and the
    #: drain_all_pages() call whose frame holds it (when that call's caller queued it).
    owner: Actor | None = None
    frame: DrainCall | None = None
    # Invariant: stale_of is not None iff this object is an orphaned link, in a list, left
    # by INIT_WORK on the queued work stale_of; it is in stale_of.stale until a worker drops
    # it.  An orphan is never the ``entry`` of a live work and is never flushed.
    stale_of: WorkStruct | None = None
    stale: list[WorkStruct] = attrs.field(factory=list)

    @classmethod
    def uninitialised(
        cls, label: str, func: WorkFunc | None = None, func_name: str = "(null)", data: Any = None
    ) -> WorkStruct:
        """A work nobody ran ``INIT_WORK`` on (zero-filled or reused memory): queueing it is
        ``activate-uninit``.  Without ``func`` its function is NULL.

        Example::

            w = WorkStruct.uninitialised("pcpu_drain[0]")
            w.init(drain_local_pages_wq, "drain_local_pages_wq")  # now it may be queued
        """
        w = cls(func or _null_func, func_name, label, data)
        w.initialised = False
        return w

    def init(self, func: WorkFunc, func_name: str) -> None:
        """``INIT_WORK(work, func)`` (``__INIT_WORK``): check the debug object, then reset
        ``work->data`` (PENDING, LINKED, DELAYED, the pwq or pool) and the list head and set
        the function.  On an idle work that is all; on a queued one the old list keeps an
        orphaned link (see the module docstring); on a running one the pool is forgotten."""
        m = self.machine
        if m is not None and (self.pending or running_on(m, self) is not None):
            _debug_object_init(m, self)
        if self.entry is not None:  # INIT_LIST_HEAD(&work->entry): the list still links it
            self._orphan_link()
        # work->data = WORK_DATA_INIT()
        self.pending = False
        self.pwq = None
        self.last_pool = None
        self.linked = False
        self.delayed = False
        self.func = func
        self.func_name = func_name
        self.initialised = True
        self.freed_by = None

    def _orphan_link(self) -> None:
        head = self.entry
        assert head is not None
        link = WorkStruct(
            self.func,
            self.func_name,
            self.label,
            self.data,
            self.on_stack,
            pending=True,
            pwq=self.pwq,
            last_pool=self.last_pool,
            entry=head,
            delayed=self.delayed,  # linked stays False: WORK_STRUCT_LINKED was in work->data
            drain_call=self.drain_call,
            stale_of=self,
        )
        head[head.index(self)] = link
        self.stale.append(link)
        self.entry = None

    @property
    def is_barrier(self) -> bool:
        return self.barrier_done is not None

    def dump_name(self) -> str:
        """How ``show_workqueue_state`` prints it: ``func`` or ``BAR(pid)``."""
        if self.barrier_pid is not None:
            return f"BAR({self.barrier_pid})"
        return self.func_name

    def __repr__(self) -> str:
        return f"<work {self.label} {self.func_name}{' pending' if self.pending else ''}>"


# ---------------------------------------------------------------------------- the work's state


def running_on(m: Machine, work: WorkStruct) -> Worker | None:
    """The worker executing ``work`` now (``find_worker_executing_work`` over every pool; the
    lowest pool id first when it runs in several)."""
    busy = work.busy_in
    if not busy:
        return None
    pool = busy[0] if len(busy) == 1 else min(busy, key=_pool_id)
    return pool.busy[work]


def _pool_id(pool: WorkerPool) -> int:
    return pool.id


def queued_on(work: WorkStruct) -> str | None:
    """Which list holds ``work``: ``pool 2's worklist (mm_percpu_wq)`` and the like."""
    head, pwq = work.entry, work.pwq
    if head is None or pwq is None:
        return None
    pool = pwq.pool
    if head is pool.worklist:
        return f"pool {pool.id}'s worklist ({pwq.wq.name})"
    if head is pwq.delayed_works:
        return f"the delayed list of {pwq.wq.name} on pool {pool.id}"
    rescuer = pwq.wq.rescuer
    for w in [*pool.workers, *([rescuer] if rescuer is not None else [])]:
        if w.scheduled is head:
            return f"{w.name}'s scheduled list (pool {pool.id})"
    return f"a list of pool {pool.id}"


def work_state(m: Machine, work: WorkStruct) -> dict[str, Any]:
    """The work and its state, for reports: label, function, pending, running, queued."""
    worker = running_on(m, work)
    pool = work.pwq.pool if work.pwq is not None else (worker.pool if worker else None)
    return {
        "work": work.label,
        "func": work.func_name,
        "pending": work.pending,
        "running": worker.name if worker is not None else None,
        "queued": queued_on(work),
        "pool": pool.id if pool is not None else None,
        "wq": work.pwq.wq.name if work.pwq is not None else None,
        "on_stack": work.on_stack,
    }


def _describe(state: dict[str, Any]) -> str:
    parts = []
    if state["pending"]:
        parts.append(f"pending on {state['queued']}")
    if state["running"] is not None:
        parts.append(f"running on {state['running']}")
    return " and ".join(parts) or "idle"


def _actor_name(m: Machine) -> str:
    a = m.engine.current_or_none
    return a.name if a is not None else "(no actor)"


def work_debug_report(m: Machine, kind: str, work: WorkStruct, message: str, **extra: Any) -> None:
    """Tell ``m``'s observers about a misuse of ``work`` (and put it in the trace)."""
    details = {**work_state(m, work), "actor": _actor_name(m), **extra}
    m.count("work_debug")
    m.engine.emit("work_debug", kind=kind, work=work.label, func=work.func_name)
    for fn in m.sensors.work_debug:
        fn(kind, message, details)


# ---------------------------------------------------------------------------- the hooks


def _debug_object_init(m: Machine, work: WorkStruct) -> None:
    """``__init_work`` → ``debug_object_init`` on a pending (ACTIVE) or running work."""
    state = work_state(m, work)
    who = _actor_name(m)
    if work.pending:
        msg = (
            f"ODEBUG: init active object type: work_struct hint: {work.func_name}: "
            f"INIT_WORK({work.label}) by {who} while it is {_describe(state)}: that list "
            "keeps linking it, and the next queue_work_on links it a second time"
        )
        work_debug_report(m, "init-active", work, msg)
    else:
        msg = (
            f"INIT_WORK({work.label}) by {who} while it is {_describe(state)}: work->data "
            "forgets its pool, so flush_work() returns before it ends and it may run twice "
            "at once (debug objects miss this: process_one_work() deactivated it)"
        )
        work_debug_report(m, "init-running", work, msg)


def debug_work_activate(m: Machine, work: WorkStruct) -> None:
    """``debug_work_activate`` in ``__queue_work`` (PENDING was just set): an untracked
    work is ``activate-uninit``; one whose old list still links it is list corruption.
    Records the machine and, for an on-stack work, its frame."""
    work.machine = m
    if work.on_stack:
        me = m.engine.current_or_none
        if work.owner is None:
            work.owner = me
        call = work.drain_call
        work.frame = (
            call if call is not None and me is not None and call.caller == me.name else None
        )
    if not work.initialised:
        why = f"it was freed ({work.freed_by})" if work.freed_by else "it was never INIT_WORK'ed"
        msg = (
            f"ODEBUG: activate not available object type: work_struct hint: {work.func_name}: "
            f"queue_work_on({work.label}) by {_actor_name(m)}, but {why}"
        )
        work_debug_report(m, "activate-uninit", work, msg, freed_by=work.freed_by)
    if work.stale:
        old = queued_on(work.stale[0]) or "its old list"
        msg = (
            f"list_add corruption: queue_work_on({work.label}) by {_actor_name(m)} links a "
            f"work that {old} still links (INIT_WORK re-initialised it while it was queued)"
        )
        work_debug_report(m, "list-corruption", work, msg, corruption="double-add", stale=old)


def debug_work_deactivate(m: Machine, worker: Worker, work: WorkStruct) -> None:
    """``debug_work_deactivate`` in ``process_one_work``: an on-stack work whose frame is
    gone is about to run from a dead stack — its frame returned while it was pending."""
    owner, frame = work.owner, work.frame
    if frame is not None and frame.done:
        gone = f"drain_all_pages() call #{frame.id} of {frame.caller} returned"
    elif owner is not None and owner.state is ActorState.DONE:
        gone = f"its thread {owner.name} exited"
    else:
        return
    work.owner = work.frame = None  # reported once
    msg = (
        f"ODEBUG: free active object type: work_struct hint: {work.func_name}: on-stack work "
        f"{work.label} was still pending when {gone}; {worker.name} now runs it from the dead "
        "frame"
    )
    work_debug_report(
        m,
        "free-pending",
        work,
        msg,
        how="frame returned",
        owner=owner.name if owner is not None else None,
        worker=worker.name,
    )


def _debug_object_free(m: Machine, work: WorkStruct, how: str) -> None:
    if work.pending:
        state = work_state(m, work)
        msg = (
            f"ODEBUG: free active object type: work_struct hint: {work.func_name}: "
            f"{how}({work.label}) by {_actor_name(m)} while it is {_describe(state)}"
        )
        work_debug_report(m, "free-pending", work, msg, how=how)
    work.initialised = False  # untracked: queueing it again is activate-uninit
    work.freed_by = f"{how} by {_actor_name(m)}"


def destroy_work_on_stack(m: Machine, work: WorkStruct) -> None:
    """``destroy_work_on_stack``: the end of an on-stack work's life (``debug_object_free``).
    Reports ``free-pending`` if it is still pending; the work is untracked afterwards.

    Example::

        w = WorkStruct(fn, "fn", "onstack", on_stack=True)
        await m.schedule_work_on(1, w)
        await m.flush_work(w)
        destroy_work_on_stack(m, w)  # quiet: the work has run
    """
    _debug_object_free(m, work, "destroy_work_on_stack")


def debug_check_no_obj_freed(m: Machine, *works: WorkStruct) -> None:
    """The memory holding ``works`` is freed (``kfree``, ``free_percpu``):
    ``debug_check_no_obj_freed`` reports each one still pending as ``free-pending``."""
    for work in works:
        _debug_object_free(m, work, "debug_check_no_obj_freed")
