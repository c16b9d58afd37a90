"""``wq-rfc``: the workqueue drain as first posted (E3 v1/v4, 17 Jan 2017).

From ``[PATCH 3/4] mm, page_alloc: Drain per-cpu pages from workqueue context`` (merged as
``0ccce3b92421``; this is the v1/v4 form, before v5's hotplug lock):

1. ``current->flags & PF_WQ_WORKER`` → return ("workqueues cannot recurse"; no drain);
2. ``works = alloc_percpu_gfp(struct work_struct, GFP_ATOMIC)`` — per call, not freed in
   the posted diff;
3. build the static shared ``cpus_with_pcps`` mask;
4. allocation succeeded: ``INIT_WORK`` + ``schedule_work_on`` (**system_wq**, no rescuer)
   for each CPU in the mask, then flush each.  Both loops are ``for_each_cpu(cpu,
   &cpus_with_pcps)`` over the shared, unlocked mask, read as they go: a bit another caller
   clears between the loops leaves a queued work unflushed (the caller returns before it
   ran), and a bit it sets makes the caller flush a percpu work it never initialised
   (zeroed memory: ``flush_work`` finds no pool and returns at once; the
   ``WARN_ON(!work->func)`` there came in v4.19);
5. allocation failed: serially, an on-stack work per CPU, ``schedule_work_on`` +
   ``flush_work`` — one CPU at a time (H18);
6. ``drain_local_pages_wq`` calls ``drain_local_pages(NULL)`` without disabling preemption,
   so an unbound worker (its CPU went offline) can migrate between reading
   ``smp_processor_id()`` and draining (H5).

No hotplug protection, no serialisation between callers.  The PCP of its kernel was the
preempt-only one of E4, which is its default era.
"""

from __future__ import annotations

from .._kernel import (
    GFP_ATOMIC,
    KERNEL_410,
    PF_WQ_WORKER,
    Machine,
    Protection,
    WorkStruct,
    Zone,
)
from ._base import DrainDesign
from ._common import CpuMask, build_cpus_with_pcps, flush_in_nursery

__all__ = ["WQ_RFC", "wq_rfc_drain"]

_KEY = "wq-rfc"


def _setup(m: Machine) -> None:
    m.design_state[_KEY] = CpuMask(m.nr_cpus)


async def drain_local_pages_wq(work: WorkStruct) -> None:
    m: Machine = work.data
    await m.drain_local_pages(None)


async def wq_rfc_drain(m: Machine, zone: Zone | None, key: str = _KEY) -> None:
    """The body of E3 (shared with ``wq-hotplug``, which wraps it in the hotplug lock)."""
    mask: CpuMask = m.design_state[key]
    works = await m.alloc_percpu_gfp(1, GFP_ATOMIC)  # not freed, as posted
    await build_cpus_with_pcps(m, mask, zone)
    if works is not None:
        percpu: dict[int, WorkStruct] = {}  # per_cpu_ptr(works, cpu), once INIT_WORK'ed
        for cpu in range(m.nr_cpus):  # for_each_cpu(cpu, &cpus_with_pcps), read live
            if not mask.test(cpu):
                continue
            w = percpu[cpu] = WorkStruct(
                drain_local_pages_wq, "drain_local_pages_wq", f"drain[{cpu}]", m
            )
            await m.schedule_work_on(cpu, w)
        # for_each_cpu(cpu, &cpus_with_pcps) flush_work(per_cpu_ptr(works, cpu)), with the
        # mask as it is now; a CPU whose work was never initialised has nothing to wait for.
        await flush_in_nursery(m, [(c, percpu[c]) for c in mask.cpus() if c in percpu])
    else:
        for cpu in range(m.nr_cpus):  # serial fallback: on-stack work, one CPU at a time
            if not mask.test(cpu):  # for_each_cpu, read live
                continue
            w = WorkStruct(
                drain_local_pages_wq, "drain_local_pages_wq", f"drain[{cpu}]", m, on_stack=True
            )
            await m.schedule_work_on(cpu, w)
            await m.flush_work(w)


async def drain_all_pages(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    if m.current.flags & PF_WQ_WORKER:
        return
    await wq_rfc_drain(m, zone)


WQ_RFC = DrainDesign(
    "wq-rfc",
    drain_all_pages,
    eras=(Protection.PREEMPT, Protection.IRQ),
    kernel="E3 as posted (v1/v4, Jan 2017)",
    summary="PF_WQ_WORKER return; per-call alloc_percpu_gfp(GFP_ATOMIC) works or serial "
    "on-stack fallback; schedule_work_on (system_wq); no hotplug lock, no mutex; work fn "
    "drains this CPU without disabling preemption",
    commits=("0ccce3b92421",),
    setup=_setup,
    features=KERNEL_410,
)
