"""``wq-4.11``: the workqueue drain of v4.11 final … v4.14 (E5 + E6 + E7 + E8).

::

    drain_all_pages(zone)
        WARN_ON_ONCE(!mm_percpu_wq) → return                       # E7 (+ early-init fix)
        current->flags & PF_WQ_WORKER → return                     # until ~v4.15 (E10)
        if (!mutex_trylock(&pcpu_drain_mutex)) {                   # E5 bd233f538d51
                if (!zone) return;       /* global callers: someone is draining */
                mutex_lock(&pcpu_drain_mutex);  /* zone callers need completion */
        }
        build static cpus_with_pcps (for_each_online_cpu, unlocked count)
        for_each_cpu: INIT_WORK(per_cpu_ptr(&pcpu_drain, cpu), drain_local_pages_wq);
                      queue_work_on(cpu, mm_percpu_wq, work)        # E7 ce612879ddc7
        for_each_cpu: flush_work(per_cpu_ptr(&pcpu_drain, cpu))
        mutex_unlock(&pcpu_drain_mutex)

    drain_local_pages_wq:  preempt_disable(); drain_local_pages(NULL); preempt_enable();
                                                                    # E6 a459eeb7b852

The zone is used only to choose CPUs; the target drains every zone (fixed by E11 in 5.0).
``mm_percpu_wq`` is WQ_MEM_RECLAIM (a rescuer; E8 dropped WQ_FREEZABLE).  No hotplug lock
(E6 removed v5's): a CPU may go offline after the mask is built; the work then runs on an
unbound worker, and ``preempt_disable`` keeps it from migrating mid-drain — draining that
other CPU is acceptable, ``page_alloc_cpu_dead`` drains the dead one.
"""

from __future__ import annotations

from typing import Any

from .._core import Mutex
from .._kernel import (
    KERNEL_410,
    PF_WQ_WORKER,
    Machine,
    Protection,
    Workqueue,
    WorkStruct,
    Zone,
)
from ._base import DrainDesign
from ._common import CpuMask, build_cpus_with_pcps, flush_in_nursery

__all__ = [
    "WQ_411",
    "StaticDrainState",
    "drain_all_pages_411",
    "drain_local_pages_wq",
    "locked_queue_and_flush",
    "static_setup",
]


class StaticDrainState:
    """The static state of the 4.11+ designs: mask, per-CPU ``pcpu_drain`` works, mutex."""

    def __init__(self, m: Machine, func: Any) -> None:
        self.mask = CpuMask(m.nr_cpus)
        self.mutex = Mutex(m.engine, "pcpu_drain_mutex")
        self.works = [
            WorkStruct(func, "drain_local_pages_wq", f"pcpu_drain[{c}]", (m, None))
            for c in range(m.nr_cpus)
        ]


def static_setup(key: str, func: Any) -> Any:
    def setup(m: Machine) -> None:
        m.design_state[key] = StaticDrainState(m, func)

    return setup


async def drain_local_pages_wq(work: WorkStruct) -> None:
    m, _zone = work.data
    e = m.engine
    e.preempt_disable()
    await m.drain_local_pages(None)  # zone ignored on the target before 5.0
    e.preempt_enable()


async def locked_queue_and_flush(
    m: Machine, st: StaticDrainState, zone: Zone | None, func: Any, wq: Workqueue | None = None
) -> None:
    """The common 4.11+ tail: trylock, mask, queue static works on ``wq`` (default
    ``mm_percpu_wq``; v4.11-rc1's ``schedule_work_on`` is ``system_wq``), flush."""
    if not await st.mutex.trylock():
        if zone is None:
            return
        await st.mutex.lock()
    await build_cpus_with_pcps(m, st.mask, zone)
    if wq is None:
        wq = m.mm_percpu_wq
    assert wq is not None
    for cpu in st.mask.cpus():
        work = st.works[cpu]
        work.data = (m, zone)
        work.init(func, "drain_local_pages_wq")
        await m.queue_work_on(cpu, wq, work)
    await flush_in_nursery(m, [(cpu, st.works[cpu]) for cpu in st.mask.cpus()])
    await st.mutex.unlock()


async def drain_all_pages_411(m: Machine, zone: Zone | None, key: str) -> None:
    """E7's ``drain_all_pages()``: the WARN for an early caller, the PF_WQ_WORKER return, then
    the locked tail on ``mm_percpu_wq`` (shared by ``wq-4.11`` and ``wq-4.11-next``, whose
    kernels differ in when and how they create the workqueue, not here)."""
    if m.mm_percpu_wq is None:
        m.sensors.warn("mm/page_alloc.c: drain_all_pages: WARN_ON_ONCE(!mm_percpu_wq)")
        return
    if m.current.flags & PF_WQ_WORKER:
        return
    await locked_queue_and_flush(m, m.design_state[key], zone, drain_local_pages_wq)


async def drain_all_pages(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    await drain_all_pages_411(m, zone, "wq-4.11")


WQ_411 = DrainDesign(
    "wq-4.11",
    drain_all_pages,
    eras=(Protection.IRQ, Protection.PREEMPT),
    kernel="v4.11 final .. v4.14 (E5+E6+E7+E8)",
    summary="static per-CPU works; pcpu_drain_mutex trylock (zone==NULL callers return); "
    "mm_percpu_wq (WQ_MEM_RECLAIM); work fn under preempt_disable; PF_WQ_WORKER return; "
    "zone ignored on the target",
    commits=("bd233f538d51", "a459eeb7b852", "ce612879ddc7"),
    setup=static_setup("wq-4.11", drain_local_pages_wq),
    features=KERNEL_410,
)
