"""Per-CPU page lists: the order-0 fast paths, bulk refill and spill, and the drain primitives.

Transcribed from v4.10 ``buffered_rmqueue`` / ``free_hot_cold_page`` / ``rmqueue_bulk`` /
``free_pcppages_bulk`` / ``drain_pages_zone``, and from v6.0 ``rmqueue_pcplist`` /
``free_unref_page`` for the spinlock era.  The protection around each PCP access depends on the
machine's era (:class:`~pcptrio._kernel._gfp.Protection`):

=========  ======================================  =========================================
era        fast path (alloc and free)              drain_pages_zone(cpu, zone)
=========  ======================================  =========================================
irq        local_irq_save … restore                 local_irq_save; valid for this CPU or a
preempt    preempt_disable … enable (E4)            dead one (v4.x contract)
spinlock   pcp->lock trylock (IRQs off); on         spin_lock(pcp->lock): any CPU may drain
           failure fall back to the buddy (6.0)     any PCP
=========  ======================================  =========================================

The multi-step list operations contain scheduling points exactly where the kernel could be
interrupted when its protection is broken, so a race really breaks the list:

::

    alloc (cpu1, preempt era)            IPI drain on cpu1
    ─────────────────────────            ─────────────────
    page = list head
    ──── point "pcp_alloc" ────────────▶ free_pcppages_bulk: page goes back to the buddy
                                          count = 0
    list_del(page)        (stale entry)
    count -= 1            (count = -1)
    hand page out         (page is both free and allocated: page-conservation)

    free (cpu2)                          drainer building its mask
    ───────────                          ─────────────────────────
    list_add(page)
    ──── point "pcp_free" ─────────────▶ reads cpu2's count: 0, skips cpu2 (H4)
    count += 1

Every PCP access is bracketed by :meth:`PerCpuPages.enter` / :meth:`PerCpuPages.exit`: the
``pcp-exclusive`` sensor that fires when a second actor enters a PCP someone is inside.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING

import attrs

from .._core import MSEC, Actor, Engine, SpinLock
from ._gfp import MIGRATE_PCPTYPES, Protection
from ._pagemap import PageError
from ._task import task_of

if TYPE_CHECKING:
    from ._machine import Machine
    from ._sensors import Sensors
    from ._zone import Zone

__all__ = [
    "PcpStatistics",
    "PerCpuPages",
    "drain_local_pages",
    "drain_pages",
    "drain_pages_zone",
    "drain_pages_zone_locked",
    "free_pcp_page",
    "free_pcppages_bulk",
    "rmqueue_bulk",
    "rmqueue_pcplist",
]

SPINLOCK = Protection.SPINLOCK
#: Virtual time per step of a CPU spinning for ever in ``free_pcppages_bulk()`` (a coarse
#: slice keeps the steps to the hard-lockup report about a thousand).
SPIN_SLICE_NS = 10 * MSEC
IRQ = Protection.IRQ


@attrs.frozen
class PcpStatistics:
    cpu: int
    zone: str
    count: int
    high: int
    batch: int
    allocs: int
    frees: int
    refills: int
    spills: int
    drained: int
    overlaps: int


class PerCpuPages:
    """``struct per_cpu_pages`` of one CPU for one zone."""

    def __init__(
        self, engine: Engine, cpu: int, zone: Zone, high: int, batch: int, sensors: Sensors
    ) -> None:
        self.cpu = cpu
        self.zone = zone
        # Invariant: outside every PCP critical section, count == sum(len(l) for l in lists).
        self.count = 0
        self.high = high
        self.batch = batch
        self.lists: list[deque[int]] = [deque() for _ in range(MIGRATE_PCPTYPES)]
        #: ``pcp->lock`` (used in the spinlock era only).
        self.lock = SpinLock(engine, f"cpu{cpu}.{zone.name}.pcp->lock")
        self._sensors = sensors
        self._engine = engine
        self._inside: dict[Actor, int] = {}
        self.allocs = self.frees = self.refills = self.spills = self.drained = 0
        self.overlaps = 0

    def __repr__(self) -> str:
        return f"<pcp cpu{self.cpu} {self.zone.name} count={self.count}>"

    @property
    def listed(self) -> int:
        return sum(len(lst) for lst in self.lists)

    @property
    def inside(self) -> list[Actor]:
        """Actors inside this PCP's critical section right now."""
        return list(self._inside)

    def enter(self, a: Actor) -> None:
        """``a`` starts touching this PCP's lists."""
        if a.cpu != self.cpu and self._engine.ahead:
            # The local-step validator: a thread running CPU-local steps ahead of the
            # machine's time touched another CPU's PCP (a wrong local declaration).
            self._engine.check_local(f"touching cpu{self.cpu}'s {self.zone.name} PCP")
        inside = self._inside
        if inside:
            depth = inside.get(a)
            if depth is not None:
                inside[a] = depth + 1
                return
            self.overlaps += 1
            first = next(iter(inside))
            for fn in self._sensors.pcp_overlap:
                fn(self, first, a)
        inside[a] = 1
        pcp_enter = self._sensors.pcp_enter
        if pcp_enter:
            for enter_fn in list(pcp_enter):
                enter_fn(self, a)

    def exit(self, a: Actor) -> None:
        inside = self._inside
        depth = inside.get(a, 0)
        if depth <= 1:
            inside.pop(a, None)
        else:
            inside[a] = depth - 1

    def statistics(self) -> PcpStatistics:
        return PcpStatistics(
            self.cpu,
            self.zone.name,
            self.count,
            self.high,
            self.batch,
            self.allocs,
            self.frees,
            self.refills,
            self.spills,
            self.drained,
            self.overlaps,
        )


# ------------------------------------------------------------------------- buddy <-> PCP


def _zone_lock(m: Machine, zone: Zone) -> Awaitable[int | None]:
    """``zone->lock`` for the bulk moves.  With IRQs off around PCP access (irq era, and
    under ``pcp->lock`` in the spinlock era) a plain ``spin_lock``; in the preempt era E4
    (``374ad05ab64d``) had to take it IRQ-safe, since IRQ-context allocations (which bypass
    the PCP) take ``zone->lock`` too — a plain lock there is an AA deadlock with an interrupt.

    Since v6.2 (the ``irqs-on`` ``pcp_lock`` feature) ``pcp->lock`` no longer disables IRQs,
    so ``rmqueue_bulk()`` / ``free_pcppages_bulk()`` take ``zone->lock`` with
    ``spin_lock_irqsave`` for the same reason.

    A plain function returning the lock's own coroutine (await it): no frame of its own."""
    era = m.protection
    if era is Protection.PREEMPT or (era is SPINLOCK and m.features.pcp_lock == "irqs-on"):
        return zone.lock.lock_irqsave()
    return zone.lock.lock()


def _zone_unlock(zone: Zone, flags: int | None) -> Awaitable[None]:
    if flags is None:
        return zone.lock.unlock()
    return zone.lock.unlock_irqrestore(flags)


async def rmqueue_bulk(m: Machine, zone: Zone, count: int, pcp: PerCpuPages, mt: int) -> int:
    """``rmqueue_bulk()``: move up to ``count`` order-0 pages from the buddy onto
    ``pcp.lists[mt]`` under one ``zone->lock`` hold; returns how many.  The caller adds them
    to ``pcp->count`` afterwards (the H4/H16 window)."""
    e = m.engine
    lst = pcp.lists[mt]
    pagemap = m.pagemap
    flags = await _zone_lock(m, zone)
    rmqueue_smallest = zone.rmqueue_smallest
    buddy_to_pcp = pagemap.buddy_to_pcp
    page_mt = pagemap.mt
    cpu = pcp.cpu
    alloced = 0
    for _ in range(count):
        pfn = rmqueue_smallest(0)
        if pfn is None:
            break
        buddy_to_pcp(pfn, cpu)
        page_mt[pfn] = mt
        lst.append(pfn)  # physical order: list_add after the previous page
        alloced += 1
    if alloced:
        pcp.refills += 1
        await e.spend(
            alloced * m.costs.bulk_page_ns,
            "rmqueue_bulk",
            target=cpu,
            zone=zone.name,
            pages=alloced,
        )
    await _zone_unlock(zone, flags)
    return alloced


async def free_pcppages_bulk(m: Machine, zone: Zone, count: int, pcp: PerCpuPages) -> int:
    """``free_pcppages_bulk()``: return ``count`` pages from ``pcp`` to the buddy under one
    ``zone->lock`` hold, round-robin over the lists, coldest (tail) first.

    Before 6.0 the caller adjusts ``pcp->count``; in the spinlock era (6.0+) this function
    decrements it per page.  Pages freed are attributed to the current drain call, if any.

    With the design's ``pcp_count_clamp`` feature (88e8ac11d2ea, v5.9, "mm: fix core hung in
    free_pcppages_bulk()") it starts with ``count = min(pcp->count, count)``; lists that run
    dry before ``count`` does then mean a corrupted ``pcp->count``, which the model reports
    (``count-mismatch``).  Without the clamp a ``count`` larger than the lists hold makes the
    search for a non-empty list spin for ever, with ``zone->lock`` held and IRQs off, as
    the kernel did: the hard-lockup watchdog reports the CPU (the ``lockup`` oracle).
    """
    e = m.engine
    a = e.current
    if m.features.pcp_count_clamp and count > pcp.count:
        count = max(pcp.count, 0)
    pagemap = m.pagemap
    pcp_to_buddy = pagemap.pcp_to_buddy
    free_one = zone.free_one_page
    lists = pcp.lists
    cpu = pcp.cpu
    dec = m.protection is SPINLOCK
    pcp.enter(a)
    flags = await _zone_lock(m, zone)
    migratetype = 0
    batch_free = 0
    freed = 0
    while count > 0:
        tries = 0
        lst = lists[0]
        while True:
            batch_free += 1
            migratetype = (migratetype + 1) % MIGRATE_PCPTYPES
            lst = lists[migratetype]
            if lst:
                break
            tries += 1
            if tries == MIGRATE_PCPTYPES:
                break
        if not lst:
            if not m.features.pcp_count_clamp:
                # Before 88e8ac11d2ea: "do { batch_free++; if (++migratetype ==
                # MIGRATE_PCPTYPES) migratetype = 0; list = &pcp->lists[migratetype]; }
                # while (list_empty(list));" never ends.  The run ends when a watchdog sees
                # the CPU (or at the run's time budget, with the watchdogs off).
                while True:
                    await e.spend(SPIN_SLICE_NS, "free_pcppages_bulk_spin")
            # Clamped: count says pages remain that the lists do not hold, a corrupted
            # pcp->count; report and stop.
            pagemap.report(
                PageError(
                    "count-mismatch",
                    f"cpu{pcp.cpu}'s {zone.name} PCP lists are empty while {count} more "
                    f"pages were to be freed (count={pcp.count})",
                    None,
                    {"cpu": pcp.cpu, "zone": zone.name, "count": pcp.count, "missing": count},
                )
            )
            break
        if batch_free == MIGRATE_PCPTYPES:  # the only non-empty list: free them all
            batch_free = count
        while True:
            pfn = lst.pop()
            pcp_to_buddy(pfn, cpu)
            free_one(pfn, 0)
            freed += 1
            if dec:
                pcp.count -= 1
            count -= 1
            batch_free -= 1
            if not (count > 0 and batch_free > 0 and lst):
                break
        await e.point("pcp_bulk_free", target=cpu, zone=zone.name, freed=freed)
    if freed:
        await e.spend(freed * m.costs.bulk_page_ns)
        call = task_of(a).drain_call
        if call is not None:
            call.pages[cpu] = call.pages.get(cpu, 0) + freed
            for fn in m.sensors.drain_freed:
                fn(call, pcp, freed)
    await _zone_unlock(zone, flags)
    pcp.exit(a)
    return freed


# ------------------------------------------------------------------------- fast paths


def _check_count(m: Machine, pcp: PerCpuPages) -> None:
    """At the end of an access by the only actor inside, count must match the lists (the
    message is built only on a mismatch).  The fast paths test ``count`` against the lists
    inline and call this only when they differ."""
    lists = pcp.lists
    listed = len(lists[0]) + len(lists[1]) + len(lists[2])
    if pcp.count != listed and len(pcp._inside) == 1:
        _count_mismatch(m, pcp, listed)


def _count_mismatch(m: Machine, pcp: PerCpuPages, listed: int) -> None:
    m.pagemap.report(
        PageError(
            "count-mismatch",
            f"cpu{pcp.cpu}'s {pcp.zone.name} PCP count is {pcp.count} but its lists hold "
            f"{listed} pages",
            None,
            {"cpu": pcp.cpu, "zone": pcp.zone.name, "count": pcp.count, "listed": listed},
        )
    )


async def rmqueue_pcplist(m: Machine, zone: Zone, mt: int, owner: str) -> int | None:
    """Order-0 allocation from this CPU's PCP (``buffered_rmqueue`` / ``rmqueue_pcplist``).

    Returns a PFN, or None if the PCP could not be refilled — or, in the spinlock era, if
    ``pcp->lock`` was busy (the caller then falls back to the buddy, as 6.0 does).
    """
    e = m.engine
    a = e.current
    # smp_processor_id(), read here: nothing before the protection below is a scheduling
    # point, so the task cannot migrate in between.
    cpu = a.cpu
    assert cpu is not None  # the running actor holds its CPU
    era = m.protection
    flags: int | None = None
    if era is SPINLOCK:
        e.preempt_disable()  # pcpu_task_pin()
        pcp = zone.pcp[cpu]
        # 6.0: pcp_spin_trylock_irqsave; 6.2+: pcp_spin_trylock with IRQs left on, so an
        # interrupt on this CPU finds the lock taken and falls back to the buddy.
        if m.features.pcp_lock == "irqsave":
            flags = e.local_irq_save()
        if not await pcp.lock.trylock():
            if flags is not None:
                e.local_irq_restore(flags)
            e.preempt_enable()
            e.count("pcp_trylock_fail")
            return None
    elif era is IRQ:
        flags = e.local_irq_save()
        pcp = zone.pcp[cpu]
    else:
        e.preempt_disable()
        pcp = zone.pcp[cpu]

    # The body of the order-0 allocation (protection held).  Written out here rather than
    # in a helper coroutine: every scheduling point inside resumes one frame less.
    pcp.enter(a)
    lst = pcp.lists[mt]
    if not lst:
        n = await rmqueue_bulk(m, zone, pcp.batch, pcp, mt)
        pcp.count += n
    pfn: int | None = None
    if lst:
        pfn = lst[0]
        # The list update takes time (~25 ns): an unprotected interrupt or remote drainer
        # that arrives meanwhile finds it half done.  A CPU-local step (the list is this
        # CPU's own): it may run ahead of the machine's time, and anything due that could
        # touch this PCP (an IPI, a drainer, a kworker) stops it first.
        await e.spend(
            m.costs.pcp_op_ns, "pcp_alloc", local=True, target=pcp.cpu, zone=zone.name, pfn=pfn
        )
        if lst and lst[0] == pfn:
            lst.popleft()
        elif pfn in lst:
            lst.remove(pfn)  # somebody rearranged the list under us: a stale list_del
        pcp.count -= 1
        pcp.allocs += 1
        m.pagemap.pcp_to_alloc(pfn, pcp.cpu, owner)
        lists = pcp.lists
        if pcp.count != len(lists[0]) + len(lists[1]) + len(lists[2]):
            _check_count(m, pcp)
    pcp.exit(a)

    if era is SPINLOCK:
        if flags is None:
            await pcp.lock.unlock()
        else:
            await pcp.lock.unlock_irqrestore(flags)
        e.preempt_enable()  # pcpu_task_unpin()
    elif era is IRQ:
        assert flags is not None
        e.local_irq_restore(flags)
    else:
        e.preempt_enable()
    await e.preempt_point()
    return pfn


async def free_pcp_page(m: Machine, pfn: int, cold: bool = False) -> None:
    """Order-0 free into this CPU's PCP (``free_hot_cold_page`` / ``free_unref_page``)."""
    e = m.engine
    for zone in m.zones:  # page_zone(): m.zone_of(pfn), inlined
        if zone.base <= pfn < zone.base + zone.managed:
            break
    else:
        zone = m.zone_of(pfn)  # in no zone: raises
    a = e.current
    # smp_processor_id(), read here: nothing before the protection below is a scheduling
    # point, so the task cannot migrate in between.
    cpu = a.cpu
    assert cpu is not None  # the running actor holds its CPU
    era = m.protection
    flags: int | None = None
    if era is SPINLOCK:
        e.preempt_disable()
        pcp = zone.pcp[cpu]
        if m.features.pcp_lock == "irqsave":  # 6.0; 6.2+ leaves IRQs on (rmqueue_pcplist)
            flags = e.local_irq_save()
        if not await pcp.lock.trylock():
            if flags is not None:
                e.local_irq_restore(flags)
            e.preempt_enable()
            e.count("pcp_trylock_fail")
            await free_one_page(m, zone, pfn, 0)
            return
    elif era is IRQ:
        flags = e.local_irq_save()
        pcp = zone.pcp[cpu]
    else:
        e.preempt_disable()
        pcp = zone.pcp[cpu]

    # Link the page onto the PCP and spill a batch at ``high`` (protection held).  Written
    # out here rather than in a helper coroutine: one frame less per scheduling point.
    pcp.enter(a)
    pagemap = m.pagemap
    pagemap.alloc_to_pcp(pfn, pcp.cpu)
    lst = pcp.lists[pagemap.mt.get(pfn, 1)]
    if cold:
        lst.append(pfn)
    else:
        lst.appendleft(pfn)
    await e.spend(
        m.costs.pcp_op_ns, "pcp_free", local=True, target=pcp.cpu, zone=zone.name, pfn=pfn
    )
    pcp.count += 1
    pcp.frees += 1
    if pcp.count >= pcp.high:
        batch = pcp.batch
        pcp.spills += 1
        await free_pcppages_bulk(m, zone, batch, pcp)
        if era is not SPINLOCK:
            pcp.count -= batch
    lists = pcp.lists
    if pcp.count != len(lists[0]) + len(lists[1]) + len(lists[2]):
        _check_count(m, pcp)
    pcp.exit(a)

    if era is SPINLOCK:
        if flags is None:
            await pcp.lock.unlock()
        else:
            await pcp.lock.unlock_irqrestore(flags)
        e.preempt_enable()
    elif era is IRQ:
        assert flags is not None
        e.local_irq_restore(flags)
    else:
        e.preempt_enable()
    await e.preempt_point()


async def free_one_page(m: Machine, zone: Zone, pfn: int, order: int) -> None:
    """``free_one_page()``: straight to the buddy under ``zone->lock``."""
    flags = await zone.lock.lock_irqsave()
    m.pagemap.alloc_to_buddy_block(pfn, 1 << order)
    zone.free_one_page(pfn, order)
    await zone.lock.unlock_irqrestore(flags)


async def rmqueue_buddy(m: Machine, zone: Zone, order: int, mt: int, owner: str) -> int | None:
    """Allocation straight from the buddy under ``zone->lock`` (order > 0, or the 6.0
    fallback when the PCP lock is busy)."""
    flags = await zone.lock.lock_irqsave()
    pfn = zone.rmqueue_smallest(order)
    if pfn is not None:
        m.pagemap.buddy_to_alloc_block(pfn, 1 << order, owner, mt)
    await zone.lock.unlock_irqrestore(flags)
    return pfn


# ------------------------------------------------------------------------- drains


async def drain_pages_zone(m: Machine, cpu: int, zone: Zone) -> None:
    """``drain_pages_zone(cpu, zone)``: free every page of ``cpu``'s PCP for ``zone``.

    v4.x form (irq and preempt eras): local IRQs off; ``cpu`` must be the current CPU or a
    dead one.  In the spinlock era this is the lock-then-read form of 6.11
    (:func:`drain_pages_zone_locked`); designs that model another kernel's version (6.0's
    unlocked count check, 6.10's chunks) write their own from :func:`free_pcppages_bulk`.
    """
    if m.protection is SPINLOCK:
        await drain_pages_zone_locked(m, cpu, zone)
        return
    e = m.engine
    flags = e.local_irq_save()
    pcp = zone.pcp[cpu]
    count = pcp.count
    if count:
        pcp.drained += 1
        await free_pcppages_bulk(m, zone, count, pcp)
        pcp.count = 0
    e.local_irq_restore(flags)
    # IRQs back on: a pending interrupt runs and a preemptible caller (wq-rfc's work) can be
    # preempted and migrated here, between two zones of drain_pages(), as in the fast paths.
    await e.preempt_point()


async def drain_pages_zone_locked(m: Machine, cpu: int, zone: Zone) -> None:
    """Spinlock-era drain of any CPU's PCP: take ``pcp->lock`` (``spin_lock_irqsave`` in
    6.0, ``spin_lock`` from 6.2), then read ``count``."""
    pcp = zone.pcp[cpu]
    if m.features.pcp_lock == "irqs-on":
        await pcp.lock.lock()
    else:
        flags = await pcp.lock.lock_irqsave()
    if pcp.count:
        pcp.drained += 1
        await free_pcppages_bulk(m, zone, pcp.count, pcp)
    if m.features.pcp_lock == "irqs-on":
        await pcp.lock.unlock()
    else:
        await pcp.lock.unlock_irqrestore(flags)


async def drain_pages(m: Machine, cpu: int) -> None:
    """``drain_pages(cpu)``: :func:`drain_pages_zone` for every populated zone."""
    for zone in m.zones:
        await drain_pages_zone(m, cpu, zone)


async def drain_local_pages(m: Machine, zone: Zone | None = None) -> None:
    """``drain_local_pages(zone)``: drain the CPU this runs on (``smp_processor_id()``).

    The CPU is read *before* the drain disables IRQs: a preemptible, unbound caller can be
    migrated at the point in between and then drains the CPU it read, from another one.
    """
    e = m.engine
    cpu = e.smp_processor_id()
    await e.point("drain_local_pages", target=cpu, zone=zone.name if zone else None)
    if zone is not None:
        await drain_pages_zone(m, cpu, zone)
    else:
        await drain_pages(m, cpu)
