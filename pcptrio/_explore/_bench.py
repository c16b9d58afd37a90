"""``pcptrio bench``: drain latency vs CPU count per design, and emulator throughput.

For each design and CPU count, a scenario (``bench-drain`` unless another one, built-in or
TOML, is named) runs under a few seeds; every drain_all_pages() call that returned gives a
latency (virtual time from call to return),
the IPIs and works it used and the pages it drained.  Reported per cell: latency p50/p99 in
virtual µs, IPIs and works per call, pages per call.  Throughput is the emulator's own speed
on the same runs: steps/s and simulated page operations (allocations + frees) per second of
wall time — the only place pcptrio reads the wall clock, and never inside a run.

The seed patch's claim — workqueue drains are "slower [than IPIs] but no slowdown during
intensive reclaim was measured" — shows as a wq/ipi latency ratio above 1.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .._core import RandomScheduler, quiet_gc
from .._drain import DrainDesign, design_names
from .._scenarios import ScenarioDef, resolve_scenario
from ._campaign import schedule_seed
from ._run import make_run_spec, run_spec

__all__ = ["BenchCell", "BenchResult", "run_bench"]

DEFAULT_CPUS = (2, 4, 8, 16, 32, 64)


def _pct(xs: Sequence[int], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    k = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return float(s[k])


@attrs.frozen
class BenchCell:
    design: str
    cpus: int
    calls: int
    latency_p50_us: float
    latency_p99_us: float
    ipis_per_call: float
    works_per_call: float
    pages_per_call: float
    steps: int
    page_ops: int
    wall_s: float
    #: How the runs ended (outcome class -> count): a latency from a run that errored is
    #: still a latency, but the reader must know.
    outcomes: dict[str, int] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = attrs.asdict(self)
        d["steps_per_s"] = round(self.steps / self.wall_s) if self.wall_s else 0
        d["page_ops_per_s"] = round(self.page_ops / self.wall_s) if self.wall_s else 0
        return d


@attrs.frozen
class BenchResult:
    cells: tuple[BenchCell, ...]
    seeds: int

    def to_json(self) -> dict[str, Any]:
        steps = sum(c.steps for c in self.cells)
        ops = sum(c.page_ops for c in self.cells)
        wall = sum(c.wall_s for c in self.cells)
        return {
            "seeds": self.seeds,
            "cells": [c.to_json() for c in self.cells],
            "throughput": {
                "steps_per_s": round(steps / wall) if wall else 0,
                "page_ops_per_s": round(ops / wall) if wall else 0,
                "wall_s": round(wall, 3),
            },
        }


def run_bench(
    designs: Sequence[str | DrainDesign] | None = None,
    cpus: Sequence[int] = DEFAULT_CPUS,
    *,
    seeds: int = 3,
    seed: int = 0,
    scenario: str | os.PathLike[str] | ScenarioDef = "bench-drain",
    progress: Callable[[BenchCell], None] | None = None,
) -> BenchResult:
    """Bench ``designs`` (default: the built-ins) at each CPU count of ``cpus`` on
    ``scenario`` (see the module docstring)."""
    cells = []
    s = resolve_scenario(scenario)
    for d in designs or design_names():
        for n in cpus:
            spec = make_run_spec(s, d, {"cpus": n})
            outcomes: dict[str, int] = {}
            lat: list[int] = []
            ipis = works = pages = steps = ops = 0
            t0 = time.perf_counter()
            with quiet_gc():
                for i in range(seeds):
                    r = run_spec(spec, RandomScheduler(schedule_seed(seed, i)), record_trace=False)
                    steps += r.stats.steps
                    ops += int(r.extra.get("page_ops", 0))
                    outcomes[str(r.outcome)] = outcomes.get(str(r.outcome), 0) + 1
                    for c in r.extra["drain_calls"]:
                        if c["latency_ns"] is None:
                            continue
                        lat.append(int(c["latency_ns"]))
                        ipis += int(c["ipis"])
                        works += int(c["works"])
                        pages += int(c["pages_total"])
            wall = time.perf_counter() - t0
            k = max(1, len(lat))
            cell = BenchCell(
                spec.design.name,
                n,
                len(lat),
                _pct(lat, 0.5) / 1000,
                _pct(lat, 0.99) / 1000,
                ipis / k,
                works / k,
                pages / k,
                steps,
                ops,
                wall,
                dict(sorted(outcomes.items())),
            )
            cells.append(cell)
            if progress is not None:
                progress(cell)
    return BenchResult(tuple(cells), seeds)
