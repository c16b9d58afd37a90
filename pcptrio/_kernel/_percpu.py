"""The percpu allocator: ``alloc_percpu_gfp`` / ``free_percpu``.

Two paths, as in ``mm/percpu.c`` (v4.x):

* **GFP_KERNEL** takes ``pcpu_alloc_mutex``; if the populated area is short, it populates a
  new chunk — one page per possible CPU from the page allocator, which can enter direct
  reclaim (and so ``drain_all_pages``) *while holding the mutex*.  Hazard H6 is this chain
  meeting ``cpu_up``, which holds the hotplug lock and then needs the same mutex.
* **GFP_ATOMIC** never takes the mutex and never allocates pages: it only uses
  already-populated space (under ``pcpu_lock``) and fails when there is not enough.

The atomic pool refills asynchronously, as in v4.11's ``pcpu_alloc()``: an allocation that
leaves fewer than ``PCPU_EMPTY_POP_PAGES_LOW`` populated units free, or a GFP_ATOMIC
allocation that fails, schedules ``pcpu_balance_work`` (``schedule_work()``: the current
CPU's ``system_wq`` pool).  ``pcpu_balance_workfn`` takes ``pcpu_alloc_mutex`` and populates
with GFP_KERNEL pages (so it too can reclaim and drain), up to ``PCPU_EMPTY_POP_PAGES_HIGH``.
It is not scheduled before ``percpu_enable_async()`` (a ``subsys_initcall``).

Simplification: "populated space" is one counter of units rather than chunks and bitmaps
(a unit stands for a page of the kernel's ``pcpu_nr_empty_pop_pages``), a populate adds one
chunk's worth of units, and the balance work does not free empty chunks.  A GFP_ATOMIC
failure can also be injected (``pcpu_atomic_fail``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .._core import Mutex
from ._alloc import alloc_pages
from ._gfp import GFP_KERNEL, Gfp, gfp_name
from ._workqueue import WorkStruct

if TYPE_CHECKING:
    from ._machine import Machine

__all__ = ["PercpuAllocator", "PercpuArea", "PercpuStatistics"]

#: Units a freshly populated chunk adds.
UNITS_PER_CHUNK = 64
#: mm/percpu.c: below LOW empty populated pages an allocation schedules the balance work,
#: which populates up to HIGH.
PCPU_EMPTY_POP_PAGES_LOW = 2
PCPU_EMPTY_POP_PAGES_HIGH = 4


@attrs.define(eq=False)
class PercpuArea:
    """A percpu allocation of ``size`` units."""

    size: int
    atomic: bool
    freed: bool = False


@attrs.frozen
class PercpuStatistics:
    populated_free: int
    chunks_populated: int
    allocations: int
    atomic_failures: int
    kernel_failures: int
    balance_runs: int = 0


class PercpuAllocator:
    """``alloc_percpu_gfp`` under ``pcpu_alloc_mutex`` (see the module docstring)."""

    def __init__(self, m: Machine, populated: int) -> None:
        self.m = m
        self.mutex = Mutex(m.engine, "pcpu_alloc_mutex")
        self.populated_free = populated
        self.chunks = 0
        self.allocations = 0
        self.atomic_failures = 0
        self.kernel_failures = 0
        #: Probability of an injected GFP_ATOMIC failure (a recorded decision).
        self.atomic_fail_p = 0.0
        #: ``pcpu_atomic_alloc_failed``: the balance work populates a full HIGH's worth.
        self.atomic_alloc_failed = False
        self.balance_runs = 0
        #: ``static DECLARE_WORK(pcpu_balance_work, pcpu_balance_workfn)``
        self.balance_work = WorkStruct(
            _pcpu_balance_workfn, "pcpu_balance_workfn", "pcpu_balance_work", self
        )

    async def alloc_percpu_gfp(self, size: int, gfp: int) -> PercpuArea | None:
        m = self.m
        e = m.engine
        if not gfp & Gfp.DIRECT_RECLAIM:
            await e.point("pcpu_alloc", gfp=gfp_name(gfp), size=size)
            injected = self.atomic_fail_p > 0 and e.chance("pcpu_atomic_fail", self.atomic_fail_p)
            if injected or self.populated_free < size:
                self.atomic_failures += 1
                e.emit("pcpu_alloc_fail", gfp=gfp_name(gfp), injected=injected)
                # fail: "if (is_atomic) { pcpu_atomic_alloc_failed = true;
                # pcpu_schedule_balance_work(); }"
                self.atomic_alloc_failed = True
                await self._schedule_balance_work()
                return None
            self.populated_free -= size
            self.allocations += 1
            await self._balance_if_low()
            return PercpuArea(size, True)
        await self.mutex.lock()
        if self.populated_free < size and not await self._populate_chunk():
            self.kernel_failures += 1
            e.emit("pcpu_alloc_fail", gfp=gfp_name(gfp), injected=False)
            await self.mutex.unlock()
            return None
        self.populated_free -= size
        self.allocations += 1
        await self.mutex.unlock()
        await self._balance_if_low()
        return PercpuArea(size, False)

    async def _populate_chunk(self) -> bool:
        """``pcpu_populate_chunk``: a GFP_KERNEL page per possible CPU (``pcpu_alloc_mutex``
        held); False if the page allocator fails."""
        m = self.m
        for _cpu in range(m.nr_cpus):
            if await alloc_pages(m, GFP_KERNEL, owner="percpu") is None:
                return False
        self.chunks += 1
        self.populated_free += UNITS_PER_CHUNK
        return True

    async def _balance_if_low(self) -> None:
        """The end of ``pcpu_alloc()``: "if (pcpu_nr_empty_pop_pages <
        PCPU_EMPTY_POP_PAGES_LOW) pcpu_schedule_balance_work();"."""
        if self.populated_free < PCPU_EMPTY_POP_PAGES_LOW:
            await self._schedule_balance_work()

    async def _schedule_balance_work(self) -> None:
        """``pcpu_schedule_balance_work()``: ``schedule_work(&pcpu_balance_work)`` once
        ``percpu_enable_async()`` (``subsys_initcall``) has run; a no-op while the work is
        pending."""
        m = self.m
        if "subsys" in m.initcalls_done and m.system_wq is not None:
            await m.queue_work(m.system_wq, self.balance_work)

    async def balance(self) -> None:
        """``pcpu_balance_workfn``: under ``pcpu_alloc_mutex``, populate up to
        ``PCPU_EMPTY_POP_PAGES_HIGH`` (all of it after an atomic failure)."""
        await self.mutex.lock()
        self.balance_runs += 1
        if self.atomic_alloc_failed:
            nr_to_pop = PCPU_EMPTY_POP_PAGES_HIGH
            self.atomic_alloc_failed = False
        else:
            nr_to_pop = max(
                0, min(PCPU_EMPTY_POP_PAGES_HIGH - self.populated_free, PCPU_EMPTY_POP_PAGES_HIGH)
            )
        if nr_to_pop:
            await self._populate_chunk()
        await self.mutex.unlock()

    def free_percpu(self, area: PercpuArea) -> None:
        if not area.freed:
            area.freed = True
            self.populated_free += area.size

    def statistics(self) -> PercpuStatistics:
        return PercpuStatistics(
            self.populated_free,
            self.chunks,
            self.allocations,
            self.atomic_failures,
            self.kernel_failures,
            self.balance_runs,
        )


async def _pcpu_balance_workfn(work: WorkStruct) -> None:
    allocator: PercpuAllocator = work.data
    await allocator.balance()
