"""``work-debug``: the model's CONFIG_DEBUG_OBJECTS_WORK, and the oracle that reports it.

A design that re-initialises its static per-CPU works without serialising its callers (the
wq-4.11 pattern without ``pcpu_drain_mutex``) is caught by a campaign; every built-in design
stays clean; each misuse kind (``init-active``, ``init-running``, ``free-pending``,
``activate-uninit``) is caught on a bare machine, and the list corruption an INIT_WORK on a
queued work causes is modelled (and reported) when nothing stops the run.
"""

from __future__ import annotations

from typing import Any

import pytest

from pcptrio._check import ALWAYS_ON, attach_oracles, make_oracle
from pcptrio._core import MSEC, Outcome, PCTScheduler, RandomScheduler, RunResult
from pcptrio._drain import (
    BUILTIN_DESIGNS,
    CpuMask,
    DrainDesign,
    build_cpus_with_pcps,
    flush_in_nursery,
)
from pcptrio._explore import CampaignConfig, explore, make_run_spec, replay, run_spec_async
from pcptrio._kernel import (
    Machine,
    MachineParams,
    Protection,
    WorkStruct,
    Zone,
    ZoneSpec,
    debug_check_no_obj_freed,
    destroy_work_on_stack,
)
from pcptrio._scenarios import NotApplicable

# ============================================================================ a broken design


class _PerCpuWorks:
    """wq-4.11's static state without ``pcpu_drain_mutex``: a mask and per-CPU works."""

    def __init__(self, m: Machine) -> None:
        self.mask = CpuMask(m.nr_cpus)
        self.works = [
            WorkStruct(_drain_local_pages_wq, "drain_local_pages_wq", f"pcpu_drain[{c}]", (m, None))
            for c in range(m.nr_cpus)
        ]


async def _drain_local_pages_wq(work: WorkStruct) -> None:
    m, zone = work.data
    m.engine.preempt_disable()
    await m.drain_local_pages(zone)
    m.engine.preempt_enable()


def _setup(m: Machine) -> None:
    m.design_state["broken-reinit-queued"] = _PerCpuWorks(m)


async def _reinit_queued(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    # wq-4.11's loop, but concurrent callers are not serialised: one caller's INIT_WORK hits
    # the work another caller has just queued (still pending).
    st: _PerCpuWorks = m.design_state["broken-reinit-queued"]
    await build_cpus_with_pcps(m, st.mask, zone)
    cpus = st.mask.cpus()
    for cpu in cpus:
        work = st.works[cpu]
        work.data = (m, zone)
        work.init(_drain_local_pages_wq, "drain_local_pages_wq")
        await m.queue_work_on(cpu, m.mm_percpu_wq, work)  # type: ignore[arg-type]
    await flush_in_nursery(m, [(cpu, st.works[cpu]) for cpu in cpus])


REINIT_QUEUED = DrainDesign(
    "broken-reinit-queued",
    _reinit_queued,
    eras=(Protection.IRQ, Protection.PREEMPT),
    kernel="test: wq-4.11 without pcpu_drain_mutex",
    setup=_setup,
)


def test_campaign_catches_init_work_on_a_queued_static_work() -> None:
    """Reclaimers racing through wq-4.11's loop without the mutex re-INIT_WORK a pending work."""
    res = explore(
        CampaignConfig(
            make_run_spec("drain-storm", REINIT_QUEUED), schedules=30, seed=0, scheduler="pct"
        )
    )
    f = res.failure
    assert f is not None, res.summary()
    assert (f.oracle, f.kind) == ("work-debug", "init-active"), f.message
    assert "ODEBUG: init active" in f.message and "pcpu_drain[" in f.message
    again = replay(f.token)  # the design travels in the token as module:attribute
    assert again.violation is not None and again.violation.signature == f.signature


async def test_the_violation_names_the_work_its_state_and_the_actor() -> None:
    """The init-active violation carries the work, its pool and list, and both drainers."""
    spec = make_run_spec("drain-storm", REINIT_QUEUED)
    for seed in range(20):
        result = await run_spec_async(spec, PCTScheduler(seed, depth=3))
        v = result.violation
        if v is not None and v.oracle == "work-debug":
            break
    else:
        pytest.fail("no work-debug violation in 20 PCT schedules")
    assert v.kind == "init-active"
    d = v.details
    assert d["work"].startswith("pcpu_drain[") and d["func"] == "drain_local_pages_wq"
    assert d["pending"] is True and d["wq"] == "mm_percpu_wq"
    assert d["queued"] == f"pool {d['pool']}'s worklist (mm_percpu_wq)"
    assert v.actors == (d["actor"],) and d["actor"].startswith("drainer")
    assert d["actor"] in v.message and d["work"] in v.message


# ============================================================================ built-ins stay clean

_SCENARIOS = ("steady", "drain-storm", "shared-mask-race")


@pytest.mark.parametrize("scenario", _SCENARIOS)
@pytest.mark.parametrize("design", [d.name for d in BUILTIN_DESIGNS])
async def test_builtin_designs_never_trip_work_debug(design: str, scenario: str) -> None:
    """No built-in design misuses a work item: wq-4.11's INIT_WORK only hits flushed works."""
    try:
        spec = make_run_spec(scenario, design)
    except NotApplicable:
        pytest.skip(f"{scenario} does not apply to {design}")
    for sched in (RandomScheduler(0), RandomScheduler(1), PCTScheduler(0), PCTScheduler(1)):
        result = await run_spec_async(spec, sched)
        v = result.violation
        assert v is None or v.oracle != "work-debug", result.headline
        assert result.stats.counters.get("work_debug", 0) == 0
        assert result.extra["drain_calls"]


def test_work_debug_is_always_on() -> None:
    """work-debug runs in every scenario, whatever oracles the scenario lists."""
    assert "work-debug" in ALWAYS_ON
    assert make_oracle("work-debug").name == "work-debug"


# ============================================================================ each misuse kind


def _machine(seed: int = 0) -> Machine:
    m = Machine(
        MachineParams(cpus=2, zones=(ZoneSpec("Normal", 4096),)), scheduler=RandomScheduler(seed)
    )
    attach_oracles(m, [])
    return m


async def _nap(work: WorkStruct) -> None:
    await work.data.engine.sleep(5 * MSEC)


def _violation(r: RunResult, kind: str) -> Any:
    v = r.violation
    assert r.outcome is Outcome.VIOLATION and v is not None, r.headline + (r.error or "")
    assert (v.oracle, v.kind) == ("work-debug", kind), v.message
    return v


async def test_init_work_on_a_pending_work_is_init_active() -> None:
    """INIT_WORK right after queue_work_on (still pending on cpu1's pool) is init-active."""
    m = _machine()

    async def workload(m: Machine) -> None:
        w = WorkStruct(_nap, "nap_fn", "w", m)
        assert await m.queue_work_on(1, m.system_wq, w)
        w.init(_nap, "nap_fn")

    v = _violation(await m.run(workload), "init-active")
    assert v.details["work"] == "w" and v.details["pending"] is True
    assert v.details["queued"] == "pool 2's worklist (events)" and v.details["pool"] == 2
    assert v.actors == ("main",)


async def test_init_work_on_a_running_work_is_init_running() -> None:
    """INIT_WORK while the work's function runs on a worker of CPU 1 is init-running."""
    m = _machine()

    async def workload(m: Machine) -> None:
        w = WorkStruct(_nap, "nap_fn", "w", m)
        assert await m.queue_work_on(1, m.system_wq, w)
        while not w.executions:
            await m.engine.sleep(1 * MSEC)
        w.init(_nap, "nap_fn")

    v = _violation(await m.run(workload), "init-running")
    assert v.details["pending"] is False
    # The work runs in a worker of CPU 1's normal pool: the boot worker or the spare that
    # kthreadd forked for it (whichever the schedule lets take it first).
    assert v.details["running"] in ("kworker/1:0", "kworker/1:1") and v.details["pool"] == 2
    assert "flush_work() returns before it ends" in v.message


async def test_destroying_a_pending_on_stack_work_is_free_pending() -> None:
    """destroy_work_on_stack on a work still pending is free-pending ("free active")."""
    m = _machine()

    async def workload(m: Machine) -> None:
        w = WorkStruct(_nap, "nap_fn", "onstack", m, on_stack=True)
        assert await m.queue_work_on(1, m.system_wq, w)
        destroy_work_on_stack(m, w)

    v = _violation(await m.run(workload), "free-pending")
    assert v.details["how"] == "destroy_work_on_stack" and v.details["pending"] is True
    assert v.message.startswith("ODEBUG: free active")


async def test_freeing_the_memory_of_a_pending_work_is_free_pending() -> None:
    """debug_check_no_obj_freed (kfree / free_percpu) over a pending work is free-pending."""
    m = _machine()

    async def workload(m: Machine) -> None:
        done = WorkStruct(_nap, "nap_fn", "done", m)
        queued = WorkStruct(_nap, "nap_fn", "queued", m)
        assert await m.queue_work_on(1, m.system_wq, done)
        await m.flush_work(done)
        assert await m.queue_work_on(1, m.system_wq, queued)
        debug_check_no_obj_freed(m, done, queued)

    v = _violation(await m.run(workload), "free-pending")
    assert v.details["work"] == "queued" and v.details["how"] == "debug_check_no_obj_freed"


async def test_on_stack_work_outliving_its_drain_call_is_free_pending() -> None:
    """An on-stack work a drain_all_pages() call queues and leaves pending is reported when a
    worker is about to run it from the returned frame."""
    m = _machine()

    async def leaves_it_pending(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
        w = WorkStruct(_nap, "nap_fn", "onstack", m, on_stack=True)
        await m.schedule_work_on(1, w)  # no flush_work before the frame returns

    m.drain_design = leaves_it_pending

    async def workload(m: Machine) -> None:
        await m.drain_all_pages()
        await m.engine.sleep(10 * MSEC)

    v = _violation(await m.run(workload), "free-pending")
    assert v.details["how"] == "frame returned" and v.details["owner"] == "main"
    # A worker of CPU 1's normal pool: the boot worker or the spare kthreadd forked.
    assert v.details["worker"] in ("kworker/1:0", "kworker/1:1")
    assert "drain_all_pages() call #1 of main returned" in v.message
    assert v.actors == (v.details["worker"], "main")


async def test_queueing_an_uninitialised_work_is_activate_uninit() -> None:
    """queue_work_on on a work nobody INIT_WORK'ed is activate-uninit."""
    m = _machine()

    async def workload(m: Machine) -> None:
        w = WorkStruct.uninitialised("zeroed", _nap, "nap_fn", m)
        await m.queue_work_on(1, m.system_wq, w)

    v = _violation(await m.run(workload), "activate-uninit")
    assert v.details["work"] == "zeroed" and v.details["freed_by"] is None
    assert "never INIT_WORK'ed" in v.message


async def test_queueing_a_destroyed_work_is_activate_uninit() -> None:
    """After destroy_work_on_stack the work is untracked: queueing it again is reported."""
    m = _machine()

    async def workload(m: Machine) -> None:
        w = WorkStruct(_nap, "nap_fn", "onstack", m, on_stack=True)
        await m.schedule_work_on(1, w)
        await m.flush_work(w)
        destroy_work_on_stack(m, w)  # quiet: it has run
        await m.schedule_work_on(1, w)

    v = _violation(await m.run(workload), "activate-uninit")
    assert v.details["freed_by"] == "destroy_work_on_stack by main"


async def test_init_work_on_an_idle_work_is_quiet_and_uninitialised_works_can_be_inited() -> None:
    """wq-4.11's pattern (flush, INIT_WORK, queue) and INIT_WORK of zeroed memory are fine."""
    for seed in range(5):
        m = _machine(seed)

        async def workload(m: Machine) -> None:
            w = WorkStruct.uninitialised("pcpu_drain[1]")
            w.data = m
            for _ in range(3):
                w.init(_nap, "nap_fn")
                assert await m.queue_work_on(1, m.mm_percpu_wq, w)  # type: ignore[arg-type]
                assert await m.flush_work(w)
            assert w.executions == 3

        r = await m.run(workload)
        assert r.outcome is Outcome.OK, r.headline + (r.error or "")
        assert r.stats.counters.get("work_debug", 0) == 0


# ============================================================================ the consequence


async def test_init_work_on_a_queued_work_leaves_a_link_that_corrupts_the_list() -> None:
    """Without the oracle the run goes on: the old worklist keeps an orphaned link, the next
    queue_work_on links the work again (list corruption), the worker drops the orphan, and the
    pool's accounting comes back to zero."""
    for seed in range(5):
        m = Machine(
            MachineParams(cpus=2, zones=(ZoneSpec("Normal", 4096),)),
            scheduler=RandomScheduler(seed),
        )
        seen: list[tuple[str, dict[str, Any]]] = []
        m.sensors.work_debug.append(lambda kind, msg, d: seen.append((kind, d)))
        flushed: list[bool] = []
        released: list[bool] = []

        async def blocker_fn(work: WorkStruct) -> None:
            # runnable, never sleeping: nr_running stays 1, nothing else of the pool starts
            while not released:
                await m.engine.spend(1 * MSEC)
                await m.engine.point("cond_resched")

        async def workload(m: Machine) -> None:
            pool = m.wq.cpu_pools[1][0]
            blocker = WorkStruct(blocker_fn, "blocker_fn", "blocker")
            assert await m.queue_work_on(1, m.system_wq, blocker)
            while not (
                blocker.executions
                and pool.nr_running == 1
                and pool.manager is None
                and all(w.sleeping_idle for w in pool.idle_list)
            ):
                await m.engine.sleep(1 * MSEC)
            w = WorkStruct(_nap, "nap_fn", "w", m)
            assert await m.queue_work_on(1, m.system_wq, w)
            w.init(_nap, "nap_fn")
            assert not w.pending and w.pwq is None and w.entry is None
            assert [x.label for x in pool.worklist] == ["w"] and pool.worklist[0] is not w
            flushed.append(await m.flush_work(w))  # work->data has no pool: returns at once
            assert await m.queue_work_on(1, m.system_wq, w)  # linked a second time
            assert [x.label for x in pool.worklist] == ["w", "w"]
            released.append(True)
            assert await m.flush_work(w)
            await m.engine.sleep(10 * MSEC)
            assert pool.worklist == [] and not w.stale and w.executions == 1

        r = await m.run(workload)
        assert r.outcome is Outcome.OK, r.headline + (r.error or "")
        assert flushed == [False]
        kinds = [(k, d.get("corruption")) for k, d in seen]
        assert kinds == [
            ("init-active", None),
            ("list-corruption", "double-add"),
            ("list-corruption", "orphaned-link"),
        ]
        assert seen[1][1]["stale"] == "pool 2's worklist (events)"
        assert seen[2][1]["actor"] == seen[2][1]["worker"]
        pwq = m.system_wq.cpu_pwqs[1]
        assert pwq.nr_active == 0 and m.drain_works_active == 0
