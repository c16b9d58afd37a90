"""Benchmark the machine's order-0 alloc/free paths against a bare-Python PCP model.

Workload (the one of ``research/performance.md``'s pcp model): one actor per CPU, bound to
it, runs ``--cycles`` cycles of K=200 ``await m.alloc_pages()`` followed by K
``await m.free_pages(pfn)``.  K is above the PCP ``high`` (186, batch 31 for the 512 MiB
zone used here), so every cycle refills from and spills to the buddy (``rmqueue_bulk`` /
``free_pcppages_bulk`` under ``zone->lock``).  One *pair* is one alloc plus one free.

Measured, in one process, median/min/max of ``--reps`` repetitions:

* **emulator**: ``Machine`` with ``--cpus`` CPUs, the random scheduler (``--switch-p``) or
  PCT, trace recording ON, no logger (structlog off).  Wall time is read with
  ``time.perf_counter()`` inside the workload around spawning, running and joining the CPU
  actors; machine construction and boot are outside it.  Also reported: scheduling steps per
  second, and steps and actor switches per pair.
* **emulator, kworkers settled**: the same, but the main actor first sleeps 10 ms of virtual
  time so the boot kworkers reach their idle loop before the measured region.  Without it,
  they stay runnable-but-never-picked for the whole run (every point of the alloc/free path is
  inside an IRQ-disabled section, so their CPUs are never open), and the engine then rebuilds
  its candidate list at every step.
* **bare Python**: a plain class per CPU holding a list (high=186, batch=31; refill 31 pages
  from a global buddy list when empty, spill the 31 oldest when count >= high), driven by the
  same cycles.  Refill and spill counts are checked against the emulator's PCP statistics.

The ratio emulator/bare (pairs per second) has a target of at least 1/20.

GC: ``--gc tuned`` (default) wraps each measured run in ``pcptrio._core.quiet_gc``;
``--gc default`` leaves CPython's thresholds.

    python scripts/bench_machine.py [--cpus 8] [--cycles 48] [--reps 5] [--switch-p 0.2]
        [--scheduler random|pct] [--seed 1] [--gc tuned|default] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from typing import Any

import trio
from _benchutil import summarize

from pcptrio._core import MSEC, ActorState, PCTScheduler, RandomScheduler, Scheduler, quiet_gc
from pcptrio._kernel import Machine, MachineParams, ZoneSpec

K = 200
HIGH = 186
BATCH = 31
ZONE_PAGES = 131072  # 512 MiB: batch 31, high 186
TARGET_RATIO = 1 / 20


class BenchError(RuntimeError):
    """The emulator did not run the workload as expected (reported, never worked around)."""


def _scheduler(args: argparse.Namespace, seed: int) -> Scheduler:
    if args.scheduler == "pct":
        return PCTScheduler(seed)
    return RandomScheduler(seed, switch_p=args.switch_p)


# ----------------------------------------------------------------------------- emulator


def run_emulator(args: argparse.Namespace, seed: int, settle: bool) -> dict[str, Any]:
    cpus, cycles = args.cpus, args.cycles
    m = Machine(
        MachineParams(cpus=cpus, zones=(ZoneSpec("Normal", ZONE_PAGES),)),
        scheduler=_scheduler(args, seed),
        max_steps=10**9,
    )
    zone = m.zones[0]
    if (zone.pcp[0].high, zone.pcp[0].batch) != (HIGH, BATCH):
        raise BenchError(f"zone sizing is high={zone.pcp[0].high} batch={zone.pcp[0].batch}")
    e = m.engine
    failed = [0]
    region: dict[str, Any] = {}

    async def per_cpu(m: Machine, cpu: int) -> None:
        held: list[int] = []
        alloc, free = m.alloc_pages, m.free_pages
        for _ in range(cycles):
            for _ in range(K):
                pfn = await alloc()
                if pfn is None:
                    failed[0] += 1
                    continue
                held.append(pfn)
            while held:
                await free(held.pop())

    async def workload(m: Machine) -> None:
        if settle:
            await e.sleep(10 * MSEC)
            me = e.current
            busy = [a.name for a in e.actors if a is not me and a.state is not ActorState.BLOCKED]
            if busy:
                raise BenchError(f"actors still runnable after settling: {busy}")
        s0, sw0 = e.step, e.switches
        t0 = time.perf_counter()
        async with e.open_nursery() as n:
            for c in range(cpus):
                n.start_soon(per_cpu, m, c, name=f"cpu{c}/alloc", cpu=c)
        region["secs"] = time.perf_counter() - t0
        region["steps"] = e.step - s0
        region["switches"] = e.switches - sw0

    gc.collect()
    with quiet_gc(enabled=args.gc == "tuned"):
        result = trio.run(m.run, workload)
    if result.outcome != "ok":
        raise BenchError(f"emulator run ended {result.headline}\n{result.error or ''}")
    if failed[0]:
        raise BenchError(f"{failed[0]} alloc_pages() calls returned None")
    if "secs" not in region:
        raise BenchError("the workload did not reach the end of its measured region")
    errors = m.audit()
    if errors:
        raise BenchError(f"page audit failed after the run: {errors[:3]}")
    pairs = cpus * cycles * K
    secs = region["secs"]
    return {
        "secs": secs,
        "pairs_per_s": pairs / secs,
        "ns_per_pair": secs / pairs * 1e9,
        "steps_per_s": region["steps"] / secs,
        "steps_per_pair": region["steps"] / pairs,
        "switches_per_pair": region["switches"] / pairs,
        "refills": sum(p.refills for p in zone.pcp),
        "spills": sum(p.spills for p in zone.pcp),
        "trace_records": len(result.trace),
    }


# ----------------------------------------------------------------------------- bare Python


class BareZone:
    __slots__ = ("free",)

    def __init__(self, pages: int) -> None:
        self.free = list(range(pages))


class BarePcp:
    """Per-CPU page list: the hot end is the list's tail, the oldest pages its head."""

    __slots__ = ("batch", "high", "pages", "refills", "spills", "zone")

    def __init__(self, zone: BareZone) -> None:
        self.zone = zone
        self.pages: list[int] = []
        self.high = HIGH
        self.batch = BATCH
        self.refills = 0
        self.spills = 0

    def alloc(self) -> int:
        pages = self.pages
        if not pages:
            free = self.zone.free
            b = self.batch
            pages.extend(free[-b:])
            del free[-b:]
            self.refills += 1
        return pages.pop()

    def free(self, pfn: int) -> None:
        pages = self.pages
        pages.append(pfn)
        if len(pages) >= self.high:
            b = self.batch
            self.zone.free.extend(pages[:b])
            del pages[:b]
            self.spills += 1


def run_bare(args: argparse.Namespace) -> dict[str, Any]:
    cpus, cycles = args.cpus, args.cycles
    zone = BareZone(ZONE_PAGES)
    pcps = [BarePcp(zone) for _ in range(cpus)]
    helds: list[list[int]] = [[] for _ in range(cpus)]
    rng = range(K)
    gc.collect()
    with quiet_gc(enabled=args.gc == "tuned"):
        t0 = time.perf_counter()
        for _ in range(cycles):
            for c in range(cpus):
                pcp = pcps[c]
                held = helds[c]
                for _ in rng:
                    held.append(pcp.alloc())
                for _ in rng:
                    pcp.free(held.pop())
        secs = time.perf_counter() - t0
    pairs = cpus * cycles * K
    return {
        "secs": secs,
        "pairs_per_s": pairs / secs,
        "ns_per_pair": secs / pairs * 1e9,
        "refills": sum(p.refills for p in pcps),
        "spills": sum(p.spills for p in pcps),
    }


# ----------------------------------------------------------------------------- report


def _fmt_rate(x: float) -> str:
    return f"{x / 1e6:.2f} M/s" if x >= 1e6 else f"{x / 1e3:.1f} k/s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cpus", type=int, default=8)
    ap.add_argument("--cycles", type=int, default=48, help="alloc/free cycles of K=200 per CPU")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--switch-p", type=float, default=0.2, help="random scheduler switch_p")
    ap.add_argument("--scheduler", choices=["random", "pct"], default="random")
    ap.add_argument("--seed", type=int, default=1, help="seed of the first repetition")
    ap.add_argument("--gc", choices=["tuned", "default"], default="tuned")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    # at most K held + high + batch on each CPU; twice that leaves room for the watermarks
    need = 2 * args.cpus * (K + HIGH + BATCH)
    if need > ZONE_PAGES:
        ap.error(f"--cpus {args.cpus} could exhaust the {ZONE_PAGES}-page zone")

    rows: dict[str, list[dict[str, Any]]] = {
        "emulator": [],
        "emulator, kworkers settled": [],
        "bare python": [],
    }
    try:
        for rep in range(args.reps):  # repetition-major: drift spreads over all rows
            seed = args.seed + rep
            rows["emulator"].append(run_emulator(args, seed, settle=False))
            rows["emulator, kworkers settled"].append(run_emulator(args, seed, settle=True))
            rows["bare python"].append(run_bare(args))
    except BenchError as exc:
        print(f"bench_machine: emulator misbehaved: {exc}", file=sys.stderr)
        sys.exit(1)

    res = {name: summarize(samples) for name, samples in rows.items()}
    bare_rate = res["bare python"]["pairs_per_s"]["median"]
    ratios = {
        f"{name} / bare python": res[name]["pairs_per_s"]["median"] / bare_rate
        for name in ("emulator", "emulator, kworkers settled")
    }
    counts_match = all(
        (r["refills"], r["spills"]) == (res["bare python"]["refills"], res["bare python"]["spills"])
        for r in (res["emulator"], res["emulator, kworkers settled"])
    )
    config = {
        "cpus": args.cpus,
        "cycles": args.cycles,
        "k": K,
        "pairs": args.cpus * args.cycles * K,
        "scheduler": args.scheduler,
        "switch_p": args.switch_p if args.scheduler == "random" else None,
        "seed": args.seed,
        "reps": args.reps,
        "gc": args.gc,
        "record_trace": True,
        "logger": None,
    }
    if args.json:
        out = {
            "config": config,
            "results": res,
            "ratios": ratios,
            "target_ratio": TARGET_RATIO,
            "op_counts_match": counts_match,
        }
        print(json.dumps(out, indent=2))
        return

    sched = args.scheduler + (f" switch_p={args.switch_p}" if args.scheduler == "random" else "")
    print(
        f"pcptrio machine benchmark: {args.cpus} CPUs x {args.cycles} cycles x {K} pairs "
        f"= {config['pairs']} pairs ({sched}, trace on, gc={args.gc}, median of {args.reps})"
    )
    for name, r in res.items():
        pr = r["pairs_per_s"]
        print(
            f"  {name:<28} {_fmt_rate(pr['median']):>10} pairs"
            f"  ({r['ns_per_pair']['median']:7.0f} ns/pair)"
            f"   min {_fmt_rate(pr['min'])}  max {_fmt_rate(pr['max'])}"
        )
        if "steps_per_s" in r:
            print(
                f"  {'':<28} {_fmt_rate(r['steps_per_s']['median']):>10} steps"
                f"  {r['steps_per_pair']['median']:.2f} steps/pair"
                f"  {r['switches_per_pair']['median']:.3f} switches/pair"
            )
    b = res["bare python"]
    print(
        f"  refills/spills: bare {b['refills']}/{b['spills']}, emulator "
        f"{res['emulator']['refills']}/{res['emulator']['spills']}"
        f" ({'match' if counts_match else 'DIFFER'})"
    )
    for k, v in ratios.items():
        verdict = "meets" if v >= TARGET_RATIO else "misses"
        print(f"  {k:<42} {v:.4f} (1/{1 / v:.0f}; {verdict} target 1/20)")


if __name__ == "__main__":
    main()
