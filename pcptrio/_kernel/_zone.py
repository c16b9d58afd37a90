"""A zone: its buddy free lists, watermarks and ``zone->lock``.

The buddy allocator is the kernel's: free blocks of order 0..MAX_ORDER-1, an allocation
takes the smallest sufficient block and splits it (``expand()``: the upper halves go back to
the lower orders), a free merges with its buddy while the buddy is free at the same order
(``__free_one_page()``).

Simplifications (kernel facts they replace): free lists are not split by migratetype
(``free_area[order].free_list[mt]``), so there is no migratetype fallback or stealing; a page's
migratetype is that of the request that allocated it (the kernel uses the pageblock's).
Neither changes how pages move between the buddy and the PCPs, which is what the hazards are
about.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import attrs

from .._core import Engine, SpinLock
from ._params import MAX_ORDER

if TYPE_CHECKING:
    from ._pagemap import PageMap
    from ._pcp import PerCpuPages

__all__ = ["Watermarks", "Zone", "ZoneStatistics"]


@attrs.frozen
class Watermarks:
    min: int
    low: int
    high: int


@attrs.frozen
class ZoneStatistics:
    name: str
    managed: int
    nr_free: int
    watermarks: Watermarks
    lock_acquisitions: int
    lock_contended: int
    pages_allocated: int
    pages_freed: int


class Zone:
    """One zone of ``managed`` pages starting at PFN ``base``."""

    def __init__(
        self,
        engine: Engine,
        idx: int,
        name: str,
        base: int,
        managed: int,
        wmark_min: int,
        pagemap: PageMap,
    ) -> None:
        self.engine = engine
        self.idx = idx
        self.name = name
        self.base = base
        self.managed = managed
        self.watermarks = Watermarks(wmark_min, wmark_min + wmark_min // 4, wmark_min * 3 // 2)
        self.lock = SpinLock(engine, f"{name}.zone->lock")
        self.pagemap = pagemap
        # free_area[order]: block head -> None, in insertion order (LIFO pop, O(1) delete).
        self.free_area: list[dict[int, None]] = [{} for _ in range(MAX_ORDER)]
        self._order_of: dict[int, int] = {}  # free block head -> order
        self.nr_free = 0
        #: This zone's PCP on each CPU (filled in by the machine).
        self.pcp: list[PerCpuPages] = []
        self.allocated = 0
        self.freed = 0
        self._seed_free_area()

    def __repr__(self) -> str:
        return f"<Zone {self.name} free={self.nr_free}/{self.managed}>"

    def _seed_free_area(self) -> None:
        pfn, end = self.base, self.base + self.managed
        while pfn < end:
            order = MAX_ORDER - 1
            while order and ((pfn - self.base) % (1 << order) or pfn + (1 << order) > end):
                order -= 1
            self._add_block(pfn, order)
            self.nr_free += 1 << order
            pfn += 1 << order

    def contains(self, pfn: int) -> bool:
        return self.base <= pfn < self.base + self.managed

    def free_blocks(self) -> Iterator[tuple[int, int]]:
        for order, area in enumerate(self.free_area):
            for head in area:
                yield head, order

    def _add_block(self, head: int, order: int) -> None:
        self.free_area[order][head] = None
        self._order_of[head] = order

    # ---------------------------------------------------------------- buddy (zone->lock held)

    def rmqueue_smallest(self, order: int) -> int | None:
        """``__rmqueue_smallest()``: take a block of ``order``, splitting a larger one.
        Caller holds ``zone->lock``.  Returns the block's first PFN, or None."""
        free_area = self.free_area
        for found in range(order, MAX_ORDER):
            area = free_area[found]
            if not area:
                continue
            head, _ = area.popitem()
            order_of = self._order_of
            del order_of[head]
            # expand(): give back the upper halves (_add_block, inlined).
            current = found
            size = 1 << current
            while current > order:
                current -= 1
                size >>= 1
                free_area[current][head + size] = None
                order_of[head + size] = current
            self.nr_free -= 1 << order
            self.allocated += 1 << order
            return head
        return None

    def free_one_page(self, pfn: int, order: int) -> None:
        """``__free_one_page()``: return a block and merge with free buddies.
        Caller holds ``zone->lock``."""
        self.nr_free += 1 << order
        self.freed += 1 << order
        free_area = self.free_area
        order_of = self._order_of
        base = self.base
        managed = self.managed
        rel = pfn - base
        while order < MAX_ORDER - 1:
            buddy_rel = rel ^ (1 << order)
            buddy = base + buddy_rel
            if order_of.get(buddy) != order or buddy_rel + (1 << order) > managed:
                break
            del free_area[order][buddy]  # _del_block, inlined
            del order_of[buddy]
            rel &= ~(1 << order)
            order += 1
        head = base + rel
        free_area[order][head] = None  # _add_block, inlined
        order_of[head] = order

    # ---------------------------------------------------------------- watermarks

    def watermark_ok(self, order: int, mark: int) -> bool:
        """``zone_watermark_ok()``: free pages after this allocation stay above ``mark``.
        PCP pages do not count as free (``NR_FREE_PAGES`` excludes them)."""
        return self.nr_free - (1 << order) >= mark

    def statistics(self) -> ZoneStatistics:
        return ZoneStatistics(
            self.name,
            self.managed,
            self.nr_free,
            self.watermarks,
            self.lock.acquisitions,
            self.lock.contended,
            self.allocated,
            self.freed,
        )
