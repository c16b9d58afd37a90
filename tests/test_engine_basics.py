"""The engine's baton, actors, nurseries, time, budgets and errors."""

from __future__ import annotations

from collections.abc import Sequence

import trio

from pcptrio._core import (
    MSEC,
    Actor,
    Engine,
    Outcome,
    PCTScheduler,
    RandomScheduler,
    ReplayDrift,
    RunResult,
)


async def _racy(seed: int, n_incs: int = 3) -> tuple[RunResult, int]:
    e = Engine(cpus=2, scheduler=RandomScheduler(seed))
    box = {"n": 0}

    async def inc() -> None:
        for _ in range(n_incs):
            v = box["n"]
            await e.point("read", v=v)
            box["n"] = v + 1
            await e.point("write", v=v + 1)

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(inc, name="a", cpu=0)
            n.start_soon(inc, name="b", cpu=1)

    r = await e.run(main)
    return r, box["n"]


async def test_racy_increments_lose_updates_for_some_seeds_only() -> None:
    """Read-point-write increments on two CPUs lose an update under some schedules only."""
    finals = []
    for seed in range(40):
        r, n = await _racy(seed)
        assert r.outcome is Outcome.OK
        finals.append(n)
    assert min(finals) < 6, "no schedule lost an update"
    assert 6 in finals, "every schedule lost an update"


async def test_exactly_one_actor_runs_per_step() -> None:
    """Every trace record belongs to one actor, and steps are strictly sequential."""
    r, _ = await _racy(5)
    steps = [rec[0] for rec in r.trace if rec[4] in ("read", "write")]
    assert steps == sorted(steps)
    assert len(set(steps)) == len(steps)
    assert r.stats.steps == max(rec[0] for rec in r.trace)
    assert r.stats.per_actor_steps["a"] == 6 and r.stats.per_actor_steps["b"] == 6


async def test_same_seed_same_trace_bytes() -> None:
    """The same seed twice gives byte-identical canonical traces."""
    r1, _ = await _racy(11)
    r2, _ = await _racy(11)
    assert r1.trace_jsonl == r2.trace_jsonl
    assert r1.trace_sha256 == r2.trace_sha256
    assert r1.decisions == r2.decisions
    r3, _ = await _racy(12)
    assert r3.trace_sha256 != r1.trace_sha256


async def test_nursery_exit_waits_for_children_through_the_engine() -> None:
    """The parent's nursery exit is an engine wait: it returns only after every child."""
    e = Engine(cpus=2, scheduler=RandomScheduler(3))
    order: list[str] = []

    async def child(tag: str, steps: int) -> None:
        for i in range(steps):
            await e.point("child", tag=tag, i=i)
        order.append(tag)

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(child, "x", 5, name="x", cpu=0)
            n.start_soon(child, "y", 9, name="y", cpu=1)
        order.append("parent")

    r = await e.run(main)
    assert r.outcome is Outcome.OK
    assert order[-1] == "parent" and sorted(order[:2]) == ["x", "y"]
    joins = [rec for rec in r.trace if rec[4] == "nursery_join"]
    assert joins and joins[0][5]["on"] == "children of main"


async def test_actor_names_are_stable_and_unique() -> None:
    """Duplicate names get a stable suffix; names never contain ids."""
    e = Engine(cpus=1)

    async def nop() -> None:
        await e.point("nop")

    async def main() -> None:
        async with e.open_nursery() as n:
            for _ in range(3):
                n.start_soon(nop, name="drainer#1")

    r = await e.run(main)
    assert list(r.stats.per_actor_steps) == ["main", "drainer#1", "drainer#1~2", "drainer#1~3"]


async def test_virtual_time_jumps_to_the_next_timer() -> None:
    """Sleeping advances virtual time exactly; no wall clock is involved."""
    e = Engine(cpus=2)
    seen: list[tuple[str, int]] = []

    async def sleeper(tag: str, ns: int) -> None:
        await e.sleep(ns)
        seen.append((tag, e.now))

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(sleeper, "late", 30 * MSEC, name="late", cpu=0)
            n.start_soon(sleeper, "early", 10 * MSEC, name="early", cpu=1)

    with trio.fail_after(5):
        r = await e.run(main)
    assert seen == [("early", 10 * MSEC), ("late", 30 * MSEC)]
    assert r.stats.virtual_ns == 30 * MSEC


async def test_tied_timers_are_a_decision() -> None:
    """Which of two timers due at the same instant fires first is a recorded decision."""
    firsts = set()
    for seed in range(20):
        e = Engine(cpus=1, scheduler=RandomScheduler(seed))
        fired: list[str] = []

        async def main() -> None:
            e.add_timer(MSEC, "t1", lambda: fired.append("t1"))
            e.add_timer(MSEC, "t2", lambda: fired.append("t2"))
            await e.sleep(2 * MSEC)

        r = await e.run(main)
        assert sorted(fired) == ["t1", "t2"]
        assert ("timer", 2, 0) in r.decisions or ("timer", 2, 1) in r.decisions
        firsts.add(fired[0])
    assert firsts == {"t1", "t2"}


async def test_endless_loop_is_budget_exhausted_not_a_hang() -> None:
    """An actor that never stops ends the run as budget-exhausted (steps or time)."""
    e = Engine(cpus=1, max_steps=500)

    async def spin() -> None:
        while True:
            await e.point("spin")

    with trio.fail_after(5):
        r = await e.run(spin)
    assert r.outcome is Outcome.BUDGET_EXHAUSTED and r.budget == "steps"
    assert r.stats.steps == 500

    e2 = Engine(cpus=1, max_time_ns=50 * MSEC)

    async def tick() -> None:
        while True:
            await e2.sleep(MSEC)

    with trio.fail_after(5):
        r2 = await e2.run(tick)
    assert r2.outcome is Outcome.BUDGET_EXHAUSTED and r2.budget == "time"
    assert r2.stats.virtual_ns == 50 * MSEC


async def test_blocking_on_a_raw_trio_event_is_a_clear_error() -> None:
    """Waiting on a trio.Event the engine cannot see ends the run with an error naming the actor."""
    e = Engine(cpus=1)

    async def bad() -> None:
        await e.point("before")
        await trio.Event().wait()

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(bad, name="sneaky")

    with trio.fail_after(5):
        r = await e.run(main)
    assert r.outcome is Outcome.ERROR
    assert r.error is not None
    assert "sneaky" in r.error and "trio primitive" in r.error
    assert "test_engine_basics.py" in r.error


async def test_model_exception_is_an_error_outcome() -> None:
    """An exception in model code ends the run with outcome error and the traceback."""
    e = Engine(cpus=1)

    async def boom() -> None:
        await e.point("x")
        raise ZeroDivisionError("model bug")

    r = await e.run(boom)
    assert r.outcome is Outcome.ERROR
    assert r.error is not None and "ZeroDivisionError: model bug" in r.error


async def test_sleeping_with_preemption_disabled_is_a_model_error() -> None:
    """Blocking while atomic is the kernel's "scheduling while atomic" bug."""
    e = Engine(cpus=1)

    async def atomic_sleep() -> None:
        e.preempt_disable()
        await e.sleep(10)

    r = await e.run(atomic_sleep)
    assert r.outcome is Outcome.ERROR
    assert r.error is not None and "scheduling while atomic" in r.error


async def test_pct_finds_a_depth_two_bug_faster_than_random() -> None:
    """A bug needing one specific preemption (deep in A) is found by PCT-2 in fewer runs."""

    async def one(sched_factory: object, seed: int) -> bool:
        e = Engine(cpus=2, scheduler=sched_factory(seed))  # type: ignore[operator]
        state = {"window": False, "bug": False}

        async def a() -> None:
            for i in range(40):
                await e.point("a", i=i)
            state["window"] = True
            await e.point("a-window")
            state["window"] = False
            for i in range(5):
                await e.point("a-tail", i=i)

        async def b() -> None:
            await e.point("b-check")
            if state["window"]:
                state["bug"] = True

        async def main() -> None:
            async with e.open_nursery() as n:
                n.start_soon(a, name="A", cpu=0)
                n.start_soon(b, name="B", cpu=1)

        await e.run(main)
        return state["bug"]

    def pct(seed: int) -> PCTScheduler:
        return PCTScheduler(seed, depth=2, steps_estimate=50)

    budget = 600

    async def runs_until_found(factory: object) -> int:
        for seed in range(budget):
            if await one(factory, seed):
                return seed + 1
        return budget + 1

    n_pct = await runs_until_found(pct)
    n_rnd = await runs_until_found(RandomScheduler)
    assert n_pct <= budget, "PCT-2 did not find the depth-2 bug"
    assert n_pct < n_rnd


async def test_a_failure_while_picking_after_an_exit_ends_the_run_as_an_error() -> None:
    """The pick that follows a thread's exit runs in its CPU task, outside any thread: a
    replay drift there ends the run as an error with the drift, instead of escaping the
    engine."""

    class DriftAfterExit(RandomScheduler):
        picks = 0

        def pick_actor(self, cands: Sequence[Actor], current: Actor | None, step: int) -> int:
            if current is None:  # a pick after a block or an exit
                DriftAfterExit.picks += 1
                if DriftAfterExit.picks > 1:
                    raise ReplayDrift(step, "sched[0/4]", "sched among 3")
            return super().pick_actor(cands, current, step)

    e = Engine(cpus=1, scheduler=DriftAfterExit(1, switch_p=0.0))

    async def worker() -> None:
        await e.point("w")

    async def main() -> None:
        async with e.open_nursery() as n:
            for i in range(4):
                n.start_soon(worker, name=f"w{i}")

    r = await e.run(main)
    assert r.outcome is Outcome.ERROR
    assert r.error is not None and r.error.startswith("replay drift"), r.error
