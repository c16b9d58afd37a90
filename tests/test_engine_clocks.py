"""Local clocks: CPU-local steps run ahead of the machine's time without a decision, virtual
time stays parallel, and the validator fails loudly on a wrong local declaration."""

from __future__ import annotations

from collections.abc import Sequence

from pcptrio._core import (
    MSEC,
    Actor,
    Engine,
    Outcome,
    RandomScheduler,
    RunResult,
    SpinLock,
    Waitable,
)
from pcptrio._kernel import Machine, MachineParams, ZoneSpec


async def _two_busy_cpus(local: bool) -> RunResult:
    """Two CPUs, each busy for 1 ms in 1000 steps of 1 µs (declared local or not)."""
    e = Engine(cpus=2, scheduler=RandomScheduler(3))

    async def busy() -> None:
        for _ in range(1000):
            await e.spend(1000, "work", local=local)

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(busy, name="b0", cpu=0)
            n.start_soon(busy, name="b1", cpu=1)

    r = await e.run(main)
    assert r.outcome is Outcome.OK, r.error
    return r


async def test_two_cpus_busy_1ms_each_finish_at_1ms() -> None:
    """Two CPUs each spend 1 ms in local steps: the run ends at ~1 ms (parallel), not 2 ms,
    and the local steps cost (almost) no decisions."""
    r = await _two_busy_cpus(local=True)
    assert MSEC <= r.stats.virtual_ns <= MSEC + 50_000
    assert r.stats.steps >= 2000
    assert r.stats.decisions < 200, r.stats  # not one per step


async def test_without_local_the_same_work_interleaves_step_by_step() -> None:
    """The same work declared non-local takes a decision at (almost) every step: what the
    declaration saves, and the same parallel end time."""
    r = await _two_busy_cpus(local=False)
    assert r.stats.virtual_ns == MSEC
    assert r.stats.decisions >= 1000


async def test_local_steps_stop_at_a_non_local_event() -> None:
    """A thread sleeping until 500 µs (a non-local timer) bounds how far another CPU's local
    steps run: when it wakes, the busy CPU's clock has not passed 500 µs."""
    e = Engine(cpus=2, scheduler=RandomScheduler(1))
    seen: list[int] = []
    clock: list[int] = []

    async def busy() -> None:
        for _ in range(1000):
            await e.spend(1000, "work", local=True)
            clock.append(e.now)

    async def sleeper() -> None:
        await e.sleep(500_000)
        seen.append(max(clock))

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(busy, name="busy", cpu=0)
            n.start_soon(sleeper, name="sleeper", cpu=1)

    r = await e.run(main)
    assert r.outcome is Outcome.OK, r.error
    assert seen and seen[0] <= 500_000, seen


async def test_a_lock_held_through_local_steps_is_released_at_the_holders_clock() -> None:
    """A spinning waiter gets a lock when its holder releases it at the holder's own clock
    (the release first brings the holder back to the machine's time)."""
    e = Engine(cpus=2, scheduler=RandomScheduler(2))
    lock = SpinLock(e, "l")
    got: list[int] = []

    async def holder() -> None:
        await lock.lock()
        for _ in range(100):
            await e.spend(1000, "work", local=True)
        await lock.unlock()

    async def waiter() -> None:
        await e.sleep(10)
        await lock.lock()
        got.append(e.now)
        await lock.unlock()

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(holder, name="holder", cpu=0)
            n.start_soon(waiter, name="waiter", cpu=1)

    r = await e.run(main)
    assert r.outcome is Outcome.OK, r.error
    assert got and got[0] >= 100_000, got


async def test_validator_catches_a_non_local_effect_in_a_local_step() -> None:
    """Waking another thread right after a local step (without a scheduling point between)
    is a wrong declaration: the run fails loudly and says so."""
    e = Engine(cpus=2, scheduler=RandomScheduler(1))
    box: dict[str, object] = {}

    async def sleeper() -> None:
        await e.block(_Named("q"), "wait")

    async def liar() -> None:
        await e.point("start")
        for _ in range(3):
            await e.spend(1000, "work", local=True)
        e.wake(box["sleeper"])  # type: ignore[arg-type]

    async def main() -> None:
        async with e.open_nursery() as n:
            box["sleeper"] = n.start_soon(sleeper, name="sleeper", cpu=1)
            n.start_soon(liar, name="liar", cpu=0)

    r = await e.run(main)
    assert r.outcome is Outcome.ERROR
    assert r.error is not None and "declared CPU-local" in r.error, r.error


async def test_validator_catches_a_local_step_touching_another_cpus_pcp() -> None:
    """A 'local' step on CPU 0 followed by a touch of CPU 1's PCP list: caught by the PCP."""
    m = Machine(MachineParams(cpus=2, zones=(ZoneSpec("Normal", 4096),)))
    zone = m.zones[0]

    async def work(m: Machine) -> None:
        e = m.engine
        await e.sleep(10_000)  # let the machine's own threads settle
        for _ in range(3):
            await e.spend(1000, "bogus_local", local=True)
        assert e.ahead
        other = m.pcp(1, zone)
        other.enter(e.current)  # CPU 1's PCP, from CPU 0, while ahead
        other.exit(e.current)

    r = await m.run(work)
    assert r.outcome is Outcome.ERROR
    assert r.error is not None and "touching cpu1's Normal PCP" in r.error, r.error


class _Named:
    def __init__(self, name: str) -> None:
        self.wait_name = name

    def wait_holders(self) -> Sequence[Actor | Waitable]:
        return ()
