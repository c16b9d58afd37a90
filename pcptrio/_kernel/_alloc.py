"""The page allocator: ``alloc_pages`` / ``free_pages``, the slow path, direct reclaim.

Fast path (``get_page_from_freelist`` with the low watermark): order 0 comes from this CPU's
PCP, higher orders from the buddy.  The watermark check counts only buddy pages
(``NR_FREE_PAGES`` excludes PCP pages), which is why draining PCPs can rescue an allocation.

Slow path, after v4.10 ``__alloc_pages_slowpath``::

    retry with the min watermark (GFP_ATOMIC also gets ALLOC_HIGH|ALLOC_HARDER)
    no __GFP_DIRECT_RECLAIM (GFP_ATOMIC)   -> fail, no reclaim
    PF_MEMALLOC already set                 -> ignore watermarks once, else fail (no recursion)
    loop, at most MAX_RECLAIM_RETRIES passes:
        __perform_reclaim: PF_MEMALLOC set around try_to_free_pages (the shrinkers)
        if it made progress:                            (__alloc_pages_direct_reclaim)
            retry; if that fails: drain_all_pages(NULL) once, retry
    -> fail (the model's OOM)

``drain_all_pages(NULL)`` is called after ``PF_MEMALLOC`` was cleared, and only when reclaim
made progress, as in the kernel (``__alloc_pages_direct_reclaim`` returns early otherwise).
Reclaimed pages are freed through the normal free path, so they land on the reclaiming CPU's
PCP — out of reach of the watermark check until a drain moves them to the buddy.

Allocation failure can also be injected (``fail_page_alloc``): a ``chance`` decision with the
machine's ``fail_page_alloc`` probability, recorded like any other choice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from ._gfp import GFP_KERNEL, MIGRATE_MOVABLE, PF_MEMALLOC, Gfp, Protection, gfp_name
from ._pcp import free_one_page, free_pcp_page, rmqueue_buddy, rmqueue_pcplist
from ._task import task_of

PREEMPT = Protection.PREEMPT

if TYPE_CHECKING:
    from ._machine import Machine
    from ._zone import Zone

__all__ = [
    "MAX_RECLAIM_RETRIES",
    "PageCache",
    "Shrinker",
    "alloc_pages",
    "free_pages",
]

MAX_RECLAIM_RETRIES = 16
SWAP_CLUSTER_MAX = 32

WMARK_LOW = 0
WMARK_MIN = 1
NO_WATERMARKS = 2


class Shrinker(Protocol):
    """Reclaimable memory a workload supplies (``try_to_free_pages`` calls it)."""

    name: str

    async def shrink(self, m: Machine, nr_to_scan: int) -> int:
        """Free up to ``nr_to_scan`` pages; return how many were freed."""
        ...

    def reclaimable(self) -> int: ...


class PageCache:
    """A page cache: pages a workload filled, which reclaim may drop (clean pages)."""

    def __init__(self, name: str = "pagecache") -> None:
        self.name = name
        self.pages: deque[int] = deque()

    def add(self, m: Machine, pfn: int) -> None:
        m.pagemap.give(pfn, self.name)
        self.pages.append(pfn)

    def reclaimable(self) -> int:
        return len(self.pages)

    async def shrink(self, m: Machine, nr_to_scan: int) -> int:
        freed = 0
        while self.pages and freed < nr_to_scan:
            pfn = self.pages.popleft()  # oldest first, like the inactive list
            await free_pages(m, pfn)
            freed += 1
        return freed


def _mark(zone: Zone, kind: int, gfp: int) -> int:
    wm = zone.watermarks
    mark = wm.low if kind == WMARK_LOW else wm.min
    if gfp & Gfp.HIGH:  # ALLOC_HIGH
        mark -= mark // 2
    if not gfp & Gfp.DIRECT_RECLAIM:  # ALLOC_HARDER for atomic requests
        mark -= mark // 4
    return mark


async def get_page_from_freelist(
    m: Machine, zonelist: list[Zone], order: int, mt: int, kind: int, gfp: int, owner: str
) -> int | None:
    for zone in zonelist:
        # zone_watermark_ok(), inlined: buddy pages only (see Zone.watermark_ok).
        if kind != NO_WATERMARKS and zone.nr_free - (1 << order) < _mark(zone, kind, gfp):
            continue
        pfn: int | None = None
        # E4 (374ad05ab64d, the preempt-only PCP): "only use per-cpu allocator for irq-safe
        # requests": in_interrupt() allocations go straight to the buddy.
        if order == 0 and (m.protection is not PREEMPT or not m.engine.current.interrupt):
            pfn = await rmqueue_pcplist(m, zone, mt, owner)
            if pfn is None and m.protection is Protection.SPINLOCK:
                pfn = await rmqueue_buddy(m, zone, 0, mt, owner)
        else:
            pfn = await rmqueue_buddy(m, zone, order, mt, owner)
        if pfn is not None:
            return pfn
    return None


async def perform_reclaim(m: Machine, order: int) -> int:
    """``__perform_reclaim``: PF_MEMALLOC around ``try_to_free_pages`` (the shrinkers)."""
    e = m.engine
    t = task_of(e.current)
    old = t.flags & PF_MEMALLOC
    t.flags |= PF_MEMALLOC
    await e.point("direct_reclaim", order=order)
    progress = 0
    for s in m.shrinkers:
        if progress >= SWAP_CLUSTER_MAX:
            break
        progress += await s.shrink(m, SWAP_CLUSTER_MAX - progress)
    await e.spend(m.costs.reclaim_ns)
    t.flags = (t.flags & ~PF_MEMALLOC) | old
    m.count("reclaim_pages", progress)
    return progress


async def alloc_pages(
    m: Machine,
    gfp: int = GFP_KERNEL,
    order: int = 0,
    zone: Zone | None = None,
    mt: int = MIGRATE_MOVABLE,
    owner: str | None = None,
) -> int | None:
    """Allocate ``2**order`` pages; returns the first PFN or None (allocation failure)."""
    e = m.engine
    a = e.current
    owner = owner or a.name
    if m.fail_page_alloc > 0.0 and e.chance("fail_page_alloc", m.fail_page_alloc):
        e.count("alloc_fail_injected")
        e.emit("alloc_fail", why="injected", gfp=gfp_name(gfp), order=order)
        return None
    zonelist = [zone] if zone is not None else m.zones
    pfn = await get_page_from_freelist(m, zonelist, order, mt, WMARK_LOW, gfp, owner)
    if pfn is None:
        pfn = await _slowpath(m, gfp, order, zonelist, mt, owner)
    if pfn is not None:
        counters = e.counters  # e.count("page_allocs"), inlined
        counters["page_allocs"] = counters.get("page_allocs", 0) + 1
    return pfn


async def _slowpath(
    m: Machine, gfp: int, order: int, zonelist: list[Zone], mt: int, owner: str
) -> int | None:
    e = m.engine
    t = task_of(e.current)
    pfn = await get_page_from_freelist(m, zonelist, order, mt, WMARK_MIN, gfp, owner)
    if pfn is not None:
        return pfn
    if not gfp & Gfp.DIRECT_RECLAIM:
        m.count("alloc_fail_atomic")
        e.emit("alloc_fail", why="atomic", gfp=gfp_name(gfp), order=order)
        return None
    if t.flags & PF_MEMALLOC:
        pfn = await get_page_from_freelist(m, zonelist, order, mt, NO_WATERMARKS, gfp, owner)
        if pfn is None:
            e.emit("alloc_fail", why="memalloc-recursion", gfp=gfp_name(gfp), order=order)
        return pfn
    no_progress = 0
    for _ in range(MAX_RECLAIM_RETRIES):
        progress = await perform_reclaim(m, order)
        if progress:
            pfn = await get_page_from_freelist(m, zonelist, order, mt, WMARK_MIN, gfp, owner)
            if pfn is None:
                m.count("slowpath_drains")
                await m.drain_all_pages(None)
                pfn = await get_page_from_freelist(m, zonelist, order, mt, WMARK_MIN, gfp, owner)
            if pfn is not None:
                return pfn
        else:
            no_progress += 1
            if no_progress > 1 and not any(s.reclaimable() for s in m.shrinkers):
                break
    m.count("alloc_fail_oom")
    e.emit("alloc_fail", why="oom", gfp=gfp_name(gfp), order=order)
    return None


def free_pages(m: Machine, pfn: int, order: int = 0) -> Coroutine[Any, Any, None]:
    """Free ``2**order`` pages starting at ``pfn``: order 0 through this CPU's PCP.
    Await the result.

    The scheduling points are inside the PCP access (``pcp_free``) and the locks; the entry
    itself is not one — so this is a plain function that counts the free and returns the
    PCP (or buddy) free to await: no coroutine frame of its own on the hot path.
    """
    counters = m.engine.counters  # m.engine.count("page_frees"), inlined
    counters["page_frees"] = counters.get("page_frees", 0) + 1
    # E4: an in_interrupt() free goes straight to the buddy in the preempt-only era.
    if order == 0 and (m.protection is not PREEMPT or not m.engine.current.interrupt):
        return free_pcp_page(m, pfn)
    return free_one_page(m, m.zone_of(pfn), pfn, order)
