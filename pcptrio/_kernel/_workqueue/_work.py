"""Work items: ``struct work_struct`` and the flush barrier ``struct wq_barrier``.

A work item is *pending* from a successful ``queue_work_on`` until the worker that executes
it clears PENDING just before calling its function; a pending work cannot be queued again
(``queue_work_on`` returns False).  While queued it sits in exactly one list (a pool's
worklist, a pwq's delayed list, or a worker's ``scheduled`` list) — ``entry`` says which — and
``linked`` means the next entry of that list (a flush barrier) must run right after it, on the
same worker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from ._pool import WorkerPool
    from ._queue import PoolWorkqueue

__all__ = ["WorkFunc", "WorkStruct"]

WorkFunc = Callable[["WorkStruct"], Awaitable[None]]


@attrs.define(eq=False, repr=False)
class WorkStruct:
    """``struct work_struct``.  ``func_name`` is what dumps print (``drain_local_pages_wq``);
    ``label`` tells instances apart (``pcpu_drain[2]``)."""

    func: WorkFunc
    func_name: str
    label: str
    data: Any = None
    on_stack: bool = False
    # Invariant: pending iff queued and not yet picked up by a worker.
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

    def init(self, func: WorkFunc, func_name: str) -> None:
        """``INIT_WORK``: (re)set the function.  Caller guarantees the work is idle."""
        self.func = func
        self.func_name = func_name

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
