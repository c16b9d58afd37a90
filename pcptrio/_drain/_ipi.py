"""``ipi``: drain_all_pages() by IPIs, v3.4 … v4.10 (E1 ``74046494ea68`` + E2).

::

    drain_all_pages(zone)
        for_each_online_cpu(cpu):                      # static, shared cpus_with_pcps
            pcp->count ? cpumask_set_cpu : cpumask_clear_cpu
        on_each_cpu_mask(&cpus_with_pcps, drain_local_pages, zone, wait=1)
                                                       # IPI to each, spin until all ACK

The handler runs ``drain_local_pages(zone)`` in hardirq context on each target.  E1's
comment: safe against IPIs to offline CPUs (the IPI path disables preemption); may miss CPUs
onlined after the mask was built.  Under a preempt-only PCP (4.11-rc E4) the handler can land
in the middle of a list update (H1); with N concurrent reclaimers it storms (H2).
"""

from __future__ import annotations

from .._kernel import KERNEL_410, Machine, Protection, Zone
from ._base import DrainDesign
from ._common import CpuMask, build_cpus_with_pcps

__all__ = ["IPI"]

_KEY = "ipi"


def _setup(m: Machine) -> None:
    m.design_state[_KEY] = CpuMask(m.nr_cpus)


async def _drain_local(m: Machine, zone: Zone | None) -> None:
    await m.drain_local_pages(zone)


async def drain_all_pages(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    mask: CpuMask = m.design_state[_KEY]
    await build_cpus_with_pcps(m, mask, zone)
    # The shared mask itself, not a copy: the local call re-reads this CPU's bit after the
    # wait (on_each_cpu_mask's cpumask_test_cpu), while other callers may rewrite it.
    await m.on_each_cpu_mask(mask, lambda z: _drain_local(m, z), zone, True)


IPI = DrainDesign(
    "ipi",
    drain_all_pages,
    eras=(Protection.IRQ, Protection.PREEMPT),
    kernel="v3.4 – v4.10 (E1/E2)",
    summary="static shared cpus_with_pcps mask; on_each_cpu_mask(wait=1) IPIs; "
    "drain_local_pages in IRQ context on each target",
    commits=("74046494ea68",),
    setup=_setup,
    features=KERNEL_410,
)
