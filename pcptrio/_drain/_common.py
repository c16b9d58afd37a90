"""Code shared by the historical designs, exactly as the kernels shared it.

* :class:`CpuMask` and :func:`build_cpus_with_pcps` — the function-static ``cpus_with_pcps``
  mask (v3.4 E1 … 6.x), built over online CPUs with an unlocked ``pcp->count`` read per CPU.
  It is *shared* by every caller of the design: before the v4.11 mutex (E5) concurrent callers
  overwrite each other's bits (H3).  ``force_all_cpus`` (v5.11, E12) marks every online CPU.
* :func:`flush_in_nursery` — the workqueue designs' flush loop in structured form: one
  flusher actor per queued work in a nursery opened through the engine; the caller returns
  when every flusher has.  The flushers act for the caller: they carry its task flags
  (``PF_MEMALLOC``, ``PF_WQ_WORKER``), its worker and its drain call.
"""

from __future__ import annotations

from .._kernel import Machine, WorkStruct, Zone, task_of

__all__ = ["CpuMask", "build_cpus_with_pcps", "flush_in_nursery"]


class CpuMask:
    """A ``cpumask_t`` (one bit per possible CPU)."""

    def __init__(self, nr_cpus: int) -> None:
        self.bits = [False] * nr_cpus

    def cpus(self) -> list[int]:
        """``for_each_cpu(cpu, mask)``: the set bits, read now."""
        return [c for c, b in enumerate(self.bits) if b]

    def test(self, cpu: int) -> bool:
        """``cpumask_test_cpu(cpu, mask)``, read now."""
        return self.bits[cpu]


def has_pcps(m: Machine, cpu: int, zone: Zone | None) -> bool:
    """The unlocked ``pcp->count`` test of the mask loop (racy by design)."""
    if zone is not None:
        return m.pcp(cpu, zone).count > 0
    return any(m.pcp(cpu, z).count > 0 for z in m.zones)


async def build_cpus_with_pcps(
    m: Machine, mask: CpuMask, zone: Zone | None, force_all_cpus: bool = False
) -> None:
    """The mask loop of drain_all_pages(): ``for_each_online_cpu`` set or clear the bit."""
    e = m.engine
    for cpu in range(m.nr_cpus):
        if not m.cpu_online(cpu):
            continue
        has = True if force_all_cpus else has_pcps(m, cpu, zone)
        mask.bits[cpu] = has  # cpumask_set_cpu / cpumask_clear_cpu
        await e.point("cpus_with_pcps", target=cpu, has_pcps=has)


async def _flusher(m: Machine, work: WorkStruct) -> None:
    await m.flush_work(work)


async def flush_in_nursery(m: Machine, works: list[tuple[int, WorkStruct]]) -> None:
    """Flush ``works`` (``(cpu, work)`` pairs) in parallel; return when all are done."""
    e = m.engine
    me = e.current
    t = task_of(me)
    async with e.open_nursery() as n:
        for cpu, work in works:
            a = n.start_soon(_flusher, m, work, name=f"{me.name}/flush:cpu{cpu}")
            ft = task_of(a)
            ft.flags = t.flags
            ft.worker = t.worker
            ft.drain_call = t.drain_call
