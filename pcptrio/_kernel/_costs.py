"""Virtual-time costs of kernel operations, in one place (``spec/kernel.md`` §5).

Defaults marked *measured* come from the sources quoted in the spec; those marked
*estimate* are §5.3's suggested model parameters, not kernel facts.  Every cost is
overridable per machine.

Only coarse operations spend virtual time: bulk page moves under ``zone->lock``, IPI
delivery, wake-ups, worker creation.  The order-0 fast path costs no virtual time by default
(``pcp_op_ns`` is reported as CPU work but not spent): charging ~50 ns per page would make
every workload step a timer event, so interleavings would follow the cost model instead of
the scheduler, which is what explores them.
"""

from __future__ import annotations

from typing import Any

import attrs

from .._core import MSEC, USEC

__all__ = ["Costs"]


@attrs.frozen
class Costs:
    """Named time costs (nanoseconds)."""

    #: measured: order-0 alloc+free ≈ 53 ns (Jesper, page_bench 2017); per op, not spent.
    pcp_op_ns: int = 50
    #: measured: ≈ 35–50 ns per page moved while holding zone->lock (Huang Ying 2023).
    bulk_page_ns: int = 40
    #: estimate: IPI delivery / round trip per target, 1–3 µs.
    ipi_ns: int = 2 * USEC
    #: estimate: queue→start on an idle kworker of an idle CPU, 5–50 µs.
    wakeup_ns: int = 10 * USEC
    #: estimate: kthread creation for a new kworker ("ms").
    create_worker_ns: int = 1 * MSEC
    #: estimate: one pass of direct reclaim over the page cache.
    reclaim_ns: int = 100 * USEC

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)
