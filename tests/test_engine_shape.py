"""The engine's shape: each CPU is one trio task that drives the threads running on it.

Switching between threads on one CPU, spawning, exiting and interrupts on one CPU cost no trio
task switch; only a hand-over of the baton between CPUs does (counted with a trio
Instrument)."""

from __future__ import annotations

import trio
import trio.abc
import trio.lowlevel

from pcptrio._core import Engine, Outcome, RandomScheduler


class _Steps(trio.abc.Instrument):
    """Counts the steps trio gives each task (a task step = one resume by trio's loop)."""

    def __init__(self) -> None:
        self.steps: dict[str, int] = {}

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps[task.name] = self.steps.get(task.name, 0) + 1


async def test_trio_task_tree_has_one_task_per_cpu() -> None:
    """During a run, the engine's trio tasks are the CPUs (``cpu0`` … ``cpu3``), whatever the
    number of threads; no thread is a trio task."""
    e = Engine(cpus=4, scheduler=RandomScheduler(1))
    seen: list[list[str]] = []

    async def worker(i: int) -> None:
        for _ in range(3):
            await e.point("w", i=i)

    async def look() -> None:
        root = trio.lowlevel.current_root_task()
        assert root is not None
        names: list[str] = []

        def walk(task: trio.lowlevel.Task) -> None:
            names.append(task.name)
            for nursery in task.child_nurseries:
                for child in nursery.child_tasks:
                    walk(child)

        walk(root)
        seen.append(sorted(n for n in names if n.startswith("cpu")))

    async def main() -> None:
        async with e.open_nursery() as n:
            for i in range(12):
                n.start_soon(worker, i, name=f"w{i}", cpu=i % 4)
        await look()

    r = await e.run(main)
    assert r.outcome is Outcome.OK, r.error
    assert seen == [["cpu0", "cpu1", "cpu2", "cpu3"]]
    assert r.stats.actors == 13 and r.stats.switches > 12


async def test_thread_switches_on_one_cpu_cost_no_trio_switch() -> None:
    """Two threads on one CPU, forced to switch at every point: trio resumes the CPU task a
    handful of times (start, end), not once per switch."""
    e = Engine(cpus=1, scheduler=RandomScheduler(1, switch_p=1.0))

    async def loop() -> None:
        for _ in range(200):
            await e.point("p")

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(loop, name="a")
            n.start_soon(loop, name="b")

    inst = _Steps()
    trio.lowlevel.add_instrument(inst)
    try:
        r = await e.run(main)
    finally:
        trio.lowlevel.remove_instrument(inst)
    assert r.outcome is Outcome.OK, r.error
    assert r.stats.switches >= 400
    assert inst.steps.get("cpu0", 0) <= 3, inst.steps


async def test_hand_over_between_cpus_is_one_trio_switch() -> None:
    """Two threads on two CPUs, forced to alternate: one trio resume per hand-over."""
    e = Engine(cpus=2, scheduler=RandomScheduler(1, switch_p=1.0))

    async def loop() -> None:
        for _ in range(100):
            await e.point("p")

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(loop, name="a", cpu=0)
            n.start_soon(loop, name="b", cpu=1)

    inst = _Steps()
    trio.lowlevel.add_instrument(inst)
    try:
        r = await e.run(main)
    finally:
        trio.lowlevel.remove_instrument(inst)
    assert r.outcome is Outcome.OK, r.error
    hand_overs = inst.steps.get("cpu0", 0) + inst.steps.get("cpu1", 0)
    assert r.stats.switches - 4 <= hand_overs <= r.stats.switches + 4, (inst.steps, r.stats)


def test_a_1024_cpu_machine_drains_every_cpu() -> None:
    """The largest machine: bench-drain on 1024 CPUs through the workqueue design queues a
    work on every CPU at each drain and ends ok (a run at the cap, not only a refusal past
    it)."""
    from pcptrio._explore import make_run_spec, run_spec

    spec = make_run_spec("bench-drain", "wq-4.11", {"cpus": 1024})
    r = run_spec(spec, RandomScheduler(1), record_trace=False)
    assert r.outcome is Outcome.OK, r.error
    calls = r.extra["drain_calls"]
    assert calls and all(c["works"] == 1024 for c in calls)
