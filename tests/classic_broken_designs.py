"""Nine classic broken drain_all_pages() designs, written only with names of docs/design-api.md.

Each is a working design with one thing taken away, and re-creates a bug the kernel had or
would have had without the commit that prevents it; the design function's docstring names
it.  Everything comes from the public facade ``pcptrio`` (``tests/test_design_api.py`` checks
that), as in a user's own module; the tests name them ``classic_broken_designs:<NAME>``.

==========================  ===================  =========================================
design                      caught by            scenario
==========================  ===================  =========================================
``NO_FLUSH``                drain-completeness   drain-from-kworker
``REMOTE_NO_LOCK``          pcp-exclusive        count-race (spinlock era)
``NO_MUTEX``                work-debug           drain-storm
``ON_SYSTEM_WQ``            liveness             no-rescuer-under-pressure
``IPI_NO_WAIT``             drain-completeness   shared-mask-race
``COUNT_OUTSIDE_LOCK``      drain-completeness   count-race (spinlock era)
``REMOTE_ALL_ZONES``        zone-precision       zone-over-drain (spinlock era)
``IPI_IRQS_OFF``            kernel-warn          steady
``POLL_PREEMPT_OFF``        lockup               drain-from-kworker
==========================  ===================  =========================================
"""

from __future__ import annotations

from pcptrio import (
    PF_WQ_WORKER,
    CpuMask,
    DrainDesign,
    Machine,
    Mutex,
    Protection,
    WorkStruct,
    Zone,
    build_cpus_with_pcps,
    flush_in_nursery,
)

__all__ = [
    "COUNT_OUTSIDE_LOCK",
    "IPI_IRQS_OFF",
    "IPI_NO_WAIT",
    "NO_FLUSH",
    "NO_MUTEX",
    "ON_SYSTEM_WQ",
    "POLL_PREEMPT_OFF",
    "REMOTE_ALL_ZONES",
    "REMOTE_NO_LOCK",
]


# ---------------------------------------------------------------------------- shared pieces


async def drain_local_pages_wq(work: WorkStruct) -> None:
    """v5.0 ``drain_local_pages_wq``: drain this CPU's PCPs of the requested zone with
    preemption off (a459eeb7b852), so the worker cannot migrate mid-drain."""
    m: Machine
    zone: Zone | None
    m, zone = work.data  # container_of(work, struct pcpu_drain, work)->zone
    m.engine.preempt_disable()
    await m.drain_local_pages(zone)
    m.engine.preempt_enable()


class StaticDrainState:
    """The function-static state of the v4.11+ drain: the ``cpus_with_pcps`` mask,
    ``pcpu_drain_mutex`` and one static ``pcpu_drain`` work per possible CPU."""

    def __init__(self, m: Machine) -> None:
        self.mask = CpuMask(m.nr_cpus)
        self.mutex = Mutex(m.engine, "pcpu_drain_mutex")
        self.works = [
            WorkStruct(drain_local_pages_wq, "drain_local_pages_wq", f"pcpu_drain[{c}]", (m, None))
            for c in range(m.nr_cpus)
        ]


def _setup_no_mutex(m: Machine) -> None:
    m.design_state["classic-no-mutex"] = StaticDrainState(m)


def _setup_system_wq(m: Machine) -> None:
    m.design_state["classic-on-system-wq"] = StaticDrainState(m)


def _zones(m: Machine, zone: Zone | None) -> list[Zone]:
    """``zone`` alone, or every zone for ``drain_all_pages(NULL)``."""
    return [zone] if zone is not None else list(m.zones)


# ---------------------------------------------------------------------------- (a) no flush


async def no_flush(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """(a) The missing ``flush_work()`` loop.

    drain_all_pages() has waited for its drain since the IPI version
    (``on_each_cpu_mask(..., wait=1)``, 74046494ea68), and 0ccce3b92421 ("mm, page_alloc:
    Drain per-cpu pages from workqueue context") kept that promise on workqueues with
    ``for_each_cpu(cpu, &cpus_with_pcps) flush_work(...)``.  Without the loop,
    ``__offline_pages()`` and ``alloc_contig_range()`` — the zone callers that need the
    pages back in the buddy — go on while the pages still sit on the PCPs.
    """
    wq = m.mm_percpu_wq
    if wq is None:
        m.sensors.warn("mm/page_alloc.c: drain_all_pages: WARN_ON_ONCE(!mm_percpu_wq)")
        return
    mask = CpuMask(m.nr_cpus)  # per call: keeps the shared-mask race (H3) out of the way
    await build_cpus_with_pcps(m, mask, zone, force_all_cpus)
    for cpu in mask.cpus():
        work = WorkStruct(drain_local_pages_wq, "drain_local_pages_wq", f"drain[{cpu}]", (m, zone))
        await m.queue_work_on(cpu, wq, work)
    # BUG: no flush_work(): return while the works are still pending.


NO_FLUSH = DrainDesign(
    "classic-no-flush",
    no_flush,
    eras=(Protection.IRQ, Protection.PREEMPT),
    kernel="tests: classic broken design (a)",
    summary="queue the drain works on mm_percpu_wq and return without flush_work()",
)


# ---------------------------------------------------------------------------- (b) no pcp->lock


async def remote_no_lock(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """(b) A remote drain without the target PCP's lock.

    Before 6.0, ``drain_pages_zone()`` was valid only for the current CPU or a dead one.
    443c2accd1b6 ("mm/page_alloc: remotely drain per-cpu lists") drains other CPUs' PCPs from
    the caller, which is safe only because 4b23a68f9536 / 01b44456a7aa put every PCP under
    ``pcp->lock``.  Without ``spin_lock_irqsave(&pcp->lock)`` the drainer walks lists their
    owner is updating: the list corruption of H1, where an IPI drain met the preempt-only PCP
    of 374ad05ab64d.
    """
    for cpu in range(m.nr_cpus):
        if not m.cpu_online(cpu):
            continue
        for z in _zones(m, zone):
            pcp = m.pcp(cpu, z)
            if pcp.count:
                await m.free_pcppages_bulk(z, pcp.count, pcp)  # BUG: pcp->lock not held


REMOTE_NO_LOCK = DrainDesign(
    "classic-remote-no-lock",
    remote_no_lock,
    eras=(Protection.SPINLOCK,),
    kernel="tests: classic broken design (b)",
    summary="drain every online CPU's PCP from the caller without taking pcp->lock",
)


# ---------------------------------------------------------------------------- (c) no mutex


async def no_mutex(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """(c) Static per-CPU works without ``pcpu_drain_mutex``.

    bd233f538d51 ("mm, page_alloc: use static global work_struct for draining per-cpu
    pages") replaced per-call percpu works with one static ``pcpu_drain`` work per CPU and
    serialised the callers with ``pcpu_drain_mutex`` (``mutex_trylock``; zone callers wait).
    Without the mutex a second caller's ``INIT_WORK`` hits the work the first has queued:
    "ODEBUG: init active object type: work_struct", then the worklist links it twice.
    """
    wq = m.mm_percpu_wq
    if wq is None:
        m.sensors.warn("mm/page_alloc.c: drain_all_pages: WARN_ON_ONCE(!mm_percpu_wq)")
        return
    st: StaticDrainState = m.design_state["classic-no-mutex"]
    # BUG: no mutex_trylock(&pcpu_drain_mutex) around the static works.
    mask = CpuMask(m.nr_cpus)  # per call: keeps the shared-mask race (H3) out of the way
    await build_cpus_with_pcps(m, mask, zone, force_all_cpus)
    cpus = mask.cpus()
    for cpu in cpus:
        work = st.works[cpu]
        work.data = (m, zone)
        work.init(drain_local_pages_wq, "drain_local_pages_wq")  # INIT_WORK
        await m.queue_work_on(cpu, wq, work)
    for cpu in cpus:
        await m.flush_work(st.works[cpu])


NO_MUTEX = DrainDesign(
    "classic-no-mutex",
    no_mutex,
    eras=(Protection.IRQ, Protection.PREEMPT),
    kernel="tests: classic broken design (c)",
    summary="v5.0's static per-CPU works re-initialised and queued by unserialised callers",
    setup=_setup_no_mutex,
)


# ---------------------------------------------------------------------------- (d) system_wq


async def on_system_wq(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """(d) Drain works on ``system_wq`` instead of the reclaim-safe ``mm_percpu_wq``.

    0ccce3b92421 queued its works with ``schedule_work_on()``, on ``system_wq``, which has no
    rescuer: under memory pressure a pool that needs a new kworker cannot create one (that
    allocates), so a direct reclaimer waits in ``flush_work()`` for a work nobody runs.
    ce612879ddc7 ("mm: move pcp and lru-pcp draining into single wq") moved the drain to
    ``mm_percpu_wq``, allocated ``WQ_MEM_RECLAIM`` (a rescuer thread).  This is ``wq-4.11``
    with that one line undone.
    """
    if m.current.flags & PF_WQ_WORKER:
        return  # v4.11: "workqueues cannot recurse"
    st: StaticDrainState = m.design_state["classic-on-system-wq"]
    if not await st.mutex.trylock():
        if zone is None:
            return  # someone is draining for a global caller already
        await st.mutex.lock()
    await build_cpus_with_pcps(m, st.mask, zone, force_all_cpus)
    cpus = st.mask.cpus()
    for cpu in cpus:
        work = st.works[cpu]
        work.data = (m, zone)
        work.init(drain_local_pages_wq, "drain_local_pages_wq")
        await m.queue_work_on(cpu, m.system_wq, work)  # BUG: ce612879ddc7 uses mm_percpu_wq
    await flush_in_nursery(m, [(cpu, st.works[cpu]) for cpu in cpus])
    await st.mutex.unlock()


ON_SYSTEM_WQ = DrainDesign(
    "classic-on-system-wq",
    on_system_wq,
    eras=(Protection.IRQ, Protection.PREEMPT),
    kernel="tests: classic broken design (d)",
    summary="wq-4.11 queueing its drain works on system_wq (no rescuer)",
    setup=_setup_system_wq,
)


# ---------------------------------------------------------------------------- (e) IPI, no wait


async def ipi_no_wait(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """(e) ``on_each_cpu_mask()`` without waiting for the handlers.

    74046494ea68 ("mm: only IPI CPUs to drain local pages if they exist") sends the drain as
    ``on_each_cpu_mask(&cpus_with_pcps, drain_local_pages, zone, 1)``: the last argument is
    ``wait``, and the sender spins on each target's csd lock until its handler has run.  With
    ``wait=0`` the caller returns while the IPIs are still in flight, so a zone caller finds
    pages on the PCPs it has just "drained".
    """
    mask = CpuMask(m.nr_cpus)  # per call: keeps the shared-mask race (H3) out of the way
    await build_cpus_with_pcps(m, mask, zone, force_all_cpus)

    async def drain_local(z: Zone | None) -> None:
        await m.drain_local_pages(z)

    await m.on_each_cpu_mask(mask.cpus(), drain_local, zone, wait=False)  # BUG: wait=1


IPI_NO_WAIT = DrainDesign(
    "classic-ipi-no-wait",
    ipi_no_wait,
    eras=(Protection.IRQ,),
    kernel="tests: classic broken design (e)",
    summary="drain by IPIs with on_each_cpu_mask(..., wait=False)",
)


# ---------------------------------------------------------------------------- (f) count outside


async def count_outside_lock(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """(f) ``pcp->count`` read before ``pcp->lock`` in a remote drain (H16).

    v6.0's ``drain_pages_zone()`` tested ``pcp->count`` without the lock and skipped a PCP
    that read 0, while its owner, inside ``__rmqueue_pcplist()`` under ``pcp->lock``, had
    linked the pages of an ``rmqueue_bulk()`` and not yet added them to ``count``.  Fixed in
    6.11 by 66eca1021a42 ("mm/page_alloc: fix pcp->count race between drain_pages_zone()
    vs __rmqueue_pcplist()"), which reads ``count`` under the lock.
    """
    for cpu in m.online_cpus():
        for z in _zones(m, zone):
            pcp = m.pcp(cpu, z)
            count = pcp.count  # BUG: read without pcp->lock
            await m.engine.point("drain_pages_zone", target=cpu, zone=z.name, count=count)
            if count:
                flags = await pcp.lock.lock_irqsave()
                await m.free_pcppages_bulk(z, pcp.count, pcp)
                await pcp.lock.unlock_irqrestore(flags)


COUNT_OUTSIDE_LOCK = DrainDesign(
    "classic-count-outside-lock",
    count_outside_lock,
    eras=(Protection.SPINLOCK,),
    kernel="tests: classic broken design (f)",
    summary="remote drain under pcp->lock, but pcp->count is tested before taking it",
)


# ---------------------------------------------------------------------------- (g) every zone


async def remote_all_zones(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """(g) A remote drain that drains every zone of each target, whatever zone was asked.

    Until v5.0 the workqueue drain used the zone only to pick CPUs: the work ran
    ``drain_local_pages(NULL)``, so a zone-specific caller (CMA, memory offline, hwpoison)
    emptied every zone's PCPs.  E11 ("mm, page_alloc: enable pcpu_drain with zone
    capability", Wei Yang, v5.0) passed the zone to the target in ``struct pcpu_drain``;
    the remote drain of 6.0 (443c2accd1b6, "mm/page_alloc: remotely drain per-cpu lists")
    calls ``drain_pages_zone(cpu, zone)`` for that zone only.  This design locks and drains
    correctly, but every zone (H12).
    """
    mask = CpuMask(m.nr_cpus)
    await build_cpus_with_pcps(m, mask, zone, force_all_cpus)
    for cpu in mask.cpus():
        for z in m.zones:  # BUG: _zones(m, zone), the requested zone only
            pcp = m.pcp(cpu, z)
            flags = await pcp.lock.lock_irqsave()
            if pcp.count:
                await m.free_pcppages_bulk(z, pcp.count, pcp)
            await pcp.lock.unlock_irqrestore(flags)


REMOTE_ALL_ZONES = DrainDesign(
    "classic-remote-all-zones",
    remote_all_zones,
    eras=(Protection.SPINLOCK,),
    kernel="tests: classic broken design (g)",
    summary="remote drain under pcp->lock of every zone of each target, not only the asked one",
)


# ---------------------------------------------------------------------------- (h) IPIs, IRQs off


async def ipi_irqs_off(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """(h) The IPI drain with local IRQs disabled around it.

    Disabling IRQs looks like a cheap way to keep the mask and the drain on one CPU, but
    ``smp_call_function_many()`` spins until every target ran its handler: two CPUs doing it
    at once each wait for an IPI the other cannot take, and the machine hangs.  The kernel
    refuses the call with ``WARN_ON_ONCE(cpu_online(this_cpu) && irqs_disabled())``
    (``kernel/smp.c``), and ``on_each_cpu_mask()`` is documented as "You must not call this
    function with disabled interrupts".  74046494ea68 ("mm: only IPI CPUs to drain local
    pages if they exist") sends the drain from the caller's ordinary, IRQs-on context.
    """
    e = m.engine
    mask = CpuMask(m.nr_cpus)

    async def drain_local(z: Zone | None) -> None:
        await m.drain_local_pages(z)

    flags = e.local_irq_save()  # BUG: IPIs must be sent with IRQs enabled
    await build_cpus_with_pcps(m, mask, zone, force_all_cpus)
    await m.on_each_cpu_mask(mask.cpus(), drain_local, zone, wait=True)
    e.local_irq_restore(flags)


IPI_IRQS_OFF = DrainDesign(
    "classic-ipi-irqs-off",
    ipi_irqs_off,
    eras=(Protection.IRQ,),
    kernel="tests: classic broken design (h)",
    summary="drain by IPIs from inside local_irq_save()/local_irq_restore()",
)


# ---------------------------------------------------------------------------- (i) busy poll


async def poll_preempt_off(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """(i) Waiting for the drain works by polling with preemption disabled.

    0ccce3b92421 waits for each work with ``flush_work()``, which sleeps until the work has
    run.  A caller that instead polls ``work_pending()`` in a ``preempt_disable()``d
    ``mdelay()`` loop, to "keep the drain on this CPU", never lets the work queued to its own
    CPU run: its CPU cannot schedule, the work stays pending forever, and the soft-lockup
    watchdog reports the CPU after 20 s.
    """
    e = m.engine
    wq = m.mm_percpu_wq
    assert wq is not None
    mask = CpuMask(m.nr_cpus)
    await build_cpus_with_pcps(m, mask, zone, force_all_cpus)
    works = []
    for cpu in mask.cpus():
        w = WorkStruct(drain_local_pages_wq, "drain_local_pages_wq", f"drain[{cpu}]", (m, zone))
        await m.queue_work_on(cpu, wq, w)
        works.append(w)
    e.preempt_disable()  # BUG: the work for this CPU can never run now
    while any(w.pending for w in works):
        await e.spend(1_000_000, "mdelay")
    e.preempt_enable()


POLL_PREEMPT_OFF = DrainDesign(
    "classic-poll-preempt-off",
    poll_preempt_off,
    eras=(Protection.IRQ,),
    kernel="tests: classic broken design (i)",
    summary="queue the drain works, then poll work_pending() with preemption disabled",
)
