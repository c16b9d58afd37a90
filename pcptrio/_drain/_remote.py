"""``remote-6.0`` and ``remote-6.11``: the caller drains every target itself, under
``pcp->lock`` (E16, v6.0), with chunks (E17, v6.10) and a locked count re-read (E18, v6.11).

E16 ``4b23a68f9536`` / ``443c2accd1b6`` / ``01b44456a7aa`` (Mel Gorman, "Drain remote per-cpu
directly"): PCP lists are protected by a per-PCP spinlock, so the drainer takes each target's
``pcp->lock`` and frees directly — no IPI, no work item, no flush, no dependence on the target
CPU's scheduling.  The mutex and the static mask stay, with ``force_all_cpus`` (E12
``ec6e8c7e0314``, v5.11) for memory offline.  6.0's ``drain_pages_zone`` reads ``count``
*before* taking the lock::

    drainer (cpu0)                         cpu1: __rmqueue_pcplist, holding pcp->lock
    ──────────────                         ──────────────────────────────────────────
                                           rmqueue_bulk(): pages linked onto the list
    if (pcp->count)   /* reads 0 */ ──────
        skip cpu1                          pcp->count += alloced       (H16)

E17 ``55f77df7d715`` drains in chunks of ``batch << CONFIG_PCP_BATCH_SCALE_MAX`` per lock
hold (H17); E18 ``66eca1021a42`` re-reads ``count`` under the lock and loops until 0.
"""

from __future__ import annotations

from .._core import Mutex
from .._kernel import KernelFeatures, Machine, Protection, Zone
from ._base import DrainDesign
from ._common import CpuMask, build_cpus_with_pcps

__all__ = ["REMOTE_60", "REMOTE_611"]


class _RemoteState:
    def __init__(self, m: Machine) -> None:
        self.mask = CpuMask(m.nr_cpus)
        self.mutex = Mutex(m.engine, "pcpu_drain_mutex")


async def drain_pages_zone_60(m: Machine, cpu: int, zone: Zone) -> None:
    """v6.0 ``drain_pages_zone``: unlocked count check, then drain under ``pcp->lock``."""
    e = m.engine
    pcp = m.pcp(cpu, zone)
    count = pcp.count
    await e.point("drain_pages_zone", target=cpu, zone=zone.name, count=count)
    if count:
        flags = await pcp.lock.lock_irqsave()
        await m.free_pcppages_bulk(zone, pcp.count, pcp)
        await pcp.lock.unlock_irqrestore(flags)


async def drain_pages_zone_611(m: Machine, cpu: int, zone: Zone) -> None:
    """v6.11 ``drain_pages_zone``: lock, read count, drain a chunk, unlock, until empty.
    ``spin_lock(&pcp->lock)``: since 5749077415994 (v6.2) the lock leaves IRQs on."""
    pcp = m.pcp(cpu, zone)
    while True:
        await pcp.lock.lock()
        count = pcp.count
        if count:
            to_drain = min(count, pcp.batch << m.params.pcp_batch_scale_max)
            await m.free_pcppages_bulk(zone, to_drain, pcp)
            count -= to_drain
        await pcp.lock.unlock()
        if not count:
            return


def _make(
    name: str,
    drain_pages_zone: object,
    kernel: str,
    summary: str,
    commits: tuple[str, ...],
    features: KernelFeatures,
) -> DrainDesign:
    def setup(m: Machine) -> None:
        m.design_state[name] = _RemoteState(m)

    async def drain_all_pages(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
        st: _RemoteState = m.design_state[name]
        if not await st.mutex.trylock():
            if zone is None:
                return
            await st.mutex.lock()
        await build_cpus_with_pcps(m, st.mask, zone, force_all_cpus)
        for cpu in st.mask.cpus():
            for z in [zone] if zone is not None else m.zones:
                await drain_pages_zone(m, cpu, z)  # type: ignore[operator]
        await st.mutex.unlock()

    return DrainDesign(
        name,
        drain_all_pages,
        eras=(Protection.SPINLOCK,),
        kernel=kernel,
        summary=summary,
        commits=commits,
        setup=setup,
        features=features,
    )


REMOTE_60 = _make(
    "remote-6.0",
    drain_pages_zone_60,
    "v6.0 (E12+E16)",
    "PCP lists under pcp->lock; the caller drains every target CPU itself; mutex and "
    "force_all_cpus kept; drain_pages_zone reads count without the lock first",
    ("ec6e8c7e0314", "4b23a68f9536", "443c2accd1b6", "01b44456a7aa"),
    KernelFeatures(pcp_lock="irqsave"),  # 6.0: pcp_spin_trylock_irqsave / spin_lock_irqsave
)
REMOTE_611 = _make(
    "remote-6.11",
    drain_pages_zone_611,
    "v6.11 (E16+E17+E18)",
    "remote-6.0 with chunked drains under the lock and count re-read under the lock",
    ("4b23a68f9536", "55f77df7d715", "66eca1021a42"),
    KernelFeatures(pcp_lock="irqs-on"),  # 6.2+ (5749077415994): pcp->lock leaves IRQs on
)
