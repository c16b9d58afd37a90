"""``wq-5.0``: ``wq-4.11`` plus E10 and E11 (v4.15 … v5.10 behaviour).

* E10 "mm, memory_hotplug: do not back off draining pcp free pages from kworker context"
  (Michal Hocko, Aug 2017): the ``PF_WQ_WORKER`` early return is gone — memory hot-remove runs
  in a kworker and needs the drain (H11); safe since mm_percpu_wq has a rescuer.
* E11 "mm, page_alloc: enable pcpu_drain with zone capability" (Wei Yang, v5.0):
  ``struct pcpu_drain { zone; work }``, the target drains only the requested zone (H12).
"""

from __future__ import annotations

from .._kernel import KernelFeatures, Machine, Protection, WorkStruct, Zone
from ._base import DrainDesign
from ._wq_411 import locked_queue_and_flush, static_setup

__all__ = ["WQ_50"]

_KEY = "wq-5.0"


async def drain_local_pages_wq(work: WorkStruct) -> None:
    m, zone = work.data  # container_of(work, struct pcpu_drain, work)->zone
    e = m.engine
    e.preempt_disable()
    await m.drain_local_pages(zone)
    e.preempt_enable()


async def drain_all_pages(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    if m.mm_percpu_wq is None:
        m.sensors.warn("mm/page_alloc.c: drain_all_pages: WARN_ON_ONCE(!mm_percpu_wq)")
        return
    await locked_queue_and_flush(m, m.design_state[_KEY], zone, drain_local_pages_wq)


WQ_50 = DrainDesign(
    "wq-5.0",
    drain_all_pages,
    eras=(Protection.IRQ, Protection.PREEMPT),
    kernel="v5.0 (E10+E11)",
    summary="wq-4.11 without the PF_WQ_WORKER return; the target drains only the requested zone",
    commits=("E10 (Aug 2017)", "E11 (Dec 2018)"),
    setup=static_setup(_KEY, drain_local_pages_wq),
    features=KernelFeatures(pcp_count_clamp=False),  # v5.0: before 88e8ac11d2ea (v5.9)
)
