"""Sync primitives: locks, completions, rw-semaphores, wait queues, and deadlock reports."""

from __future__ import annotations

from pcptrio._core import (
    Completion,
    Engine,
    Mutex,
    Outcome,
    RandomScheduler,
    RWSemaphore,
    WaitQueue,
)


async def test_abba_on_two_mutexes_is_a_deadlock_with_the_wait_for_graph() -> None:
    """ABBA ends as outcome deadlock; the graph names both actors and both mutexes."""
    found = None
    for seed in range(40):
        e = Engine(cpus=2, scheduler=RandomScheduler(seed, switch_p=0.5))
        a_lock, b_lock = Mutex(e, "A"), Mutex(e, "B")

        async def t1(first: Mutex, second: Mutex) -> None:
            await first.lock()
            await e.point("between")
            await second.lock()
            await second.unlock()
            await first.unlock()

        async def main() -> None:
            async with e.open_nursery() as n:
                n.start_soon(t1, a_lock, b_lock, name="t1", cpu=0)
                n.start_soon(t1, b_lock, a_lock, name="t2", cpu=1)

        r = await e.run(main)
        assert r.outcome in (Outcome.OK, Outcome.DEADLOCK)
        if r.outcome is Outcome.DEADLOCK:
            found = r
            break
    assert found is not None and found.violation is not None
    v = found.violation
    assert v.oracle == "deadlock" and v.kind == "cycle"
    assert set(v.actors) >= {"t1", "t2"}
    cycle = found.wait_graph["cycles"][0]  # type: ignore[index]
    assert set(cycle) == {"actor t1", "actor t2", "mutex A", "mutex B"}


async def test_mutex_trylock_fails_while_held() -> None:
    """mutex_trylock returns False while another actor holds the mutex."""
    e = Engine(cpus=2, scheduler=RandomScheduler(0))
    m = Mutex(e, "pcpu_drain_mutex")
    results: list[bool] = []

    async def holder() -> None:
        await m.lock()
        await e.sleep(100)
        await m.unlock()

    async def trier() -> None:
        await e.sleep(50)
        results.append(await m.trylock())
        await e.sleep(100)
        got = await m.trylock()
        results.append(got)
        if got:
            await m.unlock()

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(holder, name="holder", cpu=0)
            n.start_soon(trier, name="trier", cpu=1)

    r = await e.run(main)
    assert r.outcome is Outcome.OK
    assert results == [False, True]


async def test_completion_releases_waiters_and_banks_completions() -> None:
    """complete() wakes one waiter or is banked; complete_all() releases everyone."""
    e = Engine(cpus=2, scheduler=RandomScheduler(4))
    c = Completion(e, "done")
    woke: list[str] = []

    async def waiter(tag: str) -> None:
        await c.wait()
        woke.append(tag)

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(waiter, "w1", name="w1", cpu=1)
            n.start_soon(waiter, "w2", name="w2", cpu=1)
            await e.sleep(10)
            c.complete()
            await e.sleep(10)
            assert len(woke) == 1
            c.complete_all()
        late = Completion(e, "banked")
        late.complete()
        await late.wait()
        woke.append("banked")

    r = await e.run(main)
    assert r.outcome is Outcome.OK, r.headline
    assert sorted(woke[:2]) == ["w1", "w2"] and woke[2] == "banked"


async def test_hotplug_write_lock_excludes_readers() -> None:
    """While a writer holds the rw-semaphore no reader is inside, and vice versa."""
    for seed in range(20):
        e = Engine(cpus=3, scheduler=RandomScheduler(seed, switch_p=0.5))
        sem = RWSemaphore(e, "cpu_hotplug_lock")
        inside = {"r": 0, "w": 0}
        bad = []

        async def reader() -> None:
            for _ in range(3):
                await sem.down_read()
                inside["r"] += 1
                if inside["w"]:
                    bad.append("reader with writer")
                await e.point("reading")
                inside["r"] -= 1
                await sem.up_read()

        async def writer() -> None:
            await sem.down_write()
            inside["w"] += 1
            if inside["r"]:
                bad.append("writer with reader")
            await e.point("writing")
            await e.point("writing")
            inside["w"] -= 1
            await sem.up_write()

        async def main() -> None:
            async with e.open_nursery() as n:
                n.start_soon(reader, name="r0", cpu=0)
                n.start_soon(reader, name="r1", cpu=1)
                n.start_soon(writer, name="hotplug", cpu=2)

        r = await e.run(main)
        assert r.outcome is Outcome.OK, r.headline
        assert not bad


async def test_waitqueue_sleeper_rechecks_its_condition() -> None:
    """wait_event sleepers wake on wake_up and loop until their condition holds."""
    e = Engine(cpus=2, scheduler=RandomScheduler(2))
    wq = WaitQueue(e, "pool")
    state = {"items": 0, "taken": 0}

    async def consumer() -> None:
        while state["taken"] < 3:
            while state["items"] == 0:
                await wq.wait()
            state["items"] -= 1
            state["taken"] += 1
            await e.point("took")

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(consumer, name="consumer", cpu=1)
            for _ in range(3):
                await e.sleep(5)
                state["items"] += 1
                wq.wake_up()

    r = await e.run(main)
    assert r.outcome is Outcome.OK, r.headline
    assert state["taken"] == 3


async def test_waiting_forever_with_no_timer_is_a_stall_deadlock() -> None:
    """A completion nobody will complete, nothing runnable, no timer: deadlock (stall)."""
    e = Engine(cpus=1)
    c = Completion(e, "never")

    async def main() -> None:
        await c.wait()

    r = await e.run(main)
    assert r.outcome is Outcome.DEADLOCK
    assert r.violation is not None and r.violation.kind == "stall"
    assert ["actor main", "waits for", "completion never"] in r.wait_graph["edges"]  # type: ignore[index]


async def test_deferrable_timer_does_not_keep_an_idle_machine_alive() -> None:
    """Only deferrable timers pending and an actor waiting: still a deadlock."""
    e = Engine(cpus=1)
    c = Completion(e, "never")
    ticks: list[int] = []

    def tick() -> None:
        ticks.append(e.now)
        e.add_timer(1000, "watchdog", tick, deferrable=True)

    async def main() -> None:
        e.add_timer(1000, "watchdog", tick, deferrable=True)
        await e.sleep(3500)
        await c.wait()

    r = await e.run(main)
    assert r.outcome is Outcome.DEADLOCK
    assert ticks == [1000, 2000, 3000]
