"""``wq-4.11-next``: E7 as it first stood in linux-next / mmotm (March 2017).

``ce612879ddc7`` ("mm: move pcp and lru-pcp draining into single wq", Michal Hocko) moved the
drain works from ``system_wq`` to a new ``mm_percpu_wq`` with a rescuer, on top of what
v4.11-rc1 shipped (``wq-4.11-rc1``: static works, ``pcpu_drain_mutex``, ``preempt_disable``
in the work function, the preempt-only PCP of E4).  As first posted it created the
workqueue ``WQ_MEM_RECLAIM | WQ_FREEZABLE`` in ``module_init(setup_vmstat)``, and
``drain_all_pages()`` gained ``WARN_ON_ONCE(!mm_percpu_wq)`` for callers that come earlier::

    drain_all_pages(zone)
        if (WARN_ON_ONCE(!mm_percpu_wq)) return;               # E7
        current->flags & PF_WQ_WORKER → return
        mutex_trylock(&pcpu_drain_mutex) (zone callers: mutex_lock)
        build static cpus_with_pcps
        for_each_cpu: INIT_WORK + queue_work_on(cpu, mm_percpu_wq, work)
        for_each_cpu: flush_work
        mutex_unlock

Two reports followed, each fixed before v4.11:

* an early-boot CMA allocation drained before ``module_init`` and hit the WARN (reported on
  4.11.0-rc1-next-20170310; fixed by "mm: move mm_percpu_wq initialization earlier",
  ``20170315164021.28532-1-mhocko@kernel.org``, which creates it in ``init_mm_internals()``
  right after ``workqueue_init()``) — H9;
* a device's resume path drained while the freezable workqueue was still frozen and waited
  for the thaw that comes after it (4.11.0-rc7; fixed by E8 "mm: make mm_percpu_wq non
  freezable") — H10.

The machine creates ``mm_percpu_wq`` as the design's features say (``KernelFeatures``:
``module_init``, freezable); the control flow is ``wq-4.11``'s with the rc1 PCP.
"""

from __future__ import annotations

import attrs

from .._kernel import KERNEL_410, Machine, Protection, Zone
from ._base import DrainDesign
from ._wq_411 import drain_all_pages_411, drain_local_pages_wq, static_setup

__all__ = ["WQ_411_NEXT"]

_KEY = "wq-4.11-next"


async def drain_all_pages(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    await drain_all_pages_411(m, zone, _KEY)


WQ_411_NEXT = DrainDesign(
    _KEY,
    drain_all_pages,
    eras=(Protection.PREEMPT, Protection.IRQ),
    kernel="linux-next 2017-03 (E3 v5+E4+E5+E6+E7 as posted)",
    summary="wq-4.11-rc1 with the works on mm_percpu_wq (WQ_MEM_RECLAIM | WQ_FREEZABLE, "
    "created in module_init) and the WARN_ON_ONCE(!mm_percpu_wq) return",
    commits=("ce612879ddc7", "a459eeb7b852", "bd233f538d51", "374ad05ab64d"),
    setup=static_setup(_KEY, drain_local_pages_wq),
    features=attrs.evolve(KERNEL_410, mm_percpu_wq_init="module_init", mm_percpu_wq_freezable=True),
)
