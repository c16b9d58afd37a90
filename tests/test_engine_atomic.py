"""Atomic sections: the engine measures how long each thread runs with preemption or IRQs
off (a spinlock held, a hardirq handler), which ``irq-off-bound`` judges."""

from __future__ import annotations

from pcptrio._core import Engine, Outcome, RandomScheduler, SpinLock


async def _sections(body: object, cpus: int = 1) -> list[tuple[str, int]]:
    e = Engine(cpus=cpus, scheduler=RandomScheduler(1))
    seen: list[tuple[str, int]] = []
    e.add_atomic_hook(lambda a, d: seen.append((a.name, d)))
    r = await e.run(body, e)  # type: ignore[arg-type]
    assert r.outcome is Outcome.OK, r.error
    return seen


async def test_irq_off_and_nested_preempt_off_are_one_section_each() -> None:
    async def main(e: Engine) -> None:
        flags = e.local_irq_save()
        await e.spend(1000)
        e.preempt_disable()  # nested: still the same section
        await e.spend(500)
        e.preempt_enable()
        await e.spend(250)
        e.local_irq_restore(flags)  # the section ends here: 1750 ns
        await e.spend(10_000)  # preemptible: not a section
        e.preempt_disable()
        await e.spend(300)
        e.preempt_enable()

    assert await _sections(main) == [("main", 1750), ("main", 300)]


async def test_a_spinlock_hold_and_its_spin_count_as_one_section() -> None:
    async def main(e: Engine) -> None:
        lock = SpinLock(e, "l")

        async def holder() -> None:
            flags = await lock.lock_irqsave()
            await e.spend(2000)
            await lock.unlock_irqrestore(flags)

        async with e.open_nursery() as n:
            n.start_soon(holder, name="a", cpu=0)
            n.start_soon(holder, name="b", cpu=1)

    seen = dict(await _sections(main, cpus=2))
    # Whichever took the lock second spun for the first one's hold with IRQs off.
    assert sorted(seen.values()) == [2000, 4000], seen


async def test_a_hardirq_handler_is_a_section_from_entry_to_exit() -> None:
    async def main(e: Engine) -> None:
        async def handler() -> None:
            await e.spend(700)

        async def victim() -> None:
            for _ in range(20):
                await e.spend(100)
                await e.point("p")

        async with e.open_nursery() as n:
            n.start_soon(victim, name="victim", cpu=1)
            e.raise_irq(1, handler, name="irq")

    seen = await _sections(main, cpus=2)
    assert ("irq", 700) in seen
    assert all(name == "irq" for name, _ in seen)  # the victim stayed preemptible


async def test_the_section_start_is_on_the_thread() -> None:
    starts: list[int] = []

    async def main(e: Engine) -> None:
        await e.spend(5000)
        e.preempt_disable()
        await e.spend(100)
        starts.append(e.current.atomic_since)
        e.preempt_enable()

    await _sections(main)
    assert starts == [5000]
