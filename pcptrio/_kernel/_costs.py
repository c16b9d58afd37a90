"""Virtual-time costs of kernel operations, in one place.

Defaults marked *measured* come from the sources quoted in the spec; those marked
*estimate* are §5.3's suggested model parameters, not kernel facts.  Every cost is
overridable per machine.

The order-0 fast path spends ``pcp_op_ns`` *inside* its PCP critical section, between the
list update and the count update: that interval is the window in which an unprotected
interrupt (H1) or a migrated remote drainer (H5) finds a list half updated, and in which an
unlocked ``count`` read misses a linked page (H4/H16).  With a zero-length section those races
would need two actors to meet on the same virtual instant.  Actors that are runnable at the
same instant are interleaved by the scheduler at every point.
"""

from __future__ import annotations

from typing import Any

import attrs

from .._core import MSEC, USEC

__all__ = ["Costs"]


@attrs.frozen
class Costs:
    """Named time costs (nanoseconds)."""

    #: measured: order-0 alloc+free ≈ 53 ns (Jesper, page_bench 2017): ~25 ns per op, spent
    #: inside the PCP critical section.
    pcp_op_ns: int = 25
    #: measured: 28–52 ns per page moved while holding zone->lock (Huang Ying, 52166607ecc9:
    #: free_pcppages_bulk() of 63 pages 2.2–3.3 µs, of 2,047 pages 56–91 µs, four servers).
    bulk_page_ns: int = 40
    #: estimate: IPI delivery / round trip per target, 1–3 µs.
    ipi_ns: int = 2 * USEC
    #: estimate: queue→start on an idle kworker of an idle CPU, 5–50 µs.
    wakeup_ns: int = 10 * USEC
    #: estimate: the same for a highpri kworker (nice -20, ``HIGHPRI_NICE_LEVEL``): CFS lets a
    #: woken nice -20 task preempt a nice-0 one at once (``check_preempt_wakeup()``), so its
    #: queue→start is about a context switch, not a wait for the CPU.
    wakeup_highpri_ns: int = 2 * USEC
    #: estimate: kthread creation for a new kworker ("ms").
    create_worker_ns: int = 1 * MSEC
    #: estimate: one pass of direct reclaim over the page cache.
    reclaim_ns: int = 100 * USEC

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)
