"""The percpu allocator: ``alloc_percpu_gfp`` / ``free_percpu``.

Two paths, as in ``mm/percpu.c`` (v4.x):

* **GFP_KERNEL** takes ``pcpu_alloc_mutex``; if the populated area is short, it populates a
  new chunk — one page per possible CPU from the page allocator, which can enter direct
  reclaim (and so ``drain_all_pages``) *while holding the mutex*.  Hazard H6 is this chain
  meeting ``cpu_up``, which holds the hotplug lock and then needs the same mutex.
* **GFP_ATOMIC** never takes the mutex and never allocates pages: it only uses
  already-populated space (under ``pcpu_lock``) and fails when there is not enough.

Simplification: "populated space" is one counter of units rather than chunks and bitmaps;
the asynchronous balance work that repopulates it is not modelled (only GFP_KERNEL
allocations populate).  A GFP_ATOMIC failure can also be injected (``pcpu_atomic_fail``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .._core import Mutex
from ._alloc import alloc_pages
from ._gfp import GFP_KERNEL, Gfp, gfp_name

if TYPE_CHECKING:
    from ._machine import Machine

__all__ = ["PercpuAllocator", "PercpuArea", "PercpuStatistics"]

#: Units a freshly populated chunk adds.
UNITS_PER_CHUNK = 64


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

    async def alloc_percpu_gfp(self, size: int, gfp: int) -> PercpuArea | None:
        m = self.m
        e = m.engine
        if not gfp & Gfp.DIRECT_RECLAIM:
            await e.point("pcpu_alloc", gfp=gfp_name(gfp), size=size)
            injected = self.atomic_fail_p > 0 and e.chance("pcpu_atomic_fail", self.atomic_fail_p)
            if injected or self.populated_free < size:
                self.atomic_failures += 1
                e.emit("pcpu_alloc_fail", gfp=gfp_name(gfp), injected=injected)
                return None
            self.populated_free -= size
            self.allocations += 1
            return PercpuArea(size, True)
        await self.mutex.lock()
        if self.populated_free < size:
            for _cpu in range(m.nr_cpus):  # pcpu_populate_chunk: a page per possible CPU
                pfn = await alloc_pages(m, GFP_KERNEL, owner="percpu")
                if pfn is None:
                    self.kernel_failures += 1
                    e.emit("pcpu_alloc_fail", gfp=gfp_name(gfp), injected=False)
                    await self.mutex.unlock()
                    return None
            self.chunks += 1
            self.populated_free += UNITS_PER_CHUNK
        self.populated_free -= size
        self.allocations += 1
        await self.mutex.unlock()
        return PercpuArea(size, False)

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
        )
