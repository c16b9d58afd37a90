"""Kernel features a design declares, and the machine behaviour they select."""

from __future__ import annotations

from typing import Any

import pytest

from pcptrio import BadInput
from pcptrio._core import Engine, Outcome, RandomScheduler, RWSemaphore
from pcptrio._drain import BUILTIN_DESIGNS, DrainDesign, install_design, resolve_design
from pcptrio._explore import make_run_spec, run_spec_async
from pcptrio._kernel import (
    GFP_ATOMIC,
    WQ_FREEZABLE,
    KernelFeatures,
    Machine,
    MachineParams,
    Protection,
    Zone,
)
from pcptrio._scenarios import parse_scenario


async def _reader_gets_in_behind_a_waiting_writer(writer_blocks_readers: bool) -> list[str]:
    """A reader holds the lock, a writer waits, a second reader arrives: the order in which
    the writer and the second reader get the lock."""
    e = Engine(cpus=3, scheduler=RandomScheduler(1))
    lock = RWSemaphore(e, "cpu_hotplug_lock", writer_blocks_readers=writer_blocks_readers)
    order: list[str] = []

    async def first_reader() -> None:
        await lock.down_read()
        await e.sleep(10_000)  # the writer and the second reader arrive meanwhile
        await lock.up_read()

    async def writer() -> None:
        await e.sleep(1_000)
        await lock.down_write()
        order.append("writer")
        await lock.up_write()

    async def second_reader() -> None:
        await e.sleep(2_000)
        await lock.down_read()
        order.append("reader")
        await lock.up_read()

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(first_reader, name="r1", cpu=0)
            n.start_soon(writer, name="w", cpu=1)
            n.start_soon(second_reader, name="r2", cpu=2)

    r = await e.run(main)
    assert r.outcome is Outcome.OK, r.error
    return order


async def test_a_waiting_writer_holds_off_new_readers_of_a_percpu_rwsem() -> None:
    assert await _reader_gets_in_behind_a_waiting_writer(True) == ["writer", "reader"]


async def test_a_waiting_writer_does_not_hold_off_410_get_online_cpus() -> None:
    assert await _reader_gets_in_behind_a_waiting_writer(False) == ["reader", "writer"]


def test_designs_declare_their_hotplug_lock_and_the_machine_applies_it() -> None:
    by_name = {d.name: d.features.hotplug_lock for d in BUILTIN_DESIGNS}
    for old in ("ipi", "wq-rfc", "wq-hotplug", "wq-4.11-rc1", "wq-4.11-next", "wq-4.11"):
        assert by_name[old] == "mutex-refcount"
    for new in ("wq-5.0", "remote-6.0", "remote-6.11"):
        assert by_name[new] == "percpu-rwsem"
    for design, blocks in ((resolve_design("wq-hotplug"), False), (resolve_design("wq-5.0"), True)):
        era = Protection.SPINLOCK if "remote" in design.name else Protection.IRQ
        m = Machine(MachineParams(cpus=2, protection=era))
        install_design(m, design)
        assert m.hotplug.lock.writer_blocks_readers is blocks


def test_a_user_design_gets_a_current_kernel_and_may_declare_another() -> None:
    async def drain(m: Machine, zone: object, force_all_cpus: bool) -> None:
        return None

    assert DrainDesign("mine", drain).features.hotplug_lock == "percpu-rwsem"
    old = DrainDesign("mine-410", drain, features=KernelFeatures(hotplug_lock="mutex-refcount"))
    assert old.features.hotplug_lock == "mutex-refcount"
    with pytest.raises(BadInput, match="unknown hotplug_lock feature 'rwlock'"):
        KernelFeatures(hotplug_lock="rwlock")


async def _booted_mm_percpu_wq(design: str, staged: bool) -> tuple[Any, Any]:
    """``mm_percpu_wq`` right after boot, and after the device initcalls."""
    m = Machine(MachineParams(cpus=1, boot_initcalls=staged))
    install_design(m, resolve_design(design))
    seen: list[Any] = []

    async def workload(m: Machine) -> None:
        seen.append(m.mm_percpu_wq)
        if staged:
            m.initcall("device")
        seen.append(m.mm_percpu_wq)

    r = await m.run(workload)
    assert r.outcome is Outcome.OK, r.error
    return seen[0], seen[1]


async def test_the_drain_workqueue_is_created_when_the_designs_kernel_created_it() -> None:
    early, late = await _booted_mm_percpu_wq("wq-4.11", staged=True)
    assert early is not None and late is early  # init_mm_internals(), before any initcall
    early, late = await _booted_mm_percpu_wq("wq-4.11-next", staged=True)
    assert early is None and late is not None  # module_init(setup_vmstat)
    assert late.flags & WQ_FREEZABLE
    early, _ = await _booted_mm_percpu_wq("wq-4.11-next", staged=False)
    assert early is not None  # a machine that has booted completely has it


def test_unknown_features_are_refused() -> None:
    with pytest.raises(BadInput, match="unknown mm_percpu_wq_init feature 'late'"):
        KernelFeatures(mm_percpu_wq_init="late")


async def _overshoot(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """A remote drain asking free_pcppages_bulk() for more pages than the PCP holds."""
    for cpu in m.online_cpus():
        for z in [zone] if zone is not None else m.zones:
            pcp = m.pcp(cpu, z)
            flags = await pcp.lock.lock_irqsave()
            if pcp.count:
                await m.free_pcppages_bulk(z, pcp.count + 10, pcp)
            await pcp.lock.unlock_irqrestore(flags)


@pytest.mark.parametrize("clamp", [True, False])
async def test_free_pcppages_bulk_clamps_count_where_the_kernel_does(clamp: bool) -> None:
    """88e8ac11d2ea (v5.9, "mm: fix core hung in free_pcppages_bulk()"): count =
    min(pcp->count, count).  Without it the lists run dry with count left over and the
    search for a non-empty list spins for ever with zone->lock held and IRQs off: the hard
    lockup watchdog reports it."""
    design = DrainDesign(
        f"overshoot-clamp-{clamp}",
        _overshoot,
        eras=(Protection.SPINLOCK,),
        features=KernelFeatures(pcp_count_clamp=clamp),
    )
    r = await run_spec_async(make_run_spec("drain-from-kworker", design), RandomScheduler(1))
    if clamp:
        assert r.outcome is Outcome.OK, r.headline
    else:
        v = r.violation
        assert v is not None and (v.oracle, v.kind) == ("lockup", "hard-lockup"), r.headline
        assert "Watchdog detected hard LOCKUP on cpu" in v.message


@pytest.mark.parametrize(
    ("machine", "level", "message"),
    [
        ({"boot_initcalls": True}, "bogus", r"expected an initcall level .*got 'bogus'"),
        ({}, "arch", "an initcall actor needs machine.boot_initcalls = true"),
    ],
)
def test_initcall_actors_are_checked_when_the_scenario_loads(
    machine: dict[str, Any], level: str, message: str
) -> None:
    data = {
        "name": "boot-test",
        "title": "t",
        "description": "d",
        "probes": ["drain-called"],
        "params": {"cpus": 2},
        "machine": {"zones": [{"name": "Normal", "pages": 16384}], **machine},
        "phases": [{"actors": [{"kind": "initcall", "level": level}]}],
    }
    with pytest.raises(BadInput, match=message):
        make_run_spec(parse_scenario(data, "test"), "wq-4.11")


async def _irq_alloc_while_the_task_holds_pcp_lock(pcp_lock: str) -> tuple[Machine, list[int]]:
    """6.2+: the task on CPU 1 holds its pcp->lock with IRQs on; an interrupt there
    allocates and frees a page."""
    m = Machine(MachineParams(cpus=2, protection=Protection.SPINLOCK), scheduler=None)
    KernelFeatures(pcp_lock=pcp_lock).apply(m)
    got: list[int] = []

    async def handler() -> None:
        pfn = await m.alloc_pages(GFP_ATOMIC)
        assert pfn is not None
        got.append(pfn)
        await m.free_pages(pfn)

    async def holder() -> None:
        e = m.engine
        pcp = m.pcp(1, m.zones[0])
        await pcp.lock.lock()  # spin_lock: preemption off, IRQs on
        e.raise_irq(1, handler, name="softirq")
        await e.spend(10_000)
        await pcp.lock.unlock()

    async def workload(m: Machine) -> None:
        async with m.engine.open_nursery() as n:
            n.start_soon(holder, name="holder", cpu=1)

    r = await m.run(workload)
    assert r.outcome is Outcome.OK, r.headline
    return m, got


async def test_an_interrupt_falls_back_to_the_buddy_while_its_cpu_holds_pcp_lock() -> None:
    """5749077415994 (v6.2): pcp->lock leaves IRQs on, so interrupt-context allocation and
    free use pcp_spin_trylock and fall back to the buddy when their CPU holds the lock."""
    m, got = await _irq_alloc_while_the_task_holds_pcp_lock("irqs-on")
    assert len(got) == 1
    assert m.engine.counters.get("pcp_trylock_fail", 0) == 2  # the alloc and the free
    pcp = m.pcp(1, m.zones[0])
    assert pcp.allocs == 0 and pcp.frees == 0  # the page never went through the PCP


async def test_an_interrupt_in_the_preempt_era_bypasses_the_pcp() -> None:
    """E4 (374ad05ab64d): in_interrupt() allocations and frees go straight to the buddy."""
    m = Machine(MachineParams(cpus=1, protection=Protection.PREEMPT), scheduler=None)

    async def handler() -> None:
        pfn = await m.alloc_pages(GFP_ATOMIC)
        assert pfn is not None
        await m.free_pages(pfn)

    async def workload(m: Machine) -> None:
        m.engine.raise_irq(0, handler, name="softirq")
        await m.engine.spend(10_000)

    r = await m.run(workload)
    assert r.outcome is Outcome.OK, r.headline
    pcp = m.pcp(0, m.zones[0])
    assert (pcp.allocs, pcp.frees, pcp.refills) == (0, 0, 0)


@pytest.mark.parametrize("design", ["ipi", "wq-4.11", "remote-6.0", "remote-6.11"])
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_irq_alloc_actors_run_under_every_era(design: str, seed: int) -> None:
    """Interrupt-context allocations next to task churn and drains: every era's path (the
    IRQ-off PCP, E4's bypass, 6.0's IRQ-safe lock, 6.2+'s trylock) keeps every oracle quiet,
    and the interrupts really ran and allocated."""
    data = {
        "name": "irq-alloc-mix",
        "phases": [
            {
                "actors": [
                    {"kind": "churn", "cpus": "all", "ops": 20},
                    {"kind": "irq-alloc", "cpus": "all", "times": 3, "pages": 3, "gap_ns": 700},
                    {"kind": "drain", "cpu": 0, "times": 2, "gap_ns": 1500},
                ]
            }
        ],
    }
    r = await run_spec_async(
        make_run_spec(parse_scenario(data, "test"), design), RandomScheduler(seed)
    )
    assert r.outcome is Outcome.OK, r.headline
    handlers = [n for n in r.stats.per_actor_steps if n.startswith("irq:cpu")]
    assert len(handlers) == 3 * r.extra["params"]["cpus"]
    if design == "wq-4.11":  # E4: in_interrupt() never touches the PCP, so no trylock either
        assert r.stats.counters.get("pcp_trylock_fail", 0) == 0


@pytest.mark.parametrize("wq_unbind", ["highpri-work", "direct"])
async def test_workqueue_offline_unbinds_as_the_kernel_did(wq_unbind: str) -> None:
    """v4.10's workqueue_offline_cpu() queues wq_unbind_fn on the dying CPU's
    system_highpri_wq and flushes it (cpu_down waits for that worker, hotplug lock held);
    v4.16+ calls unbind_workers() in the hotplug thread.  Either way the pools end up
    disassociated before the CPU leaves the online mask."""
    m = Machine(MachineParams(cpus=3), scheduler=None)
    KernelFeatures(wq_unbind=wq_unbind).apply(m)

    async def workload(m: Machine) -> None:
        assert await m.cpu_down(2)

    r = await m.run(workload)
    assert r.outcome is Outcome.OK, r.headline
    runs = [rec for rec in r.trace if rec[4] == "work_start" and rec[5]["func"] == "wq_unbind_fn"]
    disassociated = [rec[5]["pool"] for rec in r.trace if rec[4] == "pool_disassociated"]
    assert disassociated == [4, 5]  # cpu2's normal and highpri pools
    if wq_unbind == "highpri-work":
        assert len(runs) == 1
        (run,) = runs
        assert (run[3], run[5]["pool"], run[5]["wq"]) == (2, 5, "events_highpri")
        assert run[2].startswith("kworker/2:") and run[2].endswith("H")
    else:
        assert runs == []
    down = next(rec[0] for rec in r.trace if rec[4] == "cpu_down_end")
    assert all(rec[0] < down for rec in r.trace if rec[4] == "pool_disassociated")
