"""Benchmark the engine's hot paths against raw trio and bare Python.

Prints, in one run (median of --reps repetitions, each measurement in this process):

* same-actor scheduling point: one actor, ``await engine.point()`` in a loop; no trio switch
* actor switch: two actors on one CPU, scheduler forced to switch at every point
* spawn + join: an actor spawned into an engine nursery and joined
* raw trio checkpoint (one task, and two tasks alternating) and a raw
  park/reschedule ping-pong between two tasks (the floor of a switch)
* bare Python: the same loop calling a plain method (the ratio's denominator)
* flat in CPU count: switch (two actors on CPU 0), hand-over (actors on CPU 0 and the last
  CPU) and spawn + join on machines of ``--cpus-list`` CPUs (default 2, 64, 1024)

GC: ``--gc tuned`` (default) raises the generation-0 threshold for the measured region, as
the campaign workers do (``pcptrio._core.quiet_gc``); ``--gc default`` leaves CPython's.

    python scripts/bench_engine.py [--n 200000] [--reps 5] [--gc tuned|default]
        [--cpus-list 2,64,1024] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable

import trio
import trio.testing
from trio.lowlevel import Abort, checkpoint, current_task, reschedule, wait_task_rescheduled

from pcptrio._core import Engine, RandomScheduler, quiet_gc


def _abort(_: object) -> Abort:
    return Abort.SUCCEEDED


def same_actor(n: int) -> float:
    e = Engine(cpus=1, max_steps=10**12)

    async def loop() -> None:
        for _ in range(n):
            await e.point("p")

    t = time.perf_counter()
    trio.run(e.run, loop)
    return (time.perf_counter() - t) / n


def _alternate(n: int, cpus: int, second_cpu: int) -> float:
    """Two actors, on CPU 0 and ``second_cpu``, switching at every point: time per switch."""
    e = Engine(cpus=cpus, scheduler=RandomScheduler(1, switch_p=1.0), max_steps=10**12)

    async def loop() -> None:
        for _ in range(n // 2):
            await e.point("p")

    async def main() -> None:
        async with e.open_nursery() as nur:
            nur.start_soon(loop, name="a", cpu=0)
            nur.start_soon(loop, name="b", cpu=second_cpu)

    t = time.perf_counter()
    r = trio.run(e.run, main)
    secs = time.perf_counter() - t
    if r.outcome != "ok" or r.stats.switches < n - 2:  # a switch at every point but the last
        raise RuntimeError(f"the run ended {r.outcome} with {r.stats.switches} switches")
    return secs / r.stats.switches


def switch(n: int, cpus: int = 1) -> float:
    """A thread switch on one CPU (both actors on CPU 0)."""
    return _alternate(n, cpus, 0)


def handover(n: int, cpus: int = 2) -> float:
    """A hand-over between CPUs (actors on CPU 0 and on the last CPU)."""
    return _alternate(n, cpus, cpus - 1)


def spawn_join(n: int, cpus: int = 1) -> float:
    e = Engine(cpus=cpus, max_steps=10**12)

    async def child() -> None:
        await e.point("c")

    async def main() -> None:
        for i in range(n):
            async with e.open_nursery() as nur:
                nur.start_soon(child, name=f"c{i}")

    t = time.perf_counter()
    r = trio.run(e.run, main)
    secs = time.perf_counter() - t
    if r.outcome != "ok":
        raise RuntimeError(f"the spawn run ended {r.outcome}")
    return secs / n


def raw_checkpoint(n: int) -> float:
    async def main() -> None:
        for _ in range(n):
            await checkpoint()

    t = time.perf_counter()
    trio.run(main)
    return (time.perf_counter() - t) / n


def raw_checkpoint_2(n: int) -> float:
    async def loop() -> None:
        for _ in range(n // 2):
            await checkpoint()

    async def main() -> None:
        async with trio.open_nursery() as nur:
            nur.start_soon(loop)
            nur.start_soon(loop)

    t = time.perf_counter()
    trio.run(main)
    return (time.perf_counter() - t) / n


def raw_pingpong(n: int) -> float:
    async def main() -> None:
        tasks: dict[str, object] = {}

        async def player(me: str, other: str) -> None:
            tasks[me] = current_task()
            if me == "b":
                await wait_task_rescheduled(_abort)
            for _ in range(n // 2):
                reschedule(tasks[other])  # type: ignore[arg-type]
                await wait_task_rescheduled(_abort)

        async with trio.open_nursery() as nur:
            nur.start_soon(player, "b", "a")
            await trio.testing.wait_all_tasks_blocked()
            nur.start_soon(player, "a", "b")
            await trio.testing.wait_all_tasks_blocked()
            nur.cancel_scope.cancel()

    t = time.perf_counter()
    trio.run(main)
    return (time.perf_counter() - t) / n


class _Counter:
    def __init__(self) -> None:
        self.step = 0
        self.trace: list[tuple[int, str]] = []

    def point(self, event: str) -> None:
        self.step += 1
        self.trace.append((self.step, event))


def bare(n: int) -> float:
    c = _Counter()
    t = time.perf_counter()
    for _ in range(n):
        c.point("p")
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--gc", choices=["tuned", "default"], default="tuned")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--cpus-list",
        default="2,64,1024",
        help="CPU counts of the flatness sweep (switch, hand-over, spawn+join per machine size)",
    )
    args = ap.parse_args()
    benches: list[tuple[str, Callable[[int], float], int]] = [
        ("same-actor point", same_actor, args.n),
        ("actor switch", switch, args.n),
        ("spawn+join", spawn_join, max(1, args.n // 20)),
        ("raw trio checkpoint", raw_checkpoint, args.n),
        ("raw checkpoint, 2 tasks", raw_checkpoint_2, args.n),
        ("raw park/reschedule switch", raw_pingpong, args.n),
        ("bare python point", bare, args.n),
    ]
    res: dict[str, dict[str, float]] = {}
    for name, fn, n in benches:
        samples = []
        for _ in range(args.reps):
            gc.collect()
            with quiet_gc(enabled=args.gc == "tuned"):
                samples.append(fn(n))
        res[name] = {
            "median_ns": statistics.median(samples) * 1e9,
            "min_ns": min(samples) * 1e9,
            "max_ns": max(samples) * 1e9,
        }
    ratios = {
        "same-actor point / bare python": res["same-actor point"]["median_ns"]
        / res["bare python point"]["median_ns"],
        "actor switch / raw checkpoint": res["actor switch"]["median_ns"]
        / res["raw trio checkpoint"]["median_ns"],
        "actor switch / raw checkpoint (2 tasks)": res["actor switch"]["median_ns"]
        / res["raw checkpoint, 2 tasks"]["median_ns"],
        "actor switch / raw park-reschedule": res["actor switch"]["median_ns"]
        / res["raw park/reschedule switch"]["median_ns"],
    }
    sweep: dict[str, dict[str, float]] = {}
    for cpus in [int(x) for x in args.cpus_list.split(",") if x]:
        row: dict[str, float] = {}
        for name, fn2, n in (
            ("switch", switch, args.n),
            ("hand-over", handover, args.n),
            ("spawn+join", spawn_join, max(1, args.n // 20)),
        ):
            samples = []
            for _ in range(args.reps):
                gc.collect()
                with quiet_gc(enabled=args.gc == "tuned"):
                    samples.append(fn2(n, max(cpus, 2) if name == "hand-over" else cpus))
            row[name] = statistics.median(samples) * 1e9
        sweep[str(cpus)] = row
    if args.json:
        out = {"gc": args.gc, "results": res, "ratios": ratios, "cpus": sweep}
        print(json.dumps(out, indent=2))
        return
    print(f"pcptrio engine benchmark (gc={args.gc}, n={args.n}, median of {args.reps})")
    for name, r in res.items():
        per_s = 1e9 / r["median_ns"]
        print(
            f"  {name:<28} {r['median_ns']:9.0f} ns  ({per_s / 1e3:8.1f} k/s)"
            f"   min {r['min_ns']:.0f}  max {r['max_ns']:.0f}"
        )
    for k, v in ratios.items():
        print(f"  {k:<38} {v:6.2f}x")
    if sweep:
        print("  flat in CPU count (ns, median):  cpus   switch  hand-over  spawn+join")
        for size, cost in sweep.items():
            print(
                f"  {'':32}{size:>5} {cost['switch']:8.0f} {cost['hand-over']:10.0f}"
                f" {cost['spawn+join']:11.0f}"
            )


if __name__ == "__main__":
    main()
