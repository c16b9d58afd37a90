"""``kthreadd`` and ``kthread_create_on_node()`` (``kernel/kthread.c``, ``kernel/fork.c``).

A new kernel thread is forked by ``kthreadd``, not by its creator::

    creator (e.g. a workqueue pool's manager)      kthreadd (PID 2, any CPU)
    ─────────────────────────────────────────      ─────────────────────────
    create = kthread_create_info + completion
    list_add_tail(&create->list, &kthread_create_list)
    wake_up_process(kthreadd_task) ─────────────▶   create_kthread(create)
    wait_for_completion_killable(&done)               kernel_thread() → copy_process():
                                                      task_struct and stack, GFP_KERNEL
                                                      (direct reclaim, and so
                                                      drain_all_pages(), may run here)
                    ◀──────────────────────────────   complete(&create->done)

So a worker pool that needs a worker waits for kthreadd, and kthreadd's own allocation can
enter direct reclaim and ``drain_all_pages()``: if that drain waits for a work that needs a
new worker, nothing can make one (H8).  The workqueue's answer is the rescuer of
``WQ_MEM_RECLAIM`` workqueues, which never needs kthreadd.

Simplified: the thread's memory is one order-0 GFP_KERNEL page (x86-64 allocates a 16 KiB
stack, ``THREAD_SIZE_ORDER`` 2, from vmalloc'd order-0 pages with ``CONFIG_VMAP_STACK``
since v4.9, plus slab objects); creation then costs ``costs.create_worker_ns``.  kthreadd
is spawned with the first request (a machine that never creates a thread runs without it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._core import Actor, Completion, Waitable
from ._gfp import GFP_KERNEL, PF_KTHREAD
from ._task import task_of

if TYPE_CHECKING:
    from ._machine import Machine

__all__ = ["Kthreadd", "kthread_create"]


class _Create:
    """``struct kthread_create_info``: what to make, and the creator's completion."""

    def __init__(self, m: Machine, name: str, make: Callable[[], Any]) -> None:
        self.name = name
        self.make = make
        self.result: Any = None
        self.kthreadd = m.kthreadd
        self.done = Completion(m.engine, f"kthread_create {name}", self._holders)

    def _holders(self) -> Sequence[Actor | Waitable]:
        a = self.kthreadd.actor
        return [a] if a is not None else []


class Kthreadd:
    """The ``kthreadd`` thread and its ``kthread_create_list``."""

    #: kthreadd sleeps in TASK_INTERRUPTIBLE while its list is empty (an idle wait).
    idle = True

    def __init__(self, m: Machine) -> None:
        self.m = m
        self.requests: deque[_Create] = deque()
        self.actor: Actor | None = None
        self.sleeping = False

    @property
    def wait_name(self) -> str:
        return "kthreadd idle"

    def wait_holders(self) -> Sequence[Actor | Waitable]:
        return ()

    def submit(self, create: _Create) -> None:
        self.requests.append(create)
        e = self.m.engine
        if self.actor is None:
            self.actor = e.spawn(_kthreadd, self.m, self, name="kthreadd", cpu=None, daemon=True)
            task_of(self.actor).flags |= PF_KTHREAD
        elif self.sleeping:
            self.sleeping = False
            e.wake(self.actor)  # wake_up_process(kthreadd_task)


async def _kthreadd(m: Machine, k: Kthreadd) -> None:
    e = m.engine
    while True:
        while not k.requests:
            k.sleeping = True
            await e.block(k, "kthreadd_idle")
        await _create_kthread(m, k.requests.popleft())


async def _create_kthread(m: Machine, create: _Create) -> None:
    """``create_kthread`` → ``kernel_thread`` → ``copy_process``: the new thread's memory,
    allocated by kthreadd with GFP_KERNEL; on failure the creator gets an error."""
    pfn = await m.alloc_pages(GFP_KERNEL, owner=f"task {create.name}")
    if pfn is not None:
        await m.engine.spend(m.costs.create_worker_ns)
        create.result = create.make()
    create.done.complete()


async def kthread_create(m: Machine, name: str, make: Callable[[], Any]) -> Any:
    """``kthread_create_on_node()``: ask kthreadd to fork a thread (``make()`` starts it) and
    wait for it; returns what ``make()`` returned, or None if kthreadd's allocation failed."""
    create = _Create(m, name, make)
    m.kthreadd.submit(create)
    await create.done.wait()  # wait_for_completion_killable(&done)
    return create.result
