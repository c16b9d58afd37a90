"""Workqueue rules: concurrency management, lockups, mayday and the
rescuer, hotplug, flushing, non-reentrancy, freezing, ``schedule_on_each_cpu``, statistics.

Every test runs a whole machine and asserts on what the run recorded: trace records, virtual
times, pool statistics and counters.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from pcptrio._core import (
    MSEC,
    SEC,
    ActorState,
    Outcome,
    RandomScheduler,
    RunResult,
    TraceRecord,
    build_wait_graph,
)
from pcptrio._kernel import (
    CREATE_COOLDOWN,
    MAYDAY_INITIAL_TIMEOUT,
    MAYDAY_INTERVAL,
    PF_MEMALLOC,
    WQ_FREEZABLE,
    WQ_MEM_RECLAIM,
    Machine,
    MachineParams,
    Workqueue,
    WorkStruct,
    ZoneSpec,
)

SEEDS = range(10)


def make_machine(seed: int, cpus: int = 2, max_time_ns: int | None = None) -> Machine:
    return Machine(
        MachineParams(cpus=cpus, zones=(ZoneSpec("Normal", 4096),)),
        scheduler=RandomScheduler(seed),
        max_time_ns=max_time_ns,
    )


def records(r: RunResult, event: str, **match: Any) -> list[TraceRecord]:
    """Trace records of ``event`` whose fields contain ``match``."""
    return [
        rec
        for rec in r.trace
        if rec[4] == event and all(rec[5].get(k) == v for k, v in match.items())
    ]


def one(r: RunResult, event: str, **match: Any) -> TraceRecord:
    found = records(r, event, **match)
    assert len(found) == 1, (event, match, found)
    return found[0]


def ok(r: RunResult) -> None:
    assert r.outcome is Outcome.OK, r.headline + "\n" + (r.error or "")


async def wait_until(
    m: Machine, cond: Callable[[], bool], step_ns: int = 1 * MSEC, limit: int = 1000
) -> None:
    """Poll ``cond()`` from the current actor, sleeping ``step_ns`` between tries."""
    for _ in range(limit):
        if cond():
            return
        await m.engine.sleep(step_ns)
    raise AssertionError("condition never became true")


async def flush_all(m: Machine, *works: WorkStruct) -> None:
    """Flush each work (flush_work is False for one that already finished) and check that
    each has run and none is pending or running any more."""
    for w in works:
        await m.flush_work(w)
    for w in works:
        assert w.executions >= 1 and not w.pending, w
        assert w.last_pool is None or w not in w.last_pool.busy, w


def hog_work(m: Machine, total_ns: int) -> WorkStruct:
    """A runnable hog: busy in 100 ms slices with ``cond_resched()`` between, never sleeping;
    ``data`` gets its start and end times."""

    async def hog(work: WorkStruct) -> None:
        e = m.engine
        work.data["start"] = e.now
        spent = 0
        while spent < total_ns:
            await e.spend(100 * MSEC)
            await e.point("cond_resched")
            spent += 100 * MSEC
        work.data["end"] = e.now

    return WorkStruct(hog, "hog_fn", "hog", data={})


# ------------------------------------------------------------------ 1. concurrency management


async def test_sleeping_work_lets_next_item_of_pool_start() -> None:
    """While a work item sleeps, the next item of the same pool starts on another worker."""
    for seed in SEEDS:
        m = make_machine(seed)

        async def sleeper(work: WorkStruct) -> None:
            await m.engine.sleep(50 * MSEC)

        async def quick(work: WorkStruct) -> None:
            await m.engine.point("quick_body")

        async def workload(m: Machine) -> None:
            a = WorkStruct(sleeper, "sleeper_fn", "a")
            b = WorkStruct(quick, "quick_fn", "b")
            assert await m.queue_work_on(1, m.system_wq, a)
            assert await m.queue_work_on(1, m.system_wq, b)
            assert await m.flush_work(b)
            assert await m.flush_work(a)

        r = await m.run(workload)
        ok(r)
        a_start, a_end = one(r, "work_start", work="a"), one(r, "work_end", work="a")
        b_start = one(r, "work_start", work="b")
        assert a_start[5]["pool"] == b_start[5]["pool"] == 2  # CPU1's normal pool
        assert a_end[1] - a_start[1] == 50 * MSEC
        # b started while a was still asleep, on a different kworker of the same pool
        assert a_start[1] <= b_start[1] < a_end[1]
        assert b_start[0] < a_end[0]
        assert b_start[2] != a_start[2]
        assert a_start[2].startswith("kworker/1:") and b_start[2].startswith("kworker/1:")


async def test_runnable_hog_blocks_pool_and_watchdog_reports_lockup() -> None:
    """A work that stays runnable for 60 s blocks every later item of its pool (of any
    workqueue), and the watchdog reports a kernel-style lockup after >= 30 s."""
    m = make_machine(1)
    lockups: list[tuple[int, str, str, dict[str, Any]]] = []
    m.sensors.wq_lockup.append(lambda head, dump, d: lockups.append((m.engine.now, head, dump, d)))
    hog = hog_work(m, 60 * SEC)
    ran: dict[str, int] = {}

    async def victim(work: WorkStruct) -> None:
        ran[work.label] = m.engine.now

    async def workload(m: Machine) -> None:
        assert await m.queue_work_on(1, m.system_wq, hog)
        await wait_until(m, lambda: "start" in hog.data)
        v1 = WorkStruct(victim, "victim_fn", "v_events")
        v2 = WorkStruct(victim, "victim_fn", "v_reclaim")
        assert await m.queue_work_on(1, m.system_wq, v1)
        assert m.mm_percpu_wq is not None
        assert await m.queue_work_on(1, m.mm_percpu_wq, v2)
        assert await m.flush_work(v2)  # the last of the pool's items
        assert v1.executions == 1

    r = await m.run(workload)
    ok(r)
    hog_end = one(r, "work_end", work="hog")[1]
    assert hog_end - hog.data["start"] >= 60 * SEC
    # neither victim (events nor mm_percpu_wq, both on pool 2) started before the hog ended
    for label in ("v_events", "v_reclaim"):
        start = one(r, "work_start", work=label)
        assert start[5]["pool"] == 2
        assert start[1] >= hog_end
        assert ran[label] >= hog_end
    # the hog's pool never ran anything else meanwhile
    during = [
        rec for rec in records(r, "work_start", pool=2) if hog.data["start"] < rec[1] < hog_end
    ]
    assert during == []
    # the watchdog fired, no earlier than the threshold, about pool 2 with the pending items
    assert lockups, "no workqueue lockup reported"
    t, head, dump, details = lockups[0]
    assert t >= 30 * SEC
    assert t < hog_end
    assert "BUG: workqueue lockup - pool cpus=" in head
    assert head.startswith("BUG: workqueue lockup - pool cpus=1 ")
    assert "stuck for" in head
    assert details["pool"] == 2 and details["cpu"] == 1
    assert details["stuck_ns"] > 30 * SEC
    assert "victim_fn" in details["pending"]
    assert "victim_fn" in dump
    assert "BAR(" in dump
    assert "in-flight:" in dump and "hog_fn" in dump
    assert records(r, "wq_lockup", pool=2)
    assert r.stats.counters["wq_lockups"] == len(lockups)


async def test_highpri_work_not_blocked_by_hog_in_normal_pool() -> None:
    """A system_highpri_wq item queued on the CPU of a runnable hog runs at once, in that
    CPU's highpri pool, long before the hog ends."""
    for seed in SEEDS:
        m = make_machine(seed)
        hog = hog_work(m, 2 * SEC)
        cpu_of: dict[str, int] = {}

        async def probe(work: WorkStruct) -> None:
            cpu_of[work.label] = m.engine.smp_processor_id()

        async def workload(m: Machine) -> None:
            assert await m.queue_work_on(1, m.system_wq, hog)
            await wait_until(m, lambda: "start" in hog.data)
            hp = WorkStruct(probe, "probe_fn", "hp")
            assert m.wq.system_highpri_wq is not None
            assert await m.queue_work_on(1, m.wq.system_highpri_wq, hp)
            assert await m.flush_work(hp)
            assert "end" not in hog.data  # the hog is still running

        r = await m.run(workload)
        ok(r)
        hog_start = one(r, "work_start", work="hog")
        hp_q = one(r, "queue_work_on", work="hp")[1]
        hp_start = one(r, "work_start", work="hp")
        assert hog_start[5]["pool"] == 2
        assert hp_start[5]["pool"] == 3 and hp_start[2].startswith("kworker/1:")
        assert hp_start[2].endswith("H")
        assert hp_start[1] - hp_q <= 5 * MSEC  # wake-up (+ one worker creation)
        assert hp_start[1] < hog.data["start"] + SEC
        assert records(r, "work_end", work="hog") == []
        assert cpu_of == {"hp": 1}


async def test_preempted_busy_work_keeps_nr_running_balanced() -> None:
    """Preempting a runnable work item (another task takes its CPU) leaves nr_running
    balanced: an item queued behind it runs when it ends, and the idle pool counts 0
    running."""
    for seed in SEEDS:
        m = make_machine(seed)
        hog = hog_work(m, 300 * MSEC)
        seen: dict[str, Any] = {}

        async def probe(work: WorkStruct) -> None:
            seen[work.label] = m.engine.now

        async def intruder() -> None:  # any task of CPU1, e.g. a highpri kworker
            await m.engine.point("intrude")

        async def workload(m: Machine) -> None:
            pool = m.wq.cpu_pools[1][0]
            assert await m.queue_work_on(1, m.system_wq, hog)
            await wait_until(m, lambda: "start" in hog.data)
            behind = WorkStruct(probe, "probe_fn", "behind")
            assert await m.queue_work_on(1, m.system_wq, behind)
            async with m.engine.open_nursery() as n:
                n.start_soon(intruder, name="intruder", cpu=1)
            await wait_until(m, lambda: "end" in hog.data, step_ns=10 * MSEC)
            seen["running_after_hog"] = pool.statistics().running
            await m.engine.sleep(100 * MSEC)
            seen["final"] = pool.statistics()

        r = await m.run(workload)
        ok(r)
        assert seen["running_after_hog"] <= 1
        assert "behind" in seen, (seed, seen["final"])  # it ran after the hog
        assert seen["behind"] >= hog.data["end"]
        final = seen["final"]
        assert final.running == 0 and final.pending == 0 and final.idle == final.workers


async def test_unbound_pool_has_no_concurrency_management() -> None:
    """A runnable hog on system_unbound_wq does not delay another unbound item: unbound
    pools are not concurrency managed."""
    for seed in SEEDS:
        m = make_machine(seed)
        hog = hog_work(m, 1 * SEC)
        seen: dict[str, int] = {}

        async def probe(work: WorkStruct) -> None:
            seen[work.label] = m.engine.now

        async def workload(m: Machine) -> None:
            uwq = m.wq.system_unbound_wq
            assert uwq is not None
            assert await m.queue_work_on(0, uwq, hog)
            await wait_until(m, lambda: "start" in hog.data)
            v = WorkStruct(probe, "probe_fn", "v")
            assert await m.queue_work_on(0, uwq, v)
            await flush_all(m, v)
            seen["flushed"] = m.engine.now

        r = await m.run(workload)
        ok(r)
        assert one(r, "work_start", work="v")[5]["pool"] == 4  # the unbound pool
        assert seen["v"] < hog.data["start"] + 100 * MSEC
        assert "end" not in hog.data or seen["flushed"] < hog.data["end"]
        assert m.wq.unbound_pool.statistics().disassociated


# ------------------------------------------------------------------ 2. mayday and the rescuer


async def _rescue_run(seed: int) -> tuple[Machine, RunResult, dict[str, int]]:
    """CPU1's normal pool must create a worker but every allocation fails; the item is on
    mm_percpu_wq (WQ_MEM_RECLAIM)."""
    m = make_machine(seed, max_time_ns=5 * SEC)  # a lost mayday fails fast, not at 2M steps
    seen: dict[str, int] = {}

    async def fn(work: WorkStruct) -> None:
        seen["cpu"] = m.engine.smp_processor_id()
        seen["t"] = m.engine.now

    async def workload(m: Machine) -> None:
        pool = m.wq.cpu_pools[1][0]
        assert pool.statistics().idle == 1 and pool.statistics().workers == 1
        m.fail_page_alloc = 1.0
        wq = m.mm_percpu_wq
        assert wq is not None and wq.flags & WQ_MEM_RECLAIM
        w = WorkStruct(fn, "reclaim_fn", "rw")
        seen["queued"] = m.engine.now
        assert await m.queue_work_on(1, wq, w)
        assert await m.flush_work(w)
        seen["flushed"] = m.engine.now

    r = await m.run(workload)
    return m, r, seen


async def test_rescuer_runs_mem_reclaim_work_when_worker_creation_fails() -> None:
    """If the pool cannot create a worker, a WQ_MEM_RECLAIM item is run by the rescuer,
    no earlier than MAYDAY_INITIAL_TIMEOUT after queueing."""
    for seed in SEEDS:
        _, r, seen = await _rescue_run(seed)
        ok(r)
        start = one(r, "work_start", work="rw")
        assert start[2] == "rescuer:mm_percpu_wq"
        assert start[5]["pool"] == 2 and start[5]["wq"] == "mm_percpu_wq"
        assert start[1] - seen["queued"] >= MAYDAY_INITIAL_TIMEOUT
        assert seen["t"] - seen["queued"] >= MAYDAY_INITIAL_TIMEOUT
        assert seen["cpu"] == 1  # the rescuer took the pool's CPU
        # ... and well before the manager's next creation attempt
        assert seen["flushed"] - seen["queued"] < CREATE_COOLDOWN
        fails = records(r, "create_worker_failed", pool=2)
        assert fails and fails[0][1] < start[1]
        maydays = records(r, "mayday", pool=2, wq="mm_percpu_wq", rescuer=True)
        assert maydays and maydays[0][1] - seen["queued"] >= MAYDAY_INITIAL_TIMEOUT
        assert maydays[0][1] <= start[1]
        assert records(r, "worker_created", pool=2) == []
        assert r.stats.counters["alloc_fail_injected"] >= 1


async def test_without_mem_reclaim_flush_never_returns() -> None:
    """With worker creation failing, a system_wq item (no rescuer) never runs: the flusher
    waits forever while the manager retries every CREATE_COOLDOWN."""
    for seed in SEEDS:
        m = make_machine(seed, max_time_ns=5 * SEC)
        returned: list[int] = []
        queued: list[int] = []

        async def fn(work: WorkStruct) -> None:
            await m.engine.point("never")

        async def flusher(w: WorkStruct) -> None:
            await m.flush_work(w)
            returned.append(m.engine.now)

        async def workload(m: Machine) -> None:
            m.fail_page_alloc = 1.0
            w = WorkStruct(fn, "plain_fn", "pw")
            queued.append(m.engine.now)
            assert await m.queue_work_on(1, m.system_wq, w)
            async with m.engine.open_nursery() as n:
                n.start_soon(flusher, w, name="flusher", cpu=0)

        r = await m.run(workload)
        assert r.outcome is Outcome.BUDGET_EXHAUSTED, r.headline
        assert r.budget == "time" and r.stats.virtual_ns == 5 * SEC
        assert returned == []
        assert records(r, "work_start", work="pw") == []
        assert records(r, "flush_done", work="pw") == []
        # the manager kept retrying, once per CREATE_COOLDOWN
        fails = records(r, "create_worker_failed", pool=2)
        assert len(fails) >= 5
        gaps = [b[1] - a[1] for a, b in itertools.pairwise(fails)]
        assert min(gaps) >= CREATE_COOLDOWN and max(gaps) < CREATE_COOLDOWN + 10 * MSEC
        # maydays were sent but nobody can answer them
        maydays = records(r, "mayday", pool=2, wq="events")
        assert maydays and all(rec[5]["rescuer"] is False for rec in maydays)
        times = sorted({rec[1] for rec in maydays})
        assert times[0] - queued[0] >= MAYDAY_INITIAL_TIMEOUT
        assert {b - a for a, b in itertools.pairwise(times)} == {MAYDAY_INTERVAL}
        assert "rescuer_runs" not in r.stats.counters
        # the flusher is still blocked on the flush completion
        fl = next(a for a in m.engine.actors if a.name == "flusher")
        assert fl.state is ActorState.BLOCKED
        g = build_wait_graph(m.engine.actors)
        waits = [d for s, rel, d in g.edges if s == "actor flusher" and rel == "waits for"]
        assert len(waits) == 1 and waits[0].startswith("completion flush pw")
        # ... which only pool 2 (CPU1's normal pool) can complete
        held = [d for s, rel, d in g.edges if s == waits[0] and rel == "held by"]
        assert len(held) == 1 and held[0].startswith("pool 2 (cpus=1 ")


async def test_statistics_account_for_failed_creation_mayday_and_rescue() -> None:
    """statistics() reports the creations, creation failures, maydays and rescuer runs of
    the rescue scenario, matching the trace."""
    for seed in SEEDS:
        m, r, _ = await _rescue_run(seed)
        ok(r)
        st = m.wq.statistics()
        boot_workers = 2 * 2 + 1  # two pools per CPU plus the unbound pool
        spawned = [rec for rec in records(r, "spawn") if rec[5]["child"].startswith("kworker/")]
        assert st.creations == boot_workers == len(spawned)
        assert st.creation_failures == len(records(r, "create_worker_failed")) >= 1
        assert st.maydays == len(records(r, "mayday")) >= 1
        assert st.rescuer_runs == 1
        pool = m.wq.cpu_pools[1][0].statistics()
        assert pool == st.pools[2]
        assert pool.creation_failures == st.creation_failures
        assert pool.maydays == st.maydays
        assert pool.rescued == 2  # the item and its flush barrier
        assert pool.executed == 2
        assert pool.workers == 1 and pool.creations == 1
        assert r.stats.counters["maydays"] == st.maydays
        assert r.stats.counters["worker_create_failures"] == st.creation_failures
        others = [p for p in st.pools if p.id != 2]
        assert all(p.creation_failures == p.maydays == p.rescued == 0 for p in others)


# ------------------------------------------------------------------ 3. CPU hotplug


async def test_cpu_offline_items_run_elsewhere_and_rebind_on_online() -> None:
    """Items queued for a CPU that goes offline run on another CPU through its disassociated
    pool; after cpu_up the workers are rebound and items run on that CPU again."""
    for seed in SEEDS:
        m = make_machine(seed, cpus=3)
        hog = hog_work(m, 300 * MSEC)
        cpu_of: dict[str, int] = {}
        stats: dict[str, Any] = {}

        async def probe(work: WorkStruct) -> None:
            cpu_of[work.label] = m.engine.smp_processor_id()

        async def workload(m: Machine) -> None:
            normal, high = m.wq.cpu_pools[1]
            assert await m.queue_work_on(1, m.system_wq, hog)
            await wait_until(m, lambda: "start" in hog.data)
            # pending behind the hog when the CPU goes down
            before = WorkStruct(probe, "probe_fn", "before")
            assert await m.queue_work_on(1, m.system_wq, before)
            assert normal.statistics().pending == 1
            assert await m.cpu_down(1)
            assert not m.cpu_online(1)
            stats["down_normal"] = normal.statistics()
            stats["down_high"] = high.statistics()
            # queued for the offline CPU: accepted, runs elsewhere
            after = WorkStruct(probe, "probe_fn", "after")
            assert await m.queue_work_on(1, m.system_wq, after)
            after_hp = WorkStruct(probe, "probe_fn", "after_hp")
            assert m.wq.system_highpri_wq is not None
            assert await m.queue_work_on(1, m.wq.system_highpri_wq, after_hp)
            await flush_all(m, before, after, after_hp)
            stats["before_done"] = m.engine.now
            await flush_all(m, hog)
            assert await m.cpu_up(1)
            stats["up_normal"] = normal.statistics()
            stats["bound"] = sorted(
                {w.actor.bound for p in (normal, high) for w in p.workers if w.actor is not None},
                key=str,
            )
            back = WorkStruct(probe, "probe_fn", "back")
            back_hp = WorkStruct(probe, "probe_fn", "back_hp")
            assert await m.queue_work_on(1, m.system_wq, back)
            assert await m.queue_work_on(1, m.wq.system_highpri_wq, back_hp)
            await flush_all(m, back, back_hp)
            await m.engine.sleep(10 * MSEC)  # let every worker go idle
            stats["end"] = [p.statistics() for p in m.wq.all_pools()]
            # concurrency management is back: a runnable hog blocks its pool again
            hog2 = hog_work(m, 200 * MSEC)
            assert await m.queue_work_on(1, m.system_wq, hog2)
            await wait_until(m, lambda: "start" in hog2.data)
            behind = WorkStruct(probe, "probe_fn", "behind")
            assert await m.queue_work_on(1, m.system_wq, behind)
            await flush_all(m, behind)
            stats["hog2_end"] = hog2.data["end"]

        r = await m.run(workload)
        ok(r)
        assert stats["down_normal"].disassociated and stats["down_high"].disassociated
        assert {rec[5]["pool"] for rec in records(r, "pool_disassociated")} == {2, 3}
        for label in ("before", "after", "after_hp"):
            assert cpu_of[label] != 1, (seed, label, cpu_of)
            start = one(r, "work_start", work=label)
            assert start[3] != 1
            # same pool as queued for: items are not migrated to another pool
            assert start[5]["pool"] == (3 if label.endswith("_hp") else 2)
        # "before" did not wait for the hog: concurrency management is off once unbound
        assert stats["before_done"] < hog.data["end"]
        assert {rec[5]["pool"] for rec in records(r, "pool_rebound")} == {2, 3}
        assert not stats["up_normal"].disassociated
        assert stats["bound"] == [1]
        assert cpu_of["back"] == 1 and cpu_of["back_hp"] == 1
        assert one(r, "work_start", work="back")[5]["pool"] == 2
        for p in stats["end"]:
            assert p.running == 0 and p.pending == 0 and p.idle == p.workers, (seed, p)
        behind = one(r, "work_start", work="behind")
        assert behind[1] >= stats["hog2_end"] and behind[3] == 1 == cpu_of["behind"]


# ------------------------------------------------------------------ 4. flush_work


async def test_flush_work_returns_after_execution_and_false_when_idle() -> None:
    """flush_work returns True only after the work (queued or running) has finished, and
    False at once for a work that was never queued or has already finished."""
    for seed in SEEDS:
        m = make_machine(seed)
        ends: dict[str, int] = {}
        flushed: dict[str, tuple[bool, int]] = {}

        async def slow(work: WorkStruct) -> None:
            await m.engine.sleep(20 * MSEC)
            ends[work.label] = m.engine.now

        async def workload(m: Machine) -> None:
            idle = WorkStruct(slow, "slow_fn", "never_queued")
            t0 = m.engine.now
            assert await m.flush_work(idle) is False
            assert m.engine.now == t0
            queued = WorkStruct(slow, "slow_fn", "queued")
            assert await m.queue_work_on(1, m.system_wq, queued)
            flushed["queued"] = (await m.flush_work(queued), m.engine.now)
            running = WorkStruct(slow, "slow_fn", "running")
            assert await m.queue_work_on(1, m.system_wq, running)
            await wait_until(m, lambda: running.executions == 1 and not running.pending)
            assert "running" not in ends  # flushing while it executes
            flushed["running"] = (await m.flush_work(running), m.engine.now)
            t1 = m.engine.now
            flushed["finished"] = (await m.flush_work(running), m.engine.now)
            assert m.engine.now == t1

        r = await m.run(workload)
        ok(r)
        for label in ("queued", "running"):
            res, t = flushed[label]
            assert res is True
            assert t >= ends[label]
            assert one(r, "work_end", work=label)[0] <= one(r, "flush_done", work=label)[0]
        assert flushed["finished"][0] is False
        assert records(r, "flush_done", work="never_queued") == []
        assert records(r, "work_start", work="never_queued") == []
        assert len(records(r, "flush_done", work="running")) == 1


# ------------------------------------------------------------------ 5. re-queueing


async def test_requeue_of_pending_work_returns_false_and_runs_once() -> None:
    """queue_work_on on a pending work returns False and the work runs once for both
    requests; once it has run it can be queued again."""
    for seed in SEEDS:
        m = make_machine(seed)

        async def fn(work: WorkStruct) -> None:
            await m.engine.point("body")

        async def workload(m: Machine) -> None:
            w = WorkStruct(fn, "once_fn", "w")
            assert await m.queue_work_on(1, m.system_wq, w) is True
            assert await m.queue_work_on(1, m.system_wq, w) is False
            assert await m.queue_work_on(0, m.system_wq, w) is False
            assert await m.flush_work(w)
            assert w.executions == 1
            assert await m.queue_work_on(0, m.system_wq, w) is True
            assert await m.flush_work(w)

        r = await m.run(workload)
        ok(r)
        qs = records(r, "queue_work_on", work="w")
        assert [rec[5]["pending"] for rec in qs] == [False, True, True, False]
        starts = records(r, "work_start", work="w")
        assert [rec[5]["pool"] for rec in starts] == [2, 0]
        assert len(records(r, "work_queued", work="w")) == 2
        assert r.stats.counters["works_queued"] == 2  # flush barriers are not queue_work_on


# ------------------------------------------------------------------ 6. check_flush_dependency


async def test_pf_memalloc_flushing_non_reclaim_wq_warns() -> None:
    """A PF_MEMALLOC task flushing a system_wq work triggers check_flush_dependency's
    warning, once; flushing a WQ_MEM_RECLAIM work does not."""
    m = make_machine(0)
    warnings: list[tuple[int, str, dict[str, Any]]] = []
    m.sensors.flush_warning.append(lambda msg, d: warnings.append((m.engine.now, msg, d)))
    seen: dict[str, int] = {}

    async def fn(work: WorkStruct) -> None:
        await m.engine.sleep(1 * MSEC)

    async def reclaimer() -> None:
        m.current.flags |= PF_MEMALLOC
        seen["pid"] = m.current.pid
        assert m.mm_percpu_wq is not None
        rw = WorkStruct(fn, "reclaim_fn", "rw")
        assert await m.queue_work_on(1, m.mm_percpu_wq, rw)
        assert await m.flush_work(rw)
        seen["after_reclaim_flush"] = len(warnings)
        ev = WorkStruct(fn, "events_fn", "ev")
        for _ in range(2):
            assert await m.queue_work_on(1, m.system_wq, ev)
            assert await m.flush_work(ev)

    async def workload(m: Machine) -> None:
        async with m.engine.open_nursery() as n:
            n.start_soon(reclaimer, name="memalloc_task", cpu=0)

    r = await m.run(workload)
    ok(r)
    assert seen["after_reclaim_flush"] == 0
    assert len(warnings) == 1  # WARN_ONCE
    _, msg, details = warnings[0]
    assert "PF_MEMALLOC task" in msg
    assert "is flushing !WQ_MEM_RECLAIM events" in msg
    assert msg == (
        f"workqueue: PF_MEMALLOC task {seen['pid']}(memalloc_task) is flushing "
        "!WQ_MEM_RECLAIM events:events_fn"
    )
    assert details == {"flusher": "memalloc_task", "target_wq": "events", "work": "ev"}
    # the trace records every occurrence; none for the mm_percpu_wq flush
    recs = records(r, "flush_dependency_warning")
    assert len(recs) == 2 and all(rec[5]["message"] == msg for rec in recs)
    assert all(rec[2] == "memalloc_task" for rec in recs)
    assert recs[0][0] > one(r, "flush_done", work="rw")[0]
    assert r.stats.counters["flush_dependency_warnings"] == 2


async def test_mem_reclaim_worker_flushing_non_reclaim_wq_warns() -> None:
    """A work item of a WQ_MEM_RECLAIM workqueue flushing a system_wq work triggers the
    'WQ_MEM_RECLAIM ... is flushing !WQ_MEM_RECLAIM' warning."""
    m = make_machine(0)
    warnings: list[str] = []
    m.sensors.flush_warning.append(lambda msg, d: warnings.append(msg))

    async def inner(work: WorkStruct) -> None:
        await m.engine.point("inner")

    async def outer(work: WorkStruct) -> None:
        assert await m.queue_work_on(0, m.system_wq, work.data)
        assert await m.flush_work(work.data)

    async def workload(m: Machine) -> None:
        assert m.mm_percpu_wq is not None
        o = WorkStruct(outer, "outer_fn", "outer", data=WorkStruct(inner, "inner_fn", "inner"))
        assert await m.queue_work_on(1, m.mm_percpu_wq, o)
        assert await m.flush_work(o)

    r = await m.run(workload)
    ok(r)
    assert warnings == [
        "workqueue: WQ_MEM_RECLAIM mm_percpu_wq:outer_fn is flushing !WQ_MEM_RECLAIM "
        "events:inner_fn"
    ]
    assert one(r, "flush_dependency_warning")[2].startswith("kworker/1:")


# ------------------------------------------------------------------ 7. non-reentrancy


async def test_work_requeued_while_running_stays_on_its_pool() -> None:
    """A work re-queued for CPU1 while it runs on CPU0's pool runs again on CPU0's pool,
    after the first run, never concurrently with itself."""
    for seed in SEEDS:
        m = make_machine(seed)
        runs: list[tuple[int, int, int, str]] = []  # (start, end, cpu, worker)
        state = {"inside": 0, "max_inside": 0}

        async def fn(work: WorkStruct) -> None:
            state["inside"] += 1
            state["max_inside"] = max(state["max_inside"], state["inside"])
            start, cpu = m.engine.now, m.engine.smp_processor_id()
            if work.executions == 1:
                # re-queue ourselves for the other CPU while still running
                assert await m.queue_work_on(1, m.system_wq, work)
            await m.engine.sleep(20 * MSEC)
            state["inside"] -= 1
            runs.append((start, m.engine.now, cpu, m.engine.current.name))

        async def workload(m: Machine) -> None:
            w = WorkStruct(fn, "reentrant_fn", "w")
            assert await m.queue_work_on(0, m.system_wq, w)
            await wait_until(m, lambda: w.executions == 2 and not w.pending and len(runs) == 1)
            assert await m.flush_work(w)
            assert w.executions == 2

        r = await m.run(workload)
        ok(r)
        assert state["max_inside"] == 1
        assert len(runs) == 2
        (_, e1, c1, k1), (s2, _, c2, k2) = runs
        assert s2 >= e1
        assert c1 == c2 == 0
        assert k1 == k2  # handed to the worker still running it (busy_hash collision)
        queued = records(r, "work_queued", work="w")
        assert [rec[5]["pool"] for rec in queued] == [0, 0]  # not pool 2 of CPU1
        assert one(r, "queue_work_on", work="w", target=1)[5]["pending"] is False
        starts = records(r, "work_start", work="w")
        assert [rec[5]["pool"] for rec in starts] == [0, 0]
        assert [rec[3] for rec in starts] == [0, 0]
        assert records(r, "work_start", pool=2) == []


# ------------------------------------------------------------------ 8. freezing


async def test_freezable_work_waits_for_thaw() -> None:
    """After freeze() a work queued on a WQ_FREEZABLE workqueue does not run (and a flush of
    it blocks) until thaw(); non-freezable workqueues keep running."""
    for seed in SEEDS:
        m = make_machine(seed)
        ran: dict[str, int] = {}
        flush_ret: list[int] = []
        marks: dict[str, Any] = {}

        async def fn(work: WorkStruct) -> None:
            ran[work.label] = m.engine.now

        async def flusher(w: WorkStruct) -> None:
            assert await m.flush_work(w)
            flush_ret.append(m.engine.now)

        async def workload(m: Machine) -> None:
            fz: Workqueue = m.alloc_workqueue("fz", WQ_FREEZABLE)
            m.wq.freeze()
            w = WorkStruct(fn, "frozen_fn", "fw")
            ctl = WorkStruct(fn, "ctl_fn", "ctl")
            assert await m.queue_work_on(1, fz, w)
            assert await m.queue_work_on(1, m.system_wq, ctl)
            async with m.engine.open_nursery() as n:
                n.start_soon(flusher, w, name="flusher", cpu=0)
                await m.engine.sleep(2 * SEC)
                marks["frozen_dump"] = m.wq.dump()
                marks["frozen_pending"] = m.wq.cpu_pools[1][0].statistics().pending
                assert "fw" not in ran and flush_ret == []
                marks["thaw"] = m.engine.now
                m.wq.thaw()
            assert "fw" in ran

        r = await m.run(workload)
        ok(r)
        assert one(r, "work_queued", work="fw")[5]["delayed"] is True
        assert one(r, "work_queued", work="ctl")[5]["delayed"] is False
        assert ran["ctl"] < SEC  # the control item ran during the freeze
        assert marks["frozen_pending"] == 0  # parked on the delayed list, not the worklist
        assert "workqueue fz: flags=0x4" in marks["frozen_dump"]
        assert "active=0/0" in marks["frozen_dump"]
        assert "delayed: frozen_fn, BAR(" in marks["frozen_dump"]
        start = one(r, "work_start", work="fw")
        assert start[1] >= marks["thaw"] >= 2 * SEC
        assert ran["fw"] >= marks["thaw"]
        assert len(flush_ret) == 1 and flush_ret[0] >= ran["fw"]
        assert records(r, "workqueues_thawed")[0][0] < start[0]


# ------------------------------------------------------------------ 9. schedule_on_each_cpu


async def test_schedule_on_each_cpu_runs_once_per_online_cpu() -> None:
    """schedule_on_each_cpu runs the function once on every online CPU (and not on an
    offline one) and returns 0."""
    for seed in SEEDS:
        m = make_machine(seed, cpus=4)
        cpus_run: list[list[int]] = [[], []]
        rets: list[int] = []
        phase = {"i": 0}

        async def each(work: WorkStruct) -> None:
            cpus_run[phase["i"]].append(m.engine.smp_processor_id())

        async def workload(m: Machine) -> None:
            rets.append(await m.schedule_on_each_cpu(each))
            assert sorted(cpus_run[0]) == [0, 1, 2, 3]  # all done when it returns
            assert await m.cpu_down(2)
            phase["i"] = 1
            rets.append(await m.schedule_on_each_cpu(each))
            assert sorted(cpus_run[1]) == [0, 1, 3]

        r = await m.run(workload)
        ok(r)
        assert rets == [0, 0]
        assert sorted(cpus_run[0]) == [0, 1, 2, 3]
        assert sorted(cpus_run[1]) == [0, 1, 3]
        starts = [rec for rec in records(r, "work_start") if rec[5]["func"] == "each"]
        assert len(starts) == 7
        assert sorted(rec[5]["pool"] for rec in starts[:4]) == [0, 2, 4, 6]
