"""Benchmark the machine's workqueues against SimPy doing the same thing.

Measured, in one process, median/min/max of ``--reps`` repetitions (each repetition builds
fresh machines and SimPy environments; emulator and SimPy alternate so drift hits both):

* **round trip**: ``await m.queue_work_on(cpu, m.system_wq, work)`` then
  ``await m.flush_work(work)``, from the main actor on CPU 0 of a 2-CPU machine, to a work
  on CPU 0 (local) and on CPU 1 (remote).  SimPy: put a completion event into the worker
  process's ``simpy.Store``, the worker succeeds it, the requester yields it.
* **queue on N CPUs, wait for all** (N = ``--cpus``, default 8, 64, 512): queue one work on
  every CPU, then flush each (what ``schedule_on_each_cpu`` / a workqueue-based
  ``drain_all_pages`` do).  SimPy: N worker processes, one ``simpy.Store`` each; a round puts
  one event in every store and yields ``env.all_of`` of them.  Reported per round and per CPU
  (µs per CPU = round time / N); target: emulator <= 1.5x SimPy per CPU.

Steady state only: each machine boots once (``MachineParams(cpus=N)``, a 4096-page zone to
keep boot cheap), runs one warm-up round (the first work on a pool wakes its boot worker,
which then creates a spare one), then times ``rounds`` repetitions inside the same run, with
``time.perf_counter()`` read by the workload around the repeated region.  Boot (machine
construction up to the workload's first line: at N=512 about 1500 actors) and the warm-up
are reported separately.  ``rounds = max(2, --items // N)``.  Virtual-time costs (a
10 µs wake-up, ...) do not change wall time; the work function is empty.

GC: ``--gc tuned`` (default) wraps each measured run in ``pcptrio._core.quiet_gc``;
``--gc default`` leaves CPython's thresholds.

    python scripts/bench_workqueue.py [--cpus 8,64,512] [--items 8192] [--rt-n 2000]
        [--reps 5] [--scheduler random|pct] [--seed 1] [--gc tuned|default] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable, Generator
from typing import Any

import simpy
import trio
from _benchutil import summarize

from pcptrio._core import PCTScheduler, RandomScheduler, Scheduler, quiet_gc
from pcptrio._kernel import Machine, MachineParams, WorkStruct, ZoneSpec

ZONE = ZoneSpec("Normal", 4096)
TARGET_RATIO = 1.5


class BenchError(RuntimeError):
    """The emulator did not run the workload as expected (reported, never worked around)."""


def _scheduler(args: argparse.Namespace, seed: int) -> Scheduler:
    if args.scheduler == "pct":
        return PCTScheduler(seed)
    return RandomScheduler(seed)


async def _empty_work(work: WorkStruct) -> None:
    pass


class _CpuTaskSteps(trio.abc.Instrument):
    """Counts the steps trio gives the CPU tasks (``cpu<N>``) while ``on``: each one is a
    hand-over of the baton between CPUs (or a CPU task's start, or its breathing checkpoint
    every few thousand switches)."""

    def __init__(self) -> None:
        self.on = False
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.on and task.name.startswith("cpu"):
            self.steps += 1


def _run_machine(
    args: argparse.Namespace,
    seed: int,
    cpus: int,
    body: Callable[[Machine, dict[str, Any]], Any],
    instruments: tuple[trio.abc.Instrument, ...] = (),
) -> dict[str, Any]:
    """Build and run a machine whose workload is ``body(m, out)``; check the run was ok."""
    out: dict[str, Any] = {}
    gc.collect()
    with quiet_gc(enabled=args.gc == "tuned"):
        t0 = time.perf_counter()
        m = Machine(
            MachineParams(cpus=cpus, zones=(ZONE,)),
            scheduler=_scheduler(args, seed),
            max_steps=10**9,
        )

        async def workload(m: Machine) -> None:
            out["boot_secs"] = time.perf_counter() - t0
            await body(m, out)

        result = trio.run(m.run, workload, instruments=instruments)
    if result.outcome != "ok":
        raise BenchError(f"{cpus}-CPU machine: run ended {result.headline}\n{result.error or ''}")
    if "secs" not in out:
        raise BenchError(f"{cpus}-CPU machine: the workload did not finish its measured region")
    out["actors"] = result.stats.actors
    return out


async def _queue(m: Machine, cpu: int, work: WorkStruct) -> None:
    if not await m.queue_work_on(cpu, m.system_wq, work):
        raise BenchError(f"queue_work_on({cpu}, {work.label}) found the work still pending")


# flush_work may legitimately return False (the worker ran the work before the flush
# looked); that every work ran exactly once per queueing is checked after the loop.


# ----------------------------------------------------------------------------- emulator


def emu_roundtrip(args: argparse.Namespace, seed: int, target: int) -> dict[str, Any]:
    n = args.rt_n

    async def body(m: Machine, out: dict[str, Any]) -> None:
        work = WorkStruct(_empty_work, "fn", "rt")
        await _queue(m, target, work)  # warm-up
        await m.flush_work(work)
        e = m.engine
        s0, sw0 = e.step, e.switches
        t0 = time.perf_counter()
        for _ in range(n):
            await _queue(m, target, work)
            await m.flush_work(work)
        out["secs"] = time.perf_counter() - t0
        out["steps"] = e.step - s0
        out["switches"] = e.switches - sw0
        if work.executions != n + 1:
            raise BenchError(f"round-trip work ran {work.executions} times, expected {n + 1}")

    out = _run_machine(args, seed, 2, body)
    return {
        "us_per_rt": out["secs"] / n * 1e6,
        "steps_per_rt": out["steps"] / n,
        "switches_per_rt": out["switches"] / n,
    }


def emu_all_cpus(
    args: argparse.Namespace, seed: int, cpus: int, rounds: int, count_handovers: bool = False
) -> dict[str, Any]:
    """The fan-out, timed.  ``count_handovers``: also count the hand-overs between CPUs in the
    measured region, with a trio instrument (it slows every trio step: the time of such a
    run is not the measurement; run it apart)."""
    counter = _CpuTaskSteps()

    async def body(m: Machine, out: dict[str, Any]) -> None:
        works = [WorkStruct(_empty_work, "fn", f"w{c}") for c in range(m.nr_cpus)]
        cpu_ids = range(m.nr_cpus)
        t0 = time.perf_counter()
        for c in cpu_ids:  # warm-up: the first work on each pool wakes its worker
            await _queue(m, c, works[c])
        for c in cpu_ids:
            await m.flush_work(works[c])
        out["warmup_secs"] = time.perf_counter() - t0
        e = m.engine
        s0, sw0 = e.step, e.switches
        counter.on = True
        t0 = time.perf_counter()
        for _ in range(rounds):
            for c in cpu_ids:
                await _queue(m, c, works[c])
            for c in cpu_ids:
                await m.flush_work(works[c])
        out["secs"] = time.perf_counter() - t0
        counter.on = False
        out["steps"] = e.step - s0
        out["switches"] = e.switches - sw0
        bad = [w.label for w in works if w.executions != rounds + 1]
        if bad:
            raise BenchError(f"works {bad[:5]} did not run {rounds + 1} times")

    out = _run_machine(args, seed, cpus, body, (counter,) if count_handovers else ())
    per_round = out["secs"] / rounds
    return {
        "handovers_per_cpu": counter.steps / rounds / cpus if count_handovers else None,
        "us_per_round": per_round * 1e6,
        "us_per_cpu": per_round / cpus * 1e6,
        "steps_per_cpu": out["steps"] / rounds / cpus,
        "switches_per_cpu": out["switches"] / rounds / cpus,
        "boot_ms": out["boot_secs"] * 1e3,
        "warmup_ms": out["warmup_secs"] * 1e3,
        "actors": out["actors"],
    }


# ----------------------------------------------------------------------------- SimPy


def _simpy_worker(store: simpy.Store) -> Generator[Any, Any, None]:
    get = store.get
    while True:
        ev = yield get()
        ev.succeed()  # the (empty) work, then its completion


def simpy_roundtrip(args: argparse.Namespace) -> dict[str, Any]:
    n = args.rt_n
    env = simpy.Environment()
    store = simpy.Store(env)
    out: dict[str, float] = {}

    def requester() -> Generator[Any, Any, None]:
        ev = env.event()  # warm-up
        store.put(ev)
        yield ev
        t0 = time.perf_counter()
        for _ in range(n):
            ev = env.event()
            store.put(ev)
            yield ev
        out["secs"] = time.perf_counter() - t0

    env.process(_simpy_worker(store))
    gc.collect()
    with quiet_gc(enabled=args.gc == "tuned"):
        env.run(until=env.process(requester()))
    return {"us_per_rt": out["secs"] / n * 1e6}


def simpy_all_cpus(args: argparse.Namespace, cpus: int, rounds: int) -> dict[str, Any]:
    env = simpy.Environment()
    stores = [simpy.Store(env) for _ in range(cpus)]
    out: dict[str, float] = {}

    def one_round() -> Generator[Any, Any, None]:
        evs = []
        for store in stores:
            ev = env.event()
            store.put(ev)
            evs.append(ev)
        yield env.all_of(evs)

    def driver() -> Generator[Any, Any, None]:
        yield from one_round()  # warm-up
        t0 = time.perf_counter()
        for _ in range(rounds):
            yield from one_round()
        out["secs"] = time.perf_counter() - t0

    for store in stores:
        env.process(_simpy_worker(store))
    gc.collect()
    with quiet_gc(enabled=args.gc == "tuned"):
        env.run(until=env.process(driver()))
    per_round = out["secs"] / rounds
    return {"us_per_round": per_round * 1e6, "us_per_cpu": per_round / cpus * 1e6}


# ----------------------------------------------------------------------------- report


def _us(x: float) -> str:
    return f"{x / 1e3:8.2f} ms" if x >= 1e4 else f"{x:8.1f} µs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cpus", default="8,64,512", help="comma-separated CPU counts (max 512)")
    ap.add_argument("--items", type=int, default=8192, help="works per measurement (N x rounds)")
    ap.add_argument("--rt-n", type=int, default=2000, help="round trips per measurement")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--scheduler", choices=["random", "pct"], default="random")
    ap.add_argument("--seed", type=int, default=1, help="seed of the first repetition")
    ap.add_argument("--gc", choices=["tuned", "default"], default="tuned")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    cpu_counts = [int(x) for x in args.cpus.split(",") if x.strip()]
    rounds = {n: max(2, args.items // n) for n in cpu_counts}

    rows: dict[str, list[dict[str, Any]]] = {
        "rt emulator local (cpu0->cpu0)": [],
        "rt emulator remote (cpu0->cpu1)": [],
        "rt simpy": [],
    }
    for n in cpu_counts:
        rows[f"all N={n} emulator"] = []
        rows[f"all N={n} simpy"] = []
    try:
        for rep in range(args.reps):
            seed = args.seed + rep
            rows["rt emulator local (cpu0->cpu0)"].append(emu_roundtrip(args, seed, 0))
            rows["rt emulator remote (cpu0->cpu1)"].append(emu_roundtrip(args, seed, 1))
            rows["rt simpy"].append(simpy_roundtrip(args))
            for n in cpu_counts:
                rows[f"all N={n} emulator"].append(emu_all_cpus(args, seed, n, rounds[n]))
                rows[f"all N={n} simpy"].append(simpy_all_cpus(args, n, rounds[n]))
    except BenchError as exc:
        print(f"bench_workqueue: emulator misbehaved: {exc}", file=sys.stderr)
        sys.exit(1)

    res = {name: summarize(samples) for name, samples in rows.items()}
    rt_simpy = res["rt simpy"]["us_per_rt"]["median"]
    ratios: dict[str, float] = {
        "rt local / simpy": res["rt emulator local (cpu0->cpu0)"]["us_per_rt"]["median"] / rt_simpy,
        "rt remote / simpy": res["rt emulator remote (cpu0->cpu1)"]["us_per_rt"]["median"]
        / rt_simpy,
    }
    for n in cpu_counts:
        ratios[f"N={n} per CPU, emulator / simpy"] = (
            res[f"all N={n} emulator"]["us_per_cpu"]["median"]
            / res[f"all N={n} simpy"]["us_per_cpu"]["median"]
        )
    config = {
        "cpus": cpu_counts,
        "rounds": rounds,
        "rt_n": args.rt_n,
        "reps": args.reps,
        "scheduler": args.scheduler,
        "seed": args.seed,
        "gc": args.gc,
        "zone_pages": ZONE.pages,
    }
    if args.json:
        out = {"config": config, "results": res, "ratios": ratios, "target_ratio": TARGET_RATIO}
        print(json.dumps(out, indent=2))
        return

    print(
        f"pcptrio workqueue benchmark ({args.scheduler} scheduler, gc={args.gc}, "
        f"median of {args.reps}; min..max in brackets)"
    )
    print(f"  queue_work_on + flush_work round trip ({args.rt_n} per measurement):")
    for name in ("rt emulator local (cpu0->cpu0)", "rt emulator remote (cpu0->cpu1)", "rt simpy"):
        r = res[name]["us_per_rt"]
        extra = ""
        if "steps_per_rt" in res[name]:
            extra = (
                f"   {res[name]['steps_per_rt']['median']:.1f} steps,"
                f" {res[name]['switches_per_rt']['median']:.1f} switches"
            )
        print(f"    {name[3:]:<26} {_us(r['median'])}  [{r['min']:.1f}..{r['max']:.1f}]{extra}")
    print("  queue one work on each of N CPUs, wait for all:")
    for n in cpu_counts:
        emu, sim = res[f"all N={n} emulator"], res[f"all N={n} simpy"]
        print(
            f"    N={n} ({rounds[n]} rounds; boot {emu['boot_ms']['median']:.0f} ms,"
            f" warm-up {emu['warmup_ms']['median']:.0f} ms, {emu['actors']} actors)"
        )
        for label, r in (("emulator", emu), ("simpy", sim)):
            pc = r["us_per_cpu"]
            extra = ""
            if "steps_per_cpu" in r:
                extra = (
                    f"   {r['steps_per_cpu']['median']:.1f} steps,"
                    f" {r['switches_per_cpu']['median']:.1f} switches per CPU"
                )
            print(
                f"      {label:<9} {_us(r['us_per_round']['median'])} per round"
                f"  {pc['median']:7.1f} µs/CPU [{pc['min']:.1f}..{pc['max']:.1f}]{extra}"
            )
    for k, v in ratios.items():
        verdict = ""
        if k.startswith("N="):
            verdict = "  meets target <= 1.5x" if v <= TARGET_RATIO else "  misses target <= 1.5x"
        print(f"  {k:<36} {v:6.2f}x{verdict}")


if __name__ == "__main__":
    main()
