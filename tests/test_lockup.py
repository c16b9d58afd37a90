"""The kernel's lockup detectors in virtual time: soft lockup, hard lockup and hung task are
reported as the kernel reports them (the always-on ``lockup`` oracle), and a machine that
cannot progress at all is still a deadlock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pcptrio._check import attach_oracles
from pcptrio._core import MSEC, SEC, Mutex, Outcome, RandomScheduler, RunResult
from pcptrio._kernel import Machine, MachineParams, ZoneSpec


async def _run(workload: Callable[[Machine], Awaitable[None]]) -> RunResult:
    m = Machine(
        MachineParams(cpus=2, zones=(ZoneSpec("Normal", 4096),)),
        scheduler=RandomScheduler(1),
        max_steps=10**7,
        max_time_ns=600 * SEC,
    )
    attach_oracles(m, [])
    return await m.run(workload)


async def test_a_cpu_that_cannot_schedule_for_20s_is_a_soft_lockup() -> None:
    async def workload(m: Machine) -> None:
        e = m.engine

        async def spin() -> None:
            e.preempt_disable()
            for _ in range(60_000):  # 60 s in 1 ms slices, never a chance to schedule
                await e.spend(MSEC)
            e.preempt_enable()

        async with e.open_nursery() as n:
            n.start_soon(spin, name="spinner", cpu=1)

    r = await _run(workload)
    v = r.violation
    assert r.outcome is Outcome.VIOLATION and v is not None, r.headline
    assert (v.oracle, v.kind) == ("lockup", "soft-lockup")
    assert v.message.startswith("BUG: soft lockup - CPU#1 stuck for 2")
    assert "! [spinner:" in v.message
    assert 20 * SEC < v.details["stuck_ns"] <= 24 * SEC  # seen at the first 4 s tick past 20 s


async def test_irqs_off_for_10s_is_a_hard_lockup() -> None:
    async def workload(m: Machine) -> None:
        e = m.engine

        async def spin() -> None:
            flags = e.local_irq_save()
            for _ in range(60_000):
                await e.spend(MSEC)
            e.local_irq_restore(flags)

        async with e.open_nursery() as n:
            n.start_soon(spin, name="irqs-off", cpu=0)

    r = await _run(workload)
    v = r.violation
    assert v is not None, r.headline
    assert (v.oracle, v.kind) == ("lockup", "hard-lockup")
    assert v.message.startswith("Watchdog detected hard LOCKUP on cpu 0")
    assert 10 * SEC < v.details["stuck_ns"] <= 12 * SEC


async def test_a_cond_resched_loop_is_no_lockup() -> None:
    """A long busy loop that offers to schedule (cond_resched) is not a soft lockup."""

    async def workload(m: Machine) -> None:
        e = m.engine
        for _ in range(30_000):  # 30 s
            await e.spend(MSEC)
            await e.preempt_point("cond_resched")

    r = await _run(workload)
    assert r.outcome is Outcome.OK, r.headline


async def test_an_uninterruptible_wait_of_120s_is_a_hung_task() -> None:
    async def workload(m: Machine) -> None:
        e = m.engine
        lock = Mutex(e, "big_lock")

        async def holder() -> None:
            await lock.lock()
            for _ in range(300):  # 300 s, preemptible, holding the mutex
                await e.spend(SEC)
                await e.point("work")
            await lock.unlock()

        async def waiter() -> None:
            await e.sleep(MSEC)
            await lock.lock()
            await lock.unlock()

        async with e.open_nursery() as n:
            n.start_soon(holder, name="holder", cpu=0)
            n.start_soon(waiter, name="waiter", cpu=1)

    r = await _run(workload)
    v = r.violation
    assert v is not None, r.headline
    assert (v.oracle, v.kind) == ("lockup", "hung-task")
    assert v.message.startswith("INFO: task waiter:") and "more than 120 seconds" in v.message
    assert v.details["on"] == "big_lock" or "big_lock" in v.details["on"]


async def test_idle_workers_are_no_hung_tasks() -> None:
    """Kworkers sleep idle for the whole run (TASK_IDLE in the kernel), and the workload
    waits for its children in a nursery: neither is reported.  (A 300 s msleep would be: an
    uninterruptible sleep that long is a hung task in the kernel too.)"""

    async def workload(m: Machine) -> None:
        e = m.engine

        async def busy() -> None:
            for _ in range(300):
                await e.spend(SEC)
                await e.point("work")

        async with e.open_nursery() as n:
            n.start_soon(busy, name="busy", cpu=1)

    r = await _run(workload)
    assert r.outcome is Outcome.OK, r.headline


async def test_a_stuck_machine_is_still_a_deadlock() -> None:
    """The detectors' timers are deferrable: an ABBA of two mutexes is a deadlock."""

    async def workload(m: Machine) -> None:
        e = m.engine
        a, b = Mutex(e, "A"), Mutex(e, "B")

        async def one(x: Mutex, y: Mutex) -> None:
            await x.lock()
            await e.sleep(MSEC)
            await y.lock()

        async with e.open_nursery() as n:
            n.start_soon(one, a, b, name="t1", cpu=0)
            n.start_soon(one, b, a, name="t2", cpu=1)

    r = await _run(workload)
    assert r.outcome is Outcome.DEADLOCK, r.headline
