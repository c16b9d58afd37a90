"""CPU rules: preemption, IRQs, interrupts, spinning, migration, hotplug of CPUs."""

from __future__ import annotations

from pcptrio._core import Engine, Outcome, RandomScheduler, SpinLock


async def test_irq_disabled_section_is_not_entered_by_an_interrupt() -> None:
    """An IPI actor for CPU0 starts only after CPU0's current actor re-enables IRQs."""
    entered_inside = 0
    ran = 0
    for seed in range(30):
        e = Engine(cpus=2, scheduler=RandomScheduler(seed, switch_p=0.5))
        state = {"inside": False, "hit": False}

        async def handler() -> None:
            state["hit"] = state["inside"]
            await e.point("ipi_handler")

        async def task() -> None:
            await e.point("before")
            flags = e.local_irq_save()
            state["inside"] = True
            for i in range(6):
                await e.point("irqs_off", i=i)
            state["inside"] = False
            e.local_irq_restore(flags)
            await e.point("after")

        async def sender() -> None:
            await e.point("send")
            e.raise_irq(0, handler, name="ipi:cpu0")
            await e.point("sent")

        async def main() -> None:
            async with e.open_nursery() as n:
                n.start_soon(task, name="task", cpu=0)
                n.start_soon(sender, name="sender", cpu=1)

        r = await e.run(main)
        assert r.outcome is Outcome.OK, r.headline
        ran += 1
        entered_inside += state["hit"]
    assert ran == 30 and entered_inside == 0


async def test_interrupt_can_land_in_a_preempt_only_section() -> None:
    """With only preemption disabled, an interrupt may land in the middle (the H1 window)."""
    hits = 0
    for seed in range(30):
        e = Engine(cpus=2, scheduler=RandomScheduler(seed, switch_p=0.5))
        state = {"inside": False, "hit": False}

        async def handler() -> None:
            state["hit"] = state["hit"] or state["inside"]
            await e.point("ipi_handler")

        async def task() -> None:
            e.preempt_disable()
            state["inside"] = True
            for i in range(6):
                await e.point("preempt_off", i=i)
            state["inside"] = False
            e.preempt_enable()
            await e.point("after")

        async def sender() -> None:
            e.raise_irq(0, handler, name="ipi:cpu0")
            await e.point("sent")

        async def main() -> None:
            async with e.open_nursery() as n:
                n.start_soon(task, name="task", cpu=0)
                n.start_soon(sender, name="sender", cpu=1)

        await e.run(main)
        hits += state["hit"]
    assert hits > 0


async def test_interrupted_actor_resumes_after_the_handler() -> None:
    """The interrupted actor does not run until its interrupt handler has returned."""
    for seed in range(20):
        e = Engine(cpus=2, scheduler=RandomScheduler(seed, switch_p=0.6))
        log: list[str] = []

        async def handler() -> None:
            log.append("h-start")
            for _ in range(3):
                await e.point("h")
            log.append("h-end")

        async def task() -> None:
            for _ in range(8):
                log.append("t")
                await e.point("t")

        async def main() -> None:
            async with e.open_nursery() as n:
                n.start_soon(task, name="task", cpu=0)
                e.raise_irq(0, handler, name="ipi:cpu0")

        r = await e.run(main)
        assert r.outcome is Outcome.OK
        s, t = log.index("h-start"), log.index("h-end")
        assert "t" not in log[s:t]


async def test_preempt_disabled_section_excludes_its_cpu_but_not_others() -> None:
    """A preempt-disabled actor on CPU0 is never displaced by another CPU0 actor, while
    CPU1's actor interleaves with it."""
    cpu0_inside = 0
    cpu1_inside = 0
    for seed in range(30):
        e = Engine(cpus=2, scheduler=RandomScheduler(seed, switch_p=0.5))
        state = {"inside": False}
        hits = {"cpu0": 0, "cpu1": 0}

        async def pinned() -> None:
            await e.point("start")
            e.preempt_disable()
            state["inside"] = True
            for i in range(5):
                await e.point("pinned", i=i)
            state["inside"] = False
            e.preempt_enable()
            await e.point("done")

        async def other(tag: str) -> None:
            for _ in range(5):
                if state["inside"]:
                    hits[tag] += 1
                await e.point("other", tag=tag)

        async def main() -> None:
            async with e.open_nursery() as n:
                n.start_soon(pinned, name="pinned", cpu=0)
                n.start_soon(other, "cpu0", name="same-cpu", cpu=0)
                n.start_soon(other, "cpu1", name="other-cpu", cpu=1)

        await e.run(main)
        cpu0_inside += hits["cpu0"]
        cpu1_inside += hits["cpu1"]
    assert cpu0_inside == 0
    assert cpu1_inside > 0


async def test_spinning_waiter_keeps_its_cpu_busy() -> None:
    """A spin_lock waiter holds its CPU: another actor bound there cannot run meanwhile."""
    for seed in range(20):
        e = Engine(cpus=2, scheduler=RandomScheduler(seed, switch_p=0.5))
        lock = SpinLock(e, "L")
        state = {"spinning": False, "ran_while_spinning": False}

        async def holder() -> None:
            await lock.lock()
            for _ in range(4):
                await e.point("hold")
            await lock.unlock()

        async def spinner() -> None:
            await e.point("pre")
            state["spinning"] = lock.locked
            await lock.lock()
            state["spinning"] = False
            await lock.unlock()

        async def bystander() -> None:
            for _ in range(6):
                if state["spinning"] and lock.waiters:
                    state["ran_while_spinning"] = True
                await e.point("by")

        async def main() -> None:
            async with e.open_nursery() as n:
                n.start_soon(holder, name="holder", cpu=1)
                n.start_soon(spinner, name="spinner", cpu=0)
                n.start_soon(bystander, name="bystander", cpu=0)

        r = await e.run(main)
        assert r.outcome is Outcome.OK, r.headline
        assert not state["ran_while_spinning"]


async def test_unbound_actor_migrates_between_online_cpus() -> None:
    """An unbound actor runs on several CPUs over a run; a bound one never leaves its CPU."""
    cpus_seen: set[int] = set()
    for seed in range(10):
        e = Engine(cpus=3, scheduler=RandomScheduler(seed))

        async def roam() -> None:
            for _ in range(30):
                await e.point("roam")

        async def main() -> None:
            async with e.open_nursery() as n:
                n.start_soon(roam, name="roamer", cpu=None)

        r = await e.run(main)
        cpus_seen |= {rec[3] for rec in r.trace if rec[2] == "roamer" and rec[3] is not None}
        assert {rec[3] for rec in r.trace if rec[2] == "main"} <= {0, None}
    assert len(cpus_seen) >= 2


async def test_offline_cpu_runs_nothing_until_rebound() -> None:
    """An actor bound to an offline CPU waits; rebinding it lets it finish elsewhere."""
    e = Engine(cpus=2, scheduler=RandomScheduler(1))
    where: list[int | None] = []

    async def stuck() -> None:
        await e.point("hello")
        where.append(e.smp_processor_id())

    async def main() -> None:
        e.set_cpu_online(1, False)
        a = e.spawn(stuck, name="victim", cpu=1)
        for _ in range(5):
            await e.point("wait")
        assert not where
        e.bind(a, None)
        await e.sleep(1)

    r = await e.run(main)
    assert r.outcome is Outcome.OK, r.headline
    assert where == [0]
