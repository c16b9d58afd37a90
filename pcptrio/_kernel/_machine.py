"""The machine: CPUs, zones and their PCPs, the allocator, percpu, hotplug, IPIs, workqueues.

This is the kernel API a drain design is written against, in
kernel vocabulary::

    m.online_cpus()  m.cpu_online(cpu)  m.nr_cpus  m.zones  m.pcp(cpu, zone)
    m.current.flags & PF_WQ_WORKER
    await m.drain_pages_zone(cpu, zone)  await m.drain_pages(cpu)  await m.drain_local_pages(z)
    await m.free_pcppages_bulk(zone, count, pcp)      pcp.lock (spinlock era)
    await m.on_each_cpu_mask(mask, fn, info, wait=True)
    await m.queue_work_on(cpu, wq, work)  await m.flush_work(work)  m.mm_percpu_wq  m.system_wq
    await m.alloc_percpu_gfp(size, gfp)  await m.get_online_cpus()  await m.put_online_cpus()
    await m.alloc_pages(gfp)  await m.free_pages(pfn)  await m.cpu_down(cpu)  await m.cpu_up(cpu)

L1 does not know which design runs: ``drain_all_pages`` calls whatever ``drain_design`` was
installed (by L2/L3), wrapped in a :class:`~pcptrio._kernel._drainstats.DrainCall` for the
metrics and the oracles.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs

from .._core import Engine, RunResult, Scheduler
from ._alloc import PageCache, Shrinker
from ._alloc import alloc_pages as _alloc_pages
from ._alloc import free_pages as _free_pages
from ._costs import Costs
from ._drainstats import DrainCall
from ._features import KernelFeatures
from ._gfp import GFP_KERNEL, Protection
from ._hotplug import Hotplug, HotplugStatistics
from ._ipi import IpiStatistics, SharedCpuMask, on_each_cpu_mask
from ._kthread import Kthreadd
from ._lockup import arm_lockup_detectors
from ._pagemap import PageError, PageMap
from ._params import MachineParams, min_free_pages
from ._pcp import (
    PcpStatistics,
    PerCpuPages,
    drain_local_pages,
    drain_pages,
    drain_pages_zone,
    free_pcppages_bulk,
)
from ._percpu import PercpuAllocator, PercpuArea, PercpuStatistics
from ._sensors import Sensors
from ._task import TaskStruct, task_of
from ._workqueue import (
    Workqueue,
    Workqueues,
    WorkqueueStatistics,
    WorkStruct,
    flush_work,
    queue_work_on,
)
from ._zone import Zone, ZoneStatistics

__all__ = ["DrainDesignFn", "Machine", "MachineStatistics"]

#: ``drain_all_pages(m, zone, force_all_cpus)`` of a design.
DrainDesignFn = Callable[["Machine", Zone | None, bool], Awaitable[None]]


@attrs.frozen
class MachineStatistics:
    zones: tuple[ZoneStatistics, ...]
    pcps: tuple[PcpStatistics, ...]
    ipis: IpiStatistics
    workqueues: WorkqueueStatistics
    percpu: PercpuStatistics
    hotplug: HotplugStatistics
    drain_calls: int


#: ``include/linux/init.h``'s initcall levels, in the order ``do_initcalls()`` runs them;
#: ``module_init`` in built-in code is a ``device`` initcall.
INITCALL_LEVELS = ("pure", "core", "postcore", "arch", "subsys", "fs", "rootfs", "device", "late")


class Machine:
    """A simulated machine: the kernel API a drain design is written against.

    CPUs (``nr_cpus``, ``online_cpus()``, ``cpu_online()``, ``current``), memory
    (``zones``, ``pcp(cpu, zone)``, ``alloc_pages``, ``free_pages``), PCP drains
    (``drain_pages_zone``, ``drain_pages``, ``drain_local_pages``, ``free_pcppages_bulk``),
    IPIs (``on_each_cpu_mask``), workqueues (``system_wq``, ``mm_percpu_wq``,
    ``queue_work_on``, ``flush_work``), percpu (``alloc_percpu_gfp``), hotplug
    (``get_online_cpus``, ``cpu_down``, ``cpu_up``) and the engine (``engine``: ``point``,
    ``spend``, ``preempt_disable``...).  ``docs/design-api.md`` documents each one.

    Example::

        m = Machine(MachineParams(cpus=2), scheduler=RandomScheduler(1))

        async def workload(m: Machine) -> None:
            pfn = await m.alloc_pages()
            await m.free_pages(pfn)

        result = trio.run(m.run, workload)
    """

    def __init__(
        self,
        params: MachineParams | None = None,
        *,
        engine: Engine | None = None,
        scheduler: Scheduler | None = None,
        max_steps: int = 2_000_000,
        max_time_ns: int | None = None,
        logger: Any = None,
        record_trace: bool = True,
    ) -> None:
        self.params = (params or MachineParams()).validate()
        p = self.params
        self.engine = engine or Engine(
            cpus=p.cpus,
            scheduler=scheduler,
            max_steps=max_steps,
            max_time_ns=max_time_ns,
            logger=logger,
            record_trace=record_trace,
        )
        if self.engine.nr_cpus != p.cpus:
            raise ValueError("engine and params disagree on the number of CPUs")
        self.protection: Protection = p.protection
        self.costs: Costs = p.costs
        self.sensors = Sensors()
        total = sum(z.pages for z in p.zones)
        base = 0
        self.zones: list[Zone] = []
        self.pagemap = PageMap(sum(_aligned(z.pages) for z in p.zones))
        for i, spec in enumerate(p.zones):
            z = Zone(
                self.engine,
                i,
                spec.name,
                base,
                spec.pages,
                min_free_pages(spec.pages, total),
                self.pagemap,
            )
            high, batch = spec.sizing()
            z.pcp = [
                PerCpuPages(self.engine, c, z, high, batch, self.sensors) for c in range(p.cpus)
            ]
            self.zones.append(z)
            base += _aligned(spec.pages)
        # pages in the alignment gaps between zones are not memory: mark them allocated
        for z in self.zones:
            for pfn in range(z.base + z.managed, z.base + _aligned(z.managed)):
                self.pagemap.state[pfn] = 2
                self.pagemap.counts[0] -= 1
                self.pagemap.counts[2] += 1
                self.pagemap.owner[pfn] = "hole"
        self.hotplug = Hotplug(self)
        self.percpu = PercpuAllocator(self, p.percpu_populated)
        #: ``kthreadd``: forks kernel threads (workers) for their creators (spawned lazily).
        self.kthreadd = Kthreadd(self)
        self.wq = Workqueues(self)
        self.shrinkers: list[Shrinker] = []
        self.drain_design: DrainDesignFn | None = None
        #: Static state of the installed drain design (its masks, works, mutexes), by name.
        self.design_state: dict[str, Any] = {}
        #: Probability of an injected allocation failure (``fail_page_alloc``).
        self.fail_page_alloc = 0.0
        self.ipi_sent = 0
        self.ipi_handled = 0
        self.ipi_calls = 0
        self.drain_ipis_pending = 0
        self.drain_works_active = 0
        self.drain_calls: list[DrainCall] = []
        self._active_calls: list[DrainCall] = []
        self.warned_once: set[str] = set()
        #: Scenario stimuli in progress, by name (count of nested begins).
        self.stimuli: dict[str, int] = {}
        self.booted = False
        #: The kernel features of the installed design (``install_design`` sets them).
        self.features = KernelFeatures()
        #: Initcall levels run so far in a boot that runs them (``boot_initcalls``).
        self.initcalls_done: list[str] = []
        hp = self.hotplug
        hp.prepare.append(("workqueue:prepare", self.wq.prepare_cpu))
        hp.prepare.append(("percpu:prepare", self._percpu_prepare))
        hp.teardown_ap.append(("workqueue:online", self._wq_offline))
        hp.online.append(("workqueue:online", self._wq_online))
        hp.dead.append(("mm/page_alloc:dead", self._page_alloc_cpu_dead))

    # ------------------------------------------------------------------ running

    def boot(self) -> None:
        """``workqueue_init`` and ``init_mm_internals`` (and, unless the params stop the boot
        before the initcalls, the rest of it: ``mm_percpu_wq`` exists whenever the design's
        kernel creates it).  Call from inside the run, before the workload."""
        if self.booted:
            return
        self.booted = True
        self.wq.init()
        early = self.features.mm_percpu_wq_init == "init_mm_internals"
        if self.params.mm_percpu_wq and (early or not self.params.boot_initcalls):
            self.wq.init_mm_percpu_wq(freezable=self.features.mm_percpu_wq_freezable)
        if not self.params.boot_initcalls:
            self.initcalls_done = list(INITCALL_LEVELS)
        arm_lockup_detectors(self)

    def initcall(self, level: str) -> None:
        """``do_initcalls()`` up to and including ``level``, in a boot that stopped before
        them (``boot_initcalls``): at ``device`` (``module_init`` in built-in code) the design's
        kernel may create ``mm_percpu_wq`` (``module_init(setup_vmstat)``)."""
        if level not in INITCALL_LEVELS:
            raise ValueError(f"unknown initcall level {level!r} (known: {INITCALL_LEVELS})")
        for lv in INITCALL_LEVELS[: INITCALL_LEVELS.index(level) + 1]:
            if lv in self.initcalls_done:
                continue
            self.initcalls_done.append(lv)
            self.engine.emit("initcall", level=lv)
            if (
                lv == "device"
                and self.params.mm_percpu_wq
                and self.features.mm_percpu_wq_init == "module_init"
                and self.wq.mm_percpu_wq is None
            ):
                self.wq.init_mm_percpu_wq(freezable=self.features.mm_percpu_wq_freezable)

    @property
    def booting(self) -> bool:
        """Whether the boot has not run all its initcalls yet."""
        return len(self.initcalls_done) < len(INITCALL_LEVELS)

    async def run(
        self, workload: Callable[[Machine], Awaitable[Any]], *, cpu: int = 0
    ) -> RunResult:
        """Boot, then run ``workload(m)`` as actor ``main`` on ``cpu``; returns the result."""

        async def main() -> None:
            self.boot()
            await workload(self)

        return await self.engine.run(main, cpu=cpu)

    # ------------------------------------------------------------------ CPUs, tasks

    @property
    def nr_cpus(self) -> int:
        """``nr_cpu_ids``: CPUs of the machine, online or not."""
        return self.engine.nr_cpus

    def online_cpus(self) -> list[int]:
        """``for_each_online_cpu``: the online CPUs, in order."""
        return self.engine.online_cpus()

    def cpu_online(self, cpu: int) -> bool:
        """``cpu_online(cpu)``."""
        return self.engine.cpu_online(cpu)

    @property
    def current(self) -> TaskStruct:
        """``current``: the task_struct of the actor taking this step."""
        return task_of(self.engine.current)

    def count(self, key: str, n: int = 1) -> None:
        self.engine.count(key, n)

    # ------------------------------------------------------------------ memory

    def zone(self, name: str) -> Zone:
        """The zone called ``name`` (``Normal``, ``DMA32``...)."""
        for z in self.zones:
            if z.name == name:
                return z
        raise KeyError(f"no zone {name!r} (zones: {[z.name for z in self.zones]})")

    def zone_of(self, pfn: int) -> Zone:
        for z in self.zones:
            if z.base <= pfn < z.base + z.managed:  # z.contains(pfn), inlined
                return z
        raise ValueError(f"pfn {pfn} is in no zone")

    def pcp(self, cpu: int, zone: Zone) -> PerCpuPages:
        """``per_cpu_ptr(zone->per_cpu_pageset, cpu)``: ``cpu``'s PCP of ``zone``
        (``count``, ``high``, ``batch``, ``lists``, ``lock``)."""
        return zone.pcp[cpu]

    def all_pcps(self) -> list[PerCpuPages]:
        return [p for z in self.zones for p in z.pcp]

    # The allocator's own functions as methods, not wrappers around them: a wrapper here
    # would cost a call per page operation (a wrapper coroutine, a frame that every
    # scheduling point inside the allocator resumes through).

    #: ``await m.alloc_pages(gfp=GFP_KERNEL, order=0, zone=None, mt=MIGRATE_MOVABLE,
    #: owner=None)``: the first PFN of ``2**order`` pages, or None (allocation failure).
    alloc_pages = _alloc_pages
    #: ``await m.free_pages(pfn, order=0)``.
    free_pages = _free_pages

    def add_page_cache(self, name: str = "pagecache") -> PageCache:
        """A page cache that direct reclaim can shrink (reclaimable memory)."""
        pc = PageCache(name)
        self.shrinkers.append(pc)
        return pc

    async def alloc_percpu_gfp(self, size: int, gfp: int) -> PercpuArea | None:
        """``alloc_percpu_gfp()``: GFP_KERNEL takes ``pcpu_alloc_mutex`` and may populate
        (allocating pages, so reclaim); GFP_ATOMIC uses populated space or fails (None)."""
        return await self.percpu.alloc_percpu_gfp(size, gfp)

    def free_percpu(self, area: PercpuArea) -> None:
        """``free_percpu()``."""
        self.percpu.free_percpu(area)

    def audit(self) -> list[PageError]:
        """The full page-conservation audit (every page in exactly one place)."""
        return self.pagemap.audit(self.zones, self.all_pcps())

    # ------------------------------------------------------------------ PCP drains

    async def drain_pages_zone(self, cpu: int, zone: Zone) -> None:
        """``drain_pages_zone(cpu, zone)``: free ``cpu``'s PCP of ``zone`` to the buddy,
        under the era's protection (remote callers: ``pcp->lock`` in the spinlock era)."""
        await drain_pages_zone(self, cpu, zone)

    async def drain_pages(self, cpu: int) -> None:
        """``drain_pages(cpu)``: :meth:`drain_pages_zone` for every zone."""
        await drain_pages(self, cpu)

    async def drain_local_pages(self, zone: Zone | None = None) -> None:
        """``drain_local_pages(zone)``: drain *this* CPU's PCPs (``smp_processor_id()``
        read once, as in the kernel: a task that migrates afterwards drains the old CPU)."""
        await drain_local_pages(self, zone)

    async def free_pcppages_bulk(self, zone: Zone, count: int, pcp: PerCpuPages) -> int:
        """``free_pcppages_bulk(zone, count, pcp)``: move up to ``count`` pages from
        ``pcp`` to the buddy under ``zone->lock``; returns how many moved."""
        return await free_pcppages_bulk(self, zone, count, pcp)

    def pcp_snapshot(self, zone: Zone | None) -> dict[int, tuple[int, int]]:
        """Pages now on online CPUs' PCP lists (of ``zone``, or all): pfn -> (cpu, link seq)."""
        out: dict[int, tuple[int, int]] = {}
        seq = self.pagemap.link_seq
        for z in self.zones if zone is None else [zone]:
            for p in z.pcp:
                if not self.cpu_online(p.cpu):
                    continue
                for lst in p.lists:
                    for pfn in lst:
                        out[pfn] = (p.cpu, seq.get(pfn, -1))
        return out

    async def drain_all_pages(
        self, zone: Zone | None = None, *, force_all_cpus: bool = False
    ) -> None:
        """``drain_all_pages(zone)`` (``__drain_all_pages(zone, force_all_cpus)`` since 5.11)
        through the installed design, recorded as a :class:`DrainCall`."""
        e = self.engine
        a = e.current
        t = task_of(a)
        call = DrainCall(
            len(self.drain_calls) + 1,
            a.name,
            a.cpu,
            zone.name if zone else None,
            force_all_cpus,
            e.now,
            e.step,
            online_at_start=tuple(self.online_cpus()),
        )
        self.drain_calls.append(call)
        self._active_calls.append(call)
        prev = t.drain_call
        t.drain_call = call
        for fn in self.sensors.drain_begin:
            fn(call)
        await e.point("drain_all_pages", call=call.id, zone=call.zone, force=force_all_cpus)
        if self.drain_design is not None:
            await self.drain_design(self, zone, force_all_cpus)
        call.end_ns = e.now
        call.end_step = e.step
        t.drain_call = prev
        self._active_calls.remove(call)
        e.emit("drain_all_pages_done", call=call.id, latency_ns=call.latency_ns)
        for fn in self.sensors.drain_end:
            fn(call)

    def drain_calls_active(self) -> list[DrainCall]:
        return list(self._active_calls)

    def disturbance_changed(self) -> None:
        if self.sensors.disturbance:
            n = self.drain_ipis_pending + self.drain_works_active
            for fn in self.sensors.disturbance:
                fn(n)

    # ------------------------------------------------------------------ IPIs

    async def on_each_cpu_mask(
        self,
        mask: Iterable[int] | SharedCpuMask,
        fn: Callable[[Any], Awaitable[None]],
        info: Any = None,
        wait: bool = True,
    ) -> None:
        """``on_each_cpu_mask(mask, fn, info, wait)``: run ``fn(info)`` in IRQ context on
        every online CPU of ``mask`` (the caller's own CPU directly); with ``wait`` the
        caller spins, preemption off, until every handler has returned.  A shared mask
        (an object with ``cpus()`` and ``test(cpu)``, such as a design's static
        ``CpuMask``) is read live, as the kernel reads it."""
        await on_each_cpu_mask(self, mask, fn, info, wait)

    # ------------------------------------------------------------------ workqueues

    @property
    def system_wq(self) -> Workqueue:
        """``system_wq``: per-CPU, not WQ_MEM_RECLAIM (no rescuer)."""
        assert self.wq.system_wq is not None, "workqueues are not initialised (boot first)"
        return self.wq.system_wq

    @property
    def mm_percpu_wq(self) -> Workqueue | None:
        """``mm_percpu_wq``; None before it is created (E7's WARN_ON_ONCE case)."""
        return self.wq.mm_percpu_wq

    def alloc_workqueue(self, name: str, flags: int, max_active: int = 0) -> Workqueue:
        """``alloc_workqueue(name, flags, max_active)`` (from inside a run: a rescuer is
        a thread, so ``WQ_MEM_RECLAIM`` needs a running engine)."""
        return self.wq.alloc_workqueue(name, flags, max_active)

    async def queue_work_on(self, cpu: int, wq: Workqueue, work: WorkStruct) -> bool:
        """``queue_work_on(cpu, wq, work)``: False if ``work`` is already pending."""
        return await queue_work_on(self, cpu, wq, work)

    async def schedule_work_on(self, cpu: int, work: WorkStruct) -> bool:
        """``schedule_work_on`` = ``queue_work_on(cpu, system_wq, work)``."""
        return await queue_work_on(self, cpu, self.system_wq, work)

    async def queue_work(self, wq: Workqueue, work: WorkStruct) -> bool:
        """``queue_work``: on the current CPU."""
        return await queue_work_on(self, self.engine.smp_processor_id(), wq, work)

    async def flush_work(self, work: WorkStruct) -> bool:
        """``flush_work(work)``: wait until ``work``'s last queueing has run; False if
        it was idle.  ``check_flush_dependency`` applies."""
        return await flush_work(self, work)

    async def schedule_on_each_cpu(self, func: Callable[[WorkStruct], Awaitable[None]]) -> int:
        """``schedule_on_each_cpu``: percpu works, hotplug read lock, queue on every online
        CPU via system_wq, flush each.  Returns 0, or -12 (-ENOMEM)."""
        area = await self.alloc_percpu_gfp(1, GFP_KERNEL)
        if area is None:
            return -12
        await self.get_online_cpus()
        works = {
            c: WorkStruct(func, getattr(func, "__name__", "work"), f"each_cpu[{c}]")
            for c in self.online_cpus()
        }
        for c, w in works.items():
            await self.queue_work_on(c, self.system_wq, w)
        for w in works.values():
            await self.flush_work(w)
        await self.put_online_cpus()
        self.free_percpu(area)
        return 0

    # ------------------------------------------------------------------ hotplug

    async def get_online_cpus(self) -> None:
        """``get_online_cpus()``: the CPU hotplug lock, read side."""
        await self.hotplug.get_online_cpus()

    async def put_online_cpus(self) -> None:
        """``put_online_cpus()``."""
        await self.hotplug.put_online_cpus()

    async def cpu_down(self, cpu: int) -> bool:
        """``cpu_down(cpu)``; the request is the ``cpu-down`` stimulus while in progress."""
        self.stimulus_begin("cpu-down")
        try:
            return await self.hotplug.cpu_down(cpu)
        finally:
            self.stimulus_end("cpu-down")

    async def cpu_up(self, cpu: int) -> bool:
        """``cpu_up(cpu)``; the request is the ``cpu-up`` stimulus while in progress."""
        self.stimulus_begin("cpu-up")
        try:
            return await self.hotplug.cpu_up(cpu)
        finally:
            self.stimulus_end("cpu-up")

    # ------------------------------------------------------------------ stimuli

    def stimulus_begin(self, name: str) -> None:
        """A scenario stimulus starts (what stage probes watch; it changes nothing else)."""
        self.stimuli[name] = self.stimuli.get(name, 0) + 1
        for fn in self.sensors.stimulus:
            fn(name, True)

    def stimulus_end(self, name: str) -> None:
        self.stimuli[name] = self.stimuli.get(name, 1) - 1
        for fn in self.sensors.stimulus:
            fn(name, False)

    async def _wq_offline(self, cpu: int) -> None:
        await self.wq.offline_cpu(cpu)

    async def _wq_online(self, cpu: int) -> None:
        await self.wq.online_cpu(cpu)

    async def _percpu_prepare(self, cpu: int) -> bool:
        """A PREPARE step that sets up per-CPU areas for the new CPU with GFP_KERNEL percpu
        memory — under the hotplug write lock, so it needs ``pcpu_alloc_mutex`` while holding
        ``cpu_hotplug_lock`` (the H6 chain of Dmitry Vyukov's 2017 report)."""
        area = await self.alloc_percpu_gfp(1, GFP_KERNEL)
        if area is None:
            return False
        self.free_percpu(area)
        return True

    async def _page_alloc_cpu_dead(self, cpu: int) -> None:
        """``page_alloc_cpu_dead``: drain the dead CPU's PCPs (allowed: it is offline)."""
        await drain_pages(self, cpu)

    # ------------------------------------------------------------------ statistics

    def statistics(self) -> MachineStatistics:
        """Counters of the machine (IPIs, drain calls, ...), frozen."""
        return MachineStatistics(
            tuple(z.statistics() for z in self.zones),
            tuple(p.statistics() for p in self.all_pcps()),
            IpiStatistics(self.ipi_sent, self.ipi_handled, self.ipi_calls),
            self.wq.statistics(),
            self.percpu.statistics(),
            self.hotplug.statistics(),
            len(self.drain_calls),
        )


def _aligned(pages: int) -> int:
    """Zones start on max-order boundaries: a zone occupies its size rounded up."""
    block = 1 << 10
    return (pages + block - 1) // block * block
