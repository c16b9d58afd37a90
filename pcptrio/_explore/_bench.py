"""``pcptrio bench``: drain latency vs CPU count per design, and emulator throughput.

For each design and CPU count, a scenario (``bench-drain`` unless another one, built-in or
TOML, is named) runs under successive seeds until it has given at least ``samples`` drain
calls (30 by default; ``seeds`` fixes the number of runs instead).  Every drain_all_pages()
call that returned gives a latency (virtual time from call to return), the IPIs and works it
used and the pages it drained.  Reported per cell: latency p50, p90 and max in virtual µs, and
p99 once there are at least 100 samples; IPIs, works and pages per call; under reclaim load
(``reclaim-storm``), the pages reclaimed per virtual second.  Throughput is the emulator's
own speed on the same runs: steps/s and simulated page operations (allocations + frees) per
second of wall time — the only place pcptrio reads the wall clock, and never inside a run.

The seed patch's claim — workqueue drains are "slower [than IPIs] but no slowdown during
intensive reclaim was measured" — shows as a wq/ipi latency ratio above 1 on ``bench-drain``
and as similar reclaim throughput on ``reclaim-storm``.
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

__all__ = ["BenchCell", "BenchResult", "identical_groups", "run_bench"]

DEFAULT_CPUS = (2, 4, 8, 16, 32, 64)
#: A cell whose scenario gives few calls runs at most this many times its sample target.
MAX_RUNS_PER_SAMPLE = 20


def _pct(xs: Sequence[int], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    k = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return float(s[k])


#: p99 is reported from this many samples on (below it, it is one of the last few).
P99_MIN_SAMPLES = 100


@attrs.frozen
class BenchCell:
    design: str
    cpus: int
    calls: int
    latency_p50_us: float
    latency_p90_us: float
    latency_max_us: float
    #: ``None`` below :data:`P99_MIN_SAMPLES` samples.
    latency_p99_us: float | None
    ipis_per_call: float
    works_per_call: float
    pages_per_call: float
    steps: int
    page_ops: int
    wall_s: float
    #: How the runs ended (outcome class -> count): a latency from a run that errored is
    #: still a latency, but the reader must know.
    outcomes: dict[str, int] = attrs.field(factory=dict)
    #: Every call's latency (virtual ns), in run order, but for the calls that returned at
    #: once (a global caller that found ``pcpu_drain_mutex`` taken, a kworker's early
    #: return): those are counted in ``returned_at_once`` and left out of the percentiles.
    latencies_ns: tuple[int, ...] = ()
    returned_at_once: int = 0
    runs: int = 0
    virtual_ns: int = 0
    #: Pages direct reclaim freed, over all runs.
    reclaimed: int = 0

    @property
    def reclaim_pages_per_s(self) -> float:
        """Pages reclaimed per virtual second of the runs."""
        return self.reclaimed / (self.virtual_ns / 1e9) if self.virtual_ns else 0.0

    def to_json(self) -> dict[str, Any]:
        d = attrs.asdict(self)
        d["latencies_ns"] = list(self.latencies_ns)
        d["samples"] = self.calls
        d["reclaim_pages_per_s"] = round(self.reclaim_pages_per_s, 1)
        d["steps_per_s"] = round(self.steps / self.wall_s) if self.wall_s else 0
        d["page_ops_per_s"] = round(self.page_ops / self.wall_s) if self.wall_s else 0
        return d


@attrs.frozen
class BenchResult:
    cells: tuple[BenchCell, ...]
    seeds: int
    scenario: str = ""

    def wq_ipi_ratios(self) -> dict[str, dict[int, float]]:
        """Each other design's p50 latency over ``ipi``'s, per CPU count both ran."""
        ipi = {c.cpus: c.latency_p50_us for c in self.cells if c.design == "ipi"}
        out: dict[str, dict[int, float]] = {}
        for c in self.cells:
            if c.design != "ipi" and ipi.get(c.cpus) and c.latency_p50_us:
                out.setdefault(c.design, {})[c.cpus] = round(c.latency_p50_us / ipi[c.cpus], 2)
        return out

    def to_json(self) -> dict[str, Any]:
        steps = sum(c.steps for c in self.cells)
        ops = sum(c.page_ops for c in self.cells)
        wall = sum(c.wall_s for c in self.cells)
        return {
            "scenario": self.scenario,
            "seeds": self.seeds,
            "identical": identical_groups(self.cells),
            "ratio_to_ipi_p50": {
                d: {str(n): v for n, v in m.items()} for d, m in self.wq_ipi_ratios().items()
            },
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
    samples: int = 30,
    seeds: int | None = None,
    seed: int = 0,
    scenario: str | os.PathLike[str] | ScenarioDef = "bench-drain",
    progress: Callable[[BenchCell], None] | None = None,
) -> BenchResult:
    """Bench ``designs`` (default: the built-ins) at each CPU count of ``cpus`` on
    ``scenario`` (see the module docstring): runs until ``samples`` calls returned (at most
    ``MAX_RUNS_PER_SAMPLE * samples`` runs), or exactly ``seeds`` runs."""
    cells = []
    s = resolve_scenario(scenario)
    for d in designs or design_names():
        for n in cpus:
            spec = make_run_spec(s, d, {"cpus": n})
            outcomes: dict[str, int] = {}
            lat: list[int] = []
            ipis = works = pages = steps = ops = virtual = reclaimed = calls = at_once = 0
            runs = 0
            limit = seeds if seeds is not None else MAX_RUNS_PER_SAMPLE * max(1, samples)
            t0 = time.perf_counter()
            with quiet_gc():
                while runs < limit and (seeds is not None or calls < samples):
                    if seeds is None and runs >= MAX_RUNS_PER_SAMPLE and not calls:
                        break  # this design's calls never return here: no latency to take
                    r = run_spec(
                        spec, RandomScheduler(schedule_seed(seed, runs)), record_trace=False
                    )
                    runs += 1
                    steps += r.stats.steps
                    virtual += r.stats.virtual_ns
                    reclaimed += r.stats.counters.get("reclaim_pages", 0)
                    ops += int(r.extra.get("page_ops", 0))
                    outcomes[str(r.outcome)] = outcomes.get(str(r.outcome), 0) + 1
                    for c in r.extra["drain_calls"]:
                        if c["latency_ns"] is None:
                            continue
                        calls += 1
                        if not c["latency_ns"]:
                            at_once += 1
                            continue
                        lat.append(int(c["latency_ns"]))
                        ipis += int(c["ipis"])
                        works += int(c["works"])
                        pages += int(c["pages_total"])
            wall = time.perf_counter() - t0
            k = max(1, calls)
            cell = BenchCell(
                spec.design.name,
                n,
                calls,
                _pct(lat, 0.5) / 1000,
                _pct(lat, 0.9) / 1000,
                (max(lat) if lat else 0) / 1000,
                _pct(lat, 0.99) / 1000 if len(lat) >= P99_MIN_SAMPLES else None,
                ipis / k,
                works / k,
                pages / k,
                steps,
                ops,
                wall,
                dict(sorted(outcomes.items())),
                tuple(lat),
                at_once,
                runs,
                virtual,
                reclaimed,
            )
            cells.append(cell)
            if progress is not None:
                progress(cell)
    return BenchResult(tuple(cells), runs_per_cell(cells), s.name)


def runs_per_cell(cells: Sequence[BenchCell]) -> int:
    """The most runs any cell took (``BenchResult.seeds``)."""
    return max((c.runs for c in cells), default=0)


def identical_groups(cells: Sequence[BenchCell]) -> list[list[str]]:
    """Designs whose latencies, IPIs and works per call are identical at every CPU count they
    share (a plot draws them on top of each other): groups of two or more, in order."""
    by_design: dict[str, dict[int, tuple[Any, ...]]] = {}
    for c in cells:
        key = (c.latencies_ns, c.ipis_per_call, c.works_per_call)
        by_design.setdefault(c.design, {})[c.cpus] = key
    groups: list[list[str]] = []
    for d, m in by_design.items():
        for g in groups:
            if by_design[g[0]] == m:
                g.append(d)
                break
        else:
            groups.append([d])
    return [g for g in groups if len(g) > 1]
