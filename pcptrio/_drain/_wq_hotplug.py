"""``wq-hotplug``: E3 v5 (23 Jan 2017) — ``wq-rfc`` inside ``get_online_cpus()``.

Vlastimil's review: ``queue_work_on``'s contract says the caller must keep the CPU from
going away, as ``lru_add_drain_all()`` does with ``get_online_cpus()``.  v5 wrapped the
allocation, queueing and flushing in ``get_online_cpus()`` / ``put_online_cpus()``.  That
closes H5 but puts the CPU hotplug lock inside the page allocator: ``cpu_up`` holds it and
needs ``pcpu_alloc_mutex``, while a percpu allocation holds that mutex and, through direct
reclaim, reaches ``get_online_cpus()`` (H6, Dmitry Vyukov's lockdep report).  Removed by E6
``a459eeb7b852``.
"""

from __future__ import annotations

from .._kernel import KERNEL_410, PF_WQ_WORKER, Machine, Protection, Zone
from ._base import DrainDesign
from ._common import CpuMask
from ._wq_rfc import wq_rfc_drain

__all__ = ["WQ_HOTPLUG"]

_KEY = "wq-hotplug"


def _setup(m: Machine) -> None:
    m.design_state[_KEY] = CpuMask(m.nr_cpus)


async def drain_all_pages(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    if m.current.flags & PF_WQ_WORKER:
        return
    await m.get_online_cpus()
    await wq_rfc_drain(m, zone, _KEY)
    await m.put_online_cpus()


WQ_HOTPLUG = DrainDesign(
    "wq-hotplug",
    drain_all_pages,
    eras=(Protection.PREEMPT, Protection.IRQ),
    kernel="E3 v5 (Jan 2017)",
    summary="wq-rfc inside get_online_cpus()/put_online_cpus()",
    commits=("0ccce3b92421",),
    setup=_setup,
    features=KERNEL_410,
)
