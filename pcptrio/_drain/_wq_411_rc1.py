"""``wq-4.11-rc1``: the drain that v4.11-rc1 … rc5 shipped (E3 v5 + E4 + E5 + E6 together).

E3, E4, E5 and E6 went into the same merge window, so the first 4.11 release candidates had
static per-CPU works, ``pcpu_drain_mutex`` and ``preempt_disable()`` in the work function,
with the works still queued by ``schedule_work_on()``, i.e. on ``system_wq`` (no rescuer),
and PCPs protected by disabled preemption only (E4 ``374ad05ab64d``, reverted by E9
``d34b0733b452`` before v4.11).  This is the configuration of Hugh Dickins' hangs under swap
load on 4.11-rc (``alpine.LSU.2.11.1704051331420.4288@eggly.anvils``)::

    drain_all_pages(zone)
        current->flags & PF_WQ_WORKER → return                      # "Workqueues cannot recurse"
        if (!mutex_trylock(&pcpu_drain_mutex)) {                    # E5 bd233f538d51
                if (!zone) return;
                mutex_lock(&pcpu_drain_mutex);
        }
        build static cpus_with_pcps (for_each_online_cpu, unlocked count)
        for_each_cpu: INIT_WORK(per_cpu_ptr(&pcpu_drain, cpu), drain_local_pages_wq);
                      schedule_work_on(cpu, work)                   # system_wq
        for_each_cpu: flush_work(per_cpu_ptr(&pcpu_drain, cpu))
        mutex_unlock(&pcpu_drain_mutex)

    drain_local_pages_wq:  preempt_disable(); drain_local_pages(NULL); preempt_enable();
                                                                     # E6 a459eeb7b852

E7 ``ce612879ddc7`` ("mm: move pcp and lru-pcp draining into single wq", Michal Hocko,
2017-04-07) replaced ``schedule_work_on(cpu, work)`` with ``queue_work_on(cpu, mm_percpu_wq,
work)``: ``git blame`` of v4.11's ``mm/swap.c`` and ``mm/page_alloc.c`` shows that line from
that commit, so rc1 … rc5 queued on ``system_wq``.  Before E7 there is no ``mm_percpu_wq``,
hence no ``WARN_ON_ONCE(!mm_percpu_wq)``.

Simplified: E4 also made IRQ-context allocations and frees bypass the PCP
(``in_interrupt()`` → the buddy under ``zone->lock``).  No built-in scenario allocates or
frees from an interrupt, so the bypass changes nothing here; the ``preempt`` era of the
machine models the PCP side of E4.
"""

from __future__ import annotations

from .._kernel import KERNEL_410, PF_WQ_WORKER, Machine, Protection, Zone
from ._base import DrainDesign
from ._wq_411 import drain_local_pages_wq, locked_queue_and_flush, static_setup

__all__ = ["WQ_411_RC1"]

_KEY = "wq-4.11-rc1"


async def drain_all_pages(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    if m.current.flags & PF_WQ_WORKER:  # "Workqueues cannot recurse"
        return
    # The works of wq-4.11, queued with schedule_work_on(cpu, work): on system_wq.
    await locked_queue_and_flush(
        m, m.design_state[_KEY], zone, drain_local_pages_wq, wq=m.system_wq
    )


WQ_411_RC1 = DrainDesign(
    _KEY,
    drain_all_pages,
    eras=(Protection.PREEMPT, Protection.IRQ),
    kernel="v4.11-rc1 .. rc5 (E3 v5+E4+E5+E6)",
    summary="static per-CPU works; pcpu_drain_mutex trylock (zone==NULL callers return); "
    "schedule_work_on = system_wq (no rescuer); work fn under preempt_disable; "
    "PF_WQ_WORKER return; zone ignored on the target; preempt-only PCP",
    commits=("0ccce3b92421", "374ad05ab64d", "bd233f538d51", "a459eeb7b852"),
    setup=static_setup(_KEY, drain_local_pages_wq),
    features=KERNEL_410,
)
