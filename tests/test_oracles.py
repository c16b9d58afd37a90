"""Each oracle catches a deliberately broken design or model written in the test, and stays
silent on the correct designs.

The broken designs below are ordinary :class:`DrainDesign` objects built from the machine's
kernel API, exactly as a user writes one; each is wrong in one way, and the test asserts that
the oracle watching for that failure reports it (searching a fixed set of schedules, first
hit wins) with the step, virtual time, message and details a kernel developer needs.  The
silence half runs the correct designs on the cells the expected hazard matrix of
``docs/hazards.md`` marks '.' over the same schedules and requires clean runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pcptrio._core import SEC, Mutex, Outcome, PCTScheduler, RandomScheduler, RunResult
from pcptrio._drain import CpuMask, DrainDesign, build_cpus_with_pcps, flush_in_nursery
from pcptrio._explore import make_run_spec, run_spec_async
from pcptrio._kernel import PF_MEMALLOC, Machine, Protection, WorkStruct, Zone
from pcptrio._scenarios import ScenarioDef, parse_scenario, resolve_scenario

ALL_ERAS = (Protection.IRQ, Protection.PREEMPT, Protection.SPINLOCK)
WATCHDOG_THRESH_NS = 30 * SEC  # the scenarios' default watchdog_thresh_ms


def schedules() -> Iterator[RandomScheduler | PCTScheduler]:
    """The fixed schedules every search and every silence check uses (fresh objects)."""
    for seed in range(4):
        yield RandomScheduler(seed)
    for seed in range(4):
        yield PCTScheduler(seed, depth=3)


Scenario = str | ScenarioDef


def _label(scenario: Scenario, design: str | DrainDesign) -> str:
    s = scenario if isinstance(scenario, str) else scenario.name
    d = design if isinstance(design, str) else design.name
    return f"{s} × {d}"


async def find_violation(
    scenario: Scenario,
    design: str | DrainDesign,
    oracles: set[str],
    params: dict[str, Any] | None = None,
) -> RunResult:
    """The first run over :func:`schedules` that fails; it must be one of ``oracles``."""
    tried = []
    for sched in schedules():
        result = await run_spec_async(make_run_spec(scenario, design, params), sched)
        v = result.violation
        if v is not None:
            assert v.oracle in oracles, (
                f"{_label(scenario, design)} under {sched.name}({sched.seed}) tripped "
                f"{v.signature} instead of {sorted(oracles)}: {result.headline}"
            )
            return result
        tried.append(f"{sched.name}({sched.seed}): {result.outcome}")
    pytest.fail(f"{_label(scenario, design)}: no {sorted(oracles)} violation in {tried}")


def check_violation(result: RunResult, oracle: str, kind: str, keys: set[str]) -> Any:
    """The violation names ``oracle``/``kind`` and carries step, time, message, details."""
    v = result.violation
    assert v is not None
    assert (v.oracle, v.kind) == (oracle, kind), result.headline
    assert isinstance(v.step, int) and v.step > 0
    assert isinstance(v.t_ns, int) and v.t_ns >= 0
    assert v.message.strip()
    assert keys <= v.details.keys(), f"{oracle} details lack {keys - v.details.keys()}"
    assert v.to_json()["details"] == v.details
    return v


def variant(base: str, name: str, oracles: list[str]) -> ScenarioDef:
    """A user scenario: the built-in ``base`` with its oracle list replaced."""
    data = dict(resolve_scenario(base).data)
    data.update(name=name, oracles=oracles)
    return parse_scenario(data, f"tests/test_oracles.py ({name})")


# ============================================================================ broken designs


def _zones(m: Machine, zone: Zone | None) -> list[Zone]:
    return [zone] if zone is not None else list(m.zones)


# (a) remote-6.11's locked drain, but the loop stops one CPU short
async def _skip_last_cpu(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    for cpu in m.online_cpus()[:-1]:
        for z in _zones(m, zone):
            await m.drain_pages_zone(cpu, z)  # spinlock era: lock, read count, drain


SKIPS_LAST_CPU = DrainDesign(
    "broken-skips-last-cpu", _skip_last_cpu, eras=(Protection.SPINLOCK,), kernel="test"
)


# (b) remote drain without taking the target's pcp->lock
async def _unlocked_remote(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    for cpu in m.online_cpus():
        for z in _zones(m, zone):
            pcp = m.pcp(cpu, z)
            if pcp.count:
                await m.free_pcppages_bulk(z, pcp.count, pcp)  # no pcp->lock


UNLOCKED_REMOTE = DrainDesign(
    "broken-unlocked-remote", _unlocked_remote, eras=(Protection.SPINLOCK,), kernel="test"
)


# (c) wq-4.11 (static works, mutex, mask), but on system_wq, which has no rescuer
class _StaticWorks:
    def __init__(self, m: Machine) -> None:
        self.mask = CpuMask(m.nr_cpus)
        self.mutex = Mutex(m.engine, "pcpu_drain_mutex")
        self.works = [
            WorkStruct(_drain_local_pages_wq, "drain_local_pages_wq", f"pcpu_drain[{c}]")
            for c in range(m.nr_cpus)
        ]


async def _drain_local_pages_wq(work: WorkStruct) -> None:
    m, zone = work.data
    m.engine.preempt_disable()
    await m.drain_local_pages(zone)
    m.engine.preempt_enable()


def _setup_static_works(m: Machine) -> None:
    m.design_state["broken-system-wq"] = _StaticWorks(m)


async def _on_system_wq(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    st: _StaticWorks = m.design_state["broken-system-wq"]
    if not await st.mutex.trylock():
        if zone is None:
            return
        await st.mutex.lock()
    await build_cpus_with_pcps(m, st.mask, zone)
    cpus = st.mask.cpus()
    for cpu in cpus:
        st.works[cpu].data = (m, zone)
        await m.queue_work_on(cpu, m.system_wq, st.works[cpu])  # wq-4.11: m.mm_percpu_wq
    await flush_in_nursery(m, [(cpu, st.works[cpu]) for cpu in cpus])
    await st.mutex.unlock()


ON_SYSTEM_WQ = DrainDesign(
    "broken-system-wq",
    _on_system_wq,
    eras=(Protection.IRQ, Protection.PREEMPT),
    kernel="test",
    setup=_setup_static_works,
)


# (d) never returns
async def _never_returns(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    while True:
        await m.engine.sleep(10_000_000)  # 10 ms naps, forever


NEVER_RETURNS = DrainDesign("broken-never-returns", _never_returns, eras=ALL_ERAS, kernel="test")


# (e) IPI every online CPU on every call: no cpus_with_pcps mask, no mutex
async def _ipi_everyone(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    async def drain_local(z: Zone | None) -> None:
        await m.drain_local_pages(z)

    await m.on_each_cpu_mask(m.online_cpus(), drain_local, zone, True)


IPI_EVERYONE = DrainDesign("broken-ipi-everyone", _ipi_everyone, kernel="test")


# (f) flushes a !WQ_MEM_RECLAIM work from a PF_MEMALLOC context
async def _memalloc_flush(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    m.current.flags |= PF_MEMALLOC
    works = []
    for cpu in m.online_cpus():
        w = WorkStruct(_drain_local_pages_wq, "drain_local_pages_wq", f"drain[{cpu}]", (m, zone))
        await m.queue_work_on(cpu, m.system_wq, w)
        works.append(w)
    for w in works:
        await m.flush_work(w)
    m.current.flags &= ~PF_MEMALLOC


MEMALLOC_FLUSH = DrainDesign("broken-memalloc-flush", _memalloc_flush, kernel="test")


# page-conservation (1): moves a page off a PCP naming the wrong CPU
async def _misplace_page(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    for pcp in m.all_pcps():
        if pcp.count and not pcp.inside:  # nobody half-way through this list
            lst = next(lst for lst in pcp.lists if lst)
            pfn = lst.pop()
            pcp.count -= 1
            m.pagemap.pcp_to_buddy(pfn, (pcp.cpu + 1) % m.nr_cpus)  # wrong CPU
            pcp.zone.free_one_page(pfn, 0)
            return


MISPLACES_PAGE = DrainDesign("broken-misplaces-page", _misplace_page, kernel="test")


# page-conservation (2): drops a page from a PCP list without telling the page map
async def _drop_page(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    for pcp in m.all_pcps():
        if pcp.lists[1] and not pcp.inside:
            pcp.lists[1].pop()
            pcp.count -= 1  # list and count agree: only the full audit can tell
            return


DROPS_PAGE = DrainDesign("broken-drops-page", _drop_page, kernel="test")


# ============================================================================ each oracle fires


@pytest.mark.parametrize("cpus", [2, 4, 16])
async def test_drain_completeness_catches_a_drain_that_skips_a_cpu(cpus: int) -> None:
    """A zone drain that never visits the last CPU leaves that CPU's pages: drain-completeness."""
    result = await find_violation(
        "drain-from-kworker", SKIPS_LAST_CPU, {"drain-completeness"}, {"cpus": cpus}
    )
    v = check_violation(result, "drain-completeness", "pages-left", {"pages", "counts", "call"})
    assert set(v.details["pages"]) == {str(cpus - 1)}  # exactly the skipped CPU
    assert v.details["counts"][str(cpus - 1)] > 0
    assert v.details["zone"] == "Normal"
    assert v.actors and v.actors[0] in v.message


@pytest.mark.parametrize("scenario", ["count-race", "steady"])
async def test_pcp_exclusive_catches_a_remote_drain_without_pcp_lock(scenario: str) -> None:
    """Draining remote PCPs without pcp->lock overlaps their owners' fast paths."""
    result = await find_violation(scenario, UNLOCKED_REMOTE, {"pcp-exclusive", "page-conservation"})
    v = result.violation
    assert v is not None
    if v.oracle == "pcp-exclusive":
        check_violation(result, "pcp-exclusive", "overlap", {"cpu", "inside", "entering"})
        assert v.details["inside"] != v.details["entering"]
        assert set(v.actors) == {v.details["inside"], v.details["entering"]}
        drainer = "offline_pages" if scenario == "count-race" else "drainer"
        assert drainer in v.actors
    else:
        check_violation(result, "page-conservation", v.kind, set())
        assert v.kind in {"double-place", "count-mismatch"}


async def test_liveness_catches_drain_works_on_a_workqueue_without_rescuer() -> None:
    """wq-4.11 moved to system_wq hangs when no kworker can be created: liveness."""
    result = await find_violation("no-rescuer-under-pressure", ON_SYSTEM_WQ, {"liveness"})
    v = check_violation(result, "liveness", "drain-stuck", {"call", "bound_ns", "graph"})
    assert v.details["bound_ns"] == WATCHDOG_THRESH_NS
    assert v.t_ns > v.details["bound_ns"]
    assert v.actors == ("reclaimer",)
    [call] = result.extra["drain_calls"]
    assert call["latency_ns"] is None and call["rescuer_ran"] is False and call["works"] > 0


@pytest.mark.parametrize("scenario", ["reclaim-storm", "no-rescuer-under-pressure"])
async def test_liveness_catches_a_drain_that_never_returns(scenario: str) -> None:
    """A drain_all_pages() that sleeps forever is reported once the bound has passed."""
    result = await find_violation(scenario, NEVER_RETURNS, {"liveness"})
    v = check_violation(result, "liveness", "drain-stuck", {"call", "bound_ns", "graph"})
    first = result.extra["drain_calls"][v.details["call"] - 1]
    assert first["latency_ns"] is None
    assert v.t_ns == first["start_ns"] + v.details["bound_ns"] + 1
    assert "has not returned" in v.message


@pytest.mark.parametrize("cpus", [3, 4])
async def test_disturbance_bound_catches_unmasked_ipis_from_many_reclaimers(cpus: int) -> None:
    """Four reclaimers each IPI-ing every CPU put more IPIs in flight than there are CPUs."""
    result = await find_violation(
        "drain-storm", IPI_EVERYONE, {"disturbance-bound"}, {"cpus": cpus}
    )
    v = check_violation(result, "disturbance-bound", "storm", {"in_flight", "cpus"})
    assert v.details["cpus"] == cpus
    assert v.details["in_flight"] > cpus
    assert v.details["in_flight"] == v.details["ipis_pending"] + v.details["works_active"]
    assert v.details["works_active"] == 0
    assert len(v.details["drain_calls_active"]) >= 2


async def test_wq_watchdog_reports_drain_work_stuck_behind_a_hog() -> None:
    """wq-5.0's drain work queued behind a 90 s CPU hog trips the workqueue lockup report."""
    # hog-in-pool also declares liveness, whose 30 s bound (from the call) always expires
    # before the watchdog's next 30 s tick; leave it out to see the watchdog itself.  The hog
    # runs 90 s rather than 60 s so the 60 s tick does not race the hog's end.
    scenario = variant("hog-in-pool", "hog-in-pool-watchdog", ["wq-watchdog"])
    cpus = 4
    result = await find_violation(scenario, "wq-5.0", {"wq-watchdog"}, {"hog_s": 90})
    v = check_violation(result, "wq-watchdog", "lockup", {"pool", "cpu", "stuck_ns", "pending"})
    assert v.message.startswith("BUG: workqueue lockup")
    assert v.details["cpu"] == cpus - 1  # the hog's CPU
    assert v.details["stuck_ns"] > WATCHDOG_THRESH_NS
    assert WATCHDOG_THRESH_NS < v.t_ns <= 3 * WATCHDOG_THRESH_NS
    assert "drain_local_pages_wq" in v.details["pending"]
    assert "Showing busy workqueues" in v.details["dump"]


async def test_flush_dependency_catches_memalloc_flush_of_system_wq_work() -> None:
    """A PF_MEMALLOC drainer flushing system_wq works triggers check_flush_dependency."""
    scenario = variant("steady", "steady-flush-dependency", ["flush-dependency"])
    result = await find_violation(scenario, MEMALLOC_FLUSH, {"flush-dependency"})
    v = check_violation(result, "flush-dependency", "warn", {"flusher", "target_wq", "work"})
    assert "PF_MEMALLOC" in v.message and "!WQ_MEM_RECLAIM" in v.message
    assert v.details["target_wq"] == "events"  # system_wq
    assert v.details["flusher"] == "drainer"
    assert v.actors == ("drainer",)


async def test_page_conservation_catches_a_page_moved_from_the_wrong_cpu() -> None:
    """Freeing a PCP page in the name of another CPU is a double-place error at once."""
    result = await find_violation("steady", MISPLACES_PAGE, {"page-conservation"})
    v = check_violation(
        result, "page-conservation", "double-place", {"pfn", "expected", "found", "action"}
    )
    assert v.details["expected"] != v.details["found"]
    assert "PCP" in v.details["found"]
    assert str(v.details["pfn"]) in v.message


async def test_page_conservation_audit_catches_a_page_dropped_from_a_list() -> None:
    """A page unlinked from a PCP behind the page map's back is found lost by the final audit."""
    result = await find_violation("steady", DROPS_PAGE, {"page-conservation"})
    v = check_violation(result, "page-conservation", "audit", {"errors"})
    assert v.message.startswith("audit at the end of the run")
    assert any("nowhere (lost)" in e for e in v.details["errors"])
    # the audit runs when everything else is over: every drain call has returned
    assert all(c["latency_ns"] is not None for c in result.extra["drain_calls"])


async def test_deadlock_reports_the_hotplug_lock_abba_cycle() -> None:
    """wq-hotplug under cpu_up and a percpu allocation closes the H6 ABBA cycle."""
    result = await find_violation("hotplug-lock-abba", "wq-hotplug", {"deadlock"})
    assert result.outcome is Outcome.DEADLOCK
    v = check_violation(result, "deadlock", "cycle", {"graph"})
    assert result.wait_graph is not None
    cycles = result.wait_graph["cycles"]
    assert any("rwsem cpu_hotplug_lock" in c and "mutex pcpu_alloc_mutex" in c for c in cycles), (
        cycles
    )
    assert v.message.startswith("circular wait:")
    assert v.details["graph"]["cycles"] == cycles


# (h) remote-6.11's locked drain of every zone of each target, whatever zone was asked
async def _every_zone(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    for cpu in m.online_cpus():
        for z in m.zones:  # the zone argument ignored on the target, as before E11
            await m.drain_pages_zone(cpu, z)


EVERY_ZONE = DrainDesign(
    "broken-every-zone", _every_zone, eras=(Protection.SPINLOCK,), kernel="test"
)


@pytest.mark.parametrize("cpus", [1, 4])
async def test_zone_precision_catches_a_zone_drain_of_every_zone(cpus: int) -> None:
    """A drain_all_pages(Normal) that also empties the DMA32 PCPs: zone-precision (H12)."""
    result = await find_violation("zone-over-drain", EVERY_ZONE, {"zone-precision"}, {"cpus": cpus})
    v = check_violation(
        result, "zone-precision", "other-zone", {"call", "zone", "drained_zone", "cpu", "pages"}
    )
    assert (v.details["zone"], v.details["drained_zone"]) == ("Normal", "DMA32")
    assert v.details["pages"] > 0
    assert v.actors == ("alloc_contig_range",)


async def test_zone_precision_lets_a_global_drain_empty_every_zone() -> None:
    """drain_all_pages(NULL) asks for every zone: the same every-zone drain is no violation."""
    data = dict(resolve_scenario("zone-over-drain").data)
    phases = [dict(p) for p in data["phases"]]
    phases[1] = {"actors": [{"kind": "drain", "cpu": 0, "times": 1, "name": "reclaimer"}]}
    data.update(name="zone-over-drain-global", phases=phases, probes=["drain-called"])
    global_drain = parse_scenario(data, "tests/test_oracles.py (global drain)")
    await assert_silent(global_drain, EVERY_ZONE, {})


# ============================================================================ silence


#: (oracle under test, scenario, design, params): cells the expected matrix marks '.' (and
#: plain workloads every correct design must pass).  Each must run clean on every schedule.
SILENT: list[tuple[str, str, str, dict[str, Any]]] = [
    *(
        ("drain-completeness", "drain-from-kworker", d, {})
        for d in ("ipi", "wq-5.0", "remote-6.0", "remote-6.11")
    ),
    *(
        ("drain-completeness", "shared-mask-race", d, {})
        for d in ("wq-4.11", "wq-5.0", "remote-6.0", "remote-6.11")
    ),
    ("drain-completeness", "count-race", "remote-6.11", {}),
    *(
        ("zone-precision", "zone-over-drain", d, {})
        for d in ("ipi", "wq-5.0", "remote-6.0", "remote-6.11")
    ),
    *(
        ("pcp-exclusive", "ipi-vs-preempt-pcp", d, {})
        for d in ("wq-rfc", "wq-hotplug", "wq-4.11", "wq-5.0")
    ),
    *(
        ("pcp-exclusive", "steady", d, {})
        for d in ("ipi", "wq-4.11", "wq-5.0", "remote-6.0", "remote-6.11")
    ),
    *(
        ("liveness", "no-rescuer-under-pressure", d, {})
        for d in ("ipi", "wq-4.11", "wq-5.0", "remote-6.0", "remote-6.11")
    ),
    *(
        ("liveness", "reclaim-storm", d, {})
        for d in ("ipi", "wq-4.11", "wq-5.0", "remote-6.0", "remote-6.11")
    ),
    *(("wq-watchdog", "hog-in-pool", d, {}) for d in ("ipi", "remote-6.0", "remote-6.11")),
    *(
        ("disturbance-bound", "drain-storm", d, {"cpus": n})
        for d in ("wq-4.11", "wq-5.0", "remote-6.0", "remote-6.11")
        for n in (3, 4)
    ),
    *(
        ("deadlock", "hotplug-lock-abba", d, {})
        for d in ("ipi", "wq-rfc", "wq-4.11", "wq-5.0", "remote-6.0", "remote-6.11")
    ),
]


def _silent_id(cell: tuple[str, str, str, dict[str, Any]]) -> str:
    oracle, scenario, design, params = cell
    extra = "".join(f",{k}={v}" for k, v in params.items())
    return f"{oracle}:{scenario}:{design}{extra}"


async def assert_silent(
    scenario: Scenario, design: str | DrainDesign, params: dict[str, Any]
) -> None:
    for sched in schedules():
        result = await run_spec_async(make_run_spec(scenario, design, params), sched)
        assert result.outcome is Outcome.OK, (
            f"{_label(scenario, design)} under {sched.name}({sched.seed}): {result.headline}"
        )
        assert result.extra["drain_calls"], "the scenario made no drain call"


@pytest.mark.parametrize("cell", SILENT, ids=[_silent_id(c) for c in SILENT])
async def test_oracles_stay_silent_on_correct_designs(
    cell: tuple[str, str, str, dict[str, Any]],
) -> None:
    """Correct designs run clean where the expected hazard matrix says NOT FOUND."""
    oracle, scenario, design, params = cell
    declared = {*resolve_scenario(scenario).oracles, "page-conservation", "pcp-exclusive"}
    assert oracle in declared | {"deadlock"}  # the oracle under test really watches the run
    await assert_silent(scenario, design, params)


@pytest.mark.parametrize("design", ["ipi", "wq-4.11", "wq-5.0", "remote-6.0", "remote-6.11"])
async def test_flush_dependency_stays_silent_on_correct_designs(design: str) -> None:
    """Designs that flush only mm_percpu_wq works (or none) never trip check_flush_dependency."""
    for base in ("steady", "reclaim-storm"):
        await assert_silent(
            variant(base, f"{base}-flush-dependency", ["flush-dependency"]), design, {}
        )


@pytest.mark.parametrize(
    "design", ["ipi", "wq-hotplug", "wq-4.11", "wq-5.0", "remote-6.0", "remote-6.11"]
)
async def test_offline_during_drain_is_silent_on_correct_designs(design: str) -> None:
    """pcp-exclusive and page-conservation stay silent in H5 for the designs marked '.'."""
    await assert_silent("offline-during-drain", design, {})


@pytest.mark.parametrize("design", ["wq-4.11", "wq-5.0"])
async def test_hotplug_churn_is_silent_on_correct_wq_designs(design: str) -> None:
    """A CPU going down and up while correct wq designs drain leaves every PCP exclusive."""
    await assert_silent("hotplug-churn", design, {})


@pytest.mark.parametrize("design", ["ipi", "remote-6.0", "remote-6.11"])
async def test_hotplug_churn_is_silent_on_designs_without_works(design: str) -> None:
    """Designs that queue no works run the hotplug churn clean."""
    await assert_silent("hotplug-churn", design, {})


# (i) the IPI drain sent with local IRQs disabled
async def _ipi_irqs_off(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    mask = CpuMask(m.nr_cpus)

    async def drain_local(z: Zone | None) -> None:
        await m.drain_local_pages(z)

    flags = m.engine.local_irq_save()
    await build_cpus_with_pcps(m, mask, zone, force_all_cpus)
    await m.on_each_cpu_mask(mask.cpus(), drain_local, zone, wait=True)
    m.engine.local_irq_restore(flags)


IPI_IRQS_OFF = DrainDesign("broken-ipi-irqs-off", _ipi_irqs_off, eras=(Protection.IRQ,))


@pytest.mark.parametrize("scenario", ["steady", "drain-storm"])
async def test_kernel_warn_reports_ipis_sent_with_irqs_off(scenario: str) -> None:
    """kernel-warn (always on) reports smp_call_function_many's WARN_ON_ONCE, as the kernel
    prints it, with the actor, its CPU and the model's call chain."""
    result = await find_violation(scenario, IPI_IRQS_OFF, {"kernel-warn"})
    v = check_violation(result, "kernel-warn", "warn", {"warning", "cpu", "call_chain"})
    assert v.message.startswith(f"WARNING: CPU: {v.details['cpu']} PID: {v.actors[0]} at ")
    assert "smp_call_function_many" in v.details["warning"]
    chain = v.details["call_chain"]
    assert chain[0] == "on_each_cpu_mask" and "_ipi_irqs_off" in chain
    assert chain.index("_ipi_irqs_off") < chain.index("drain_all_pages")


@pytest.mark.parametrize("design", ["ipi", "wq-4.11", "wq-5.0", "remote-6.0", "remote-6.11"])
async def test_kernel_warn_stays_silent_on_correct_designs(design: str) -> None:
    """The built-in designs raise no WARN in a plain workload (kernel-warn is always on, so
    the matrix's '.' cells check the rest)."""
    await assert_silent("steady", design, {})


# (j) remote-6.11's locked drains, all of them inside one local_irq_save()
async def _all_under_irqs_off(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    flags = m.engine.local_irq_save()
    for cpu in m.online_cpus():
        for z in _zones(m, zone):
            await m.drain_pages_zone(cpu, z)
    m.engine.local_irq_restore(flags)


ALL_UNDER_IRQS_OFF = DrainDesign(
    "broken-all-under-irqs-off", _all_under_irqs_off, eras=(Protection.SPINLOCK,), kernel="test"
)


@pytest.mark.parametrize("cpus", [1, 2])
async def test_irq_off_bound_catches_a_drain_with_irqs_off_throughout(cpus: int) -> None:
    """E17's chunks do not help a caller that keeps IRQs off around all of them."""
    result = await find_violation(
        "long-irq-off-drain", ALL_UNDER_IRQS_OFF, {"irq-off-bound"}, {"cpus": cpus}
    )
    v = check_violation(
        result, "irq-off-bound", "long-section", {"duration_ns", "bound_ns", "call", "caller"}
    )
    assert v.details["duration_ns"] > v.details["bound_ns"] == 40_000
    assert v.actors == ("reclaimer",) and v.details["caller"] == "reclaimer"


async def test_irq_off_bound_reads_the_scenario_bound() -> None:
    """The same drain under a bound above a whole PCP's drain is no violation."""
    data = dict(resolve_scenario("long-irq-off-drain").data)
    data.update(
        name="long-irq-off-drain-loose", oracle_options={"irq-off-bound": {"bound_us": 900}}
    )
    loose = parse_scenario(data, "tests/test_oracles.py (loose bound)")
    await assert_silent(loose, ALL_UNDER_IRQS_OFF, {"cpus": 1})
