"""The percpu allocator: GFP_KERNEL populates under pcpu_alloc_mutex, GFP_ATOMIC only uses
what is populated, and pcpu_balance_workfn refills the atomic pool asynchronously."""

from __future__ import annotations

import pytest

from pcptrio._core import Outcome, RandomScheduler
from pcptrio._explore import make_run_spec, run_spec_async
from pcptrio._kernel import GFP_ATOMIC, GFP_KERNEL, Machine, MachineParams
from pcptrio._scenarios import parse_scenario


async def _atomic_allocs(populated: int, n: int, *, boot_initcalls: bool = False) -> Machine:
    m = Machine(
        MachineParams(cpus=2, percpu_populated=populated, boot_initcalls=boot_initcalls),
        scheduler=None,
    )

    async def workload(m: Machine) -> None:
        for _ in range(n):
            await m.alloc_percpu_gfp(1, GFP_ATOMIC)
        await m.engine.sleep(100_000_000)  # time for the balance work

    r = await m.run(workload)
    assert r.outcome is Outcome.OK, r.headline
    return m


async def test_an_allocation_that_leaves_the_pool_low_schedules_the_balance_work() -> None:
    """pcpu_alloc(): "if (pcpu_nr_empty_pop_pages < PCPU_EMPTY_POP_PAGES_LOW)
    pcpu_schedule_balance_work();" — the work populates a chunk with GFP_KERNEL pages."""
    m = await _atomic_allocs(3, 1)  # 2 left: not low, no balance
    st = m.percpu.statistics()
    assert (st.balance_runs, st.chunks_populated, st.populated_free) == (0, 0, 2)
    m = await _atomic_allocs(3, 2)  # 1 left: below LOW
    st = m.percpu.statistics()
    assert (st.balance_runs, st.chunks_populated, st.atomic_failures) == (1, 1, 0)
    assert st.populated_free == 1 + 64


async def test_an_atomic_failure_schedules_the_balance_work_and_the_pool_refills() -> None:
    """fail: "pcpu_atomic_alloc_failed = true; pcpu_schedule_balance_work();": a long run
    of GFP_ATOMIC allocations fails once, not for ever."""
    m = Machine(MachineParams(cpus=2, percpu_populated=0), scheduler=None)
    results: list[bool] = []

    async def workload(m: Machine) -> None:
        for _ in range(200):
            results.append(await m.alloc_percpu_gfp(1, GFP_ATOMIC) is not None)
            await m.engine.sleep(1_000_000)

    r = await m.run(workload)
    assert r.outcome is Outcome.OK, r.headline
    st = m.percpu.statistics()
    failed = [i for i, ok in enumerate(results) if not ok]
    # the empty pool fails until the first balance work has forked its kworker and
    # populated; after that the pool never runs dry again
    assert failed and failed == list(range(len(failed))) and len(failed) <= 3
    assert st.atomic_failures == len(failed) and st.balance_runs >= 4


async def test_no_balance_work_before_percpu_enable_async() -> None:
    """pcpu_schedule_balance_work() does nothing until percpu_enable_async(), a
    subsys_initcall: a boot stopped before the initcalls gets no refill."""
    m = await _atomic_allocs(1, 1, boot_initcalls=True)
    st = m.percpu.statistics()
    assert (st.balance_runs, st.populated_free) == (0, 0)


async def test_gfp_kernel_allocation_populates_and_then_balances() -> None:
    m = Machine(MachineParams(cpus=2, percpu_populated=0), scheduler=None)

    async def workload(m: Machine) -> None:
        assert await m.alloc_percpu_gfp(64, GFP_KERNEL) is not None
        await m.engine.sleep(100_000_000)

    r = await m.run(workload)
    assert r.outcome is Outcome.OK, r.headline
    st = m.percpu.statistics()
    # the allocation populated one chunk and took all of it; the balance work a second
    assert (st.chunks_populated, st.balance_runs, st.populated_free) == (2, 1, 64)


@pytest.mark.parametrize("seed", [1, 2])
async def test_wq_rfc_drains_keep_their_percpu_works_in_a_long_run(seed: int) -> None:
    """wq-rfc allocates its works with alloc_percpu_gfp(GFP_ATOMIC) on every call and never
    frees them.  With the asynchronous refill only the calls that find the pool empty
    before the balance work has run fall back to the serial drain."""
    data = {
        "name": "many-drains",
        "phases": [{"actors": [{"kind": "drain", "cpu": 0, "times": 150, "gap_ns": 20000}]}],
    }
    spec = make_run_spec(parse_scenario(data, "test"), "wq-rfc")
    r = await run_spec_async(spec, RandomScheduler(seed))
    assert r.outcome is Outcome.OK, r.headline
    events = [rec[4] for rec in r.trace]
    assert events.count("pcpu_alloc") == 150
    # 64 populated units at boot, refilled before they run out: no call falls back
    assert events.count("pcpu_alloc_fail") == 0
    assert any(
        rec[4] == "work_start" and rec[5]["func"] == "pcpu_balance_workfn" for rec in r.trace
    )
