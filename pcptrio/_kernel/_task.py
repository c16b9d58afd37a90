"""``task_struct``: the kernel's view of an actor (flags, comm, workqueue worker, context).

The engine's :class:`~pcptrio._core.Actor` is generic; every actor of a machine gets a
:class:`TaskStruct` in ``actor.kernel`` the first time the kernel model looks at it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from .._core import Actor
from ._gfp import PF_KTHREAD, PF_MEMALLOC, PF_WQ_WORKER

if TYPE_CHECKING:
    from ._workqueue import Worker

__all__ = ["TaskStruct", "task_of"]


@attrs.define(eq=False)
class TaskStruct:
    """Per-actor kernel state.  ``flags`` holds ``PF_*`` bits."""

    actor: Actor
    flags: int = 0
    #: The workqueue worker this task is (``current_wq_worker()``), if any.
    worker: Worker | None = None
    #: A per-CPU kthread that parks when its CPU goes down (``cpuhp/N``) instead of being
    #: migrated like ordinary tasks and kworkers.
    parks_on_offline: bool = False
    #: The drain_all_pages() call this task works for (IPI handler, drain work), for metrics.
    drain_call: Any = None

    @property
    def pid(self) -> int:
        return self.actor.pid

    @property
    def comm(self) -> str:
        return self.actor.name

    @property
    def is_wq_worker(self) -> bool:
        return bool(self.flags & PF_WQ_WORKER)

    @property
    def memalloc(self) -> bool:
        return bool(self.flags & PF_MEMALLOC)

    @property
    def kthread(self) -> bool:
        return bool(self.flags & PF_KTHREAD)


def task_of(actor: Actor) -> TaskStruct:
    """The actor's task_struct, created on first use."""
    t = actor.kernel
    if t is None:
        t = actor.kernel = TaskStruct(actor)
    assert isinstance(t, TaskStruct)
    return t
