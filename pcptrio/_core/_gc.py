"""Garbage-collector settings for processes that run many schedules.

A run allocates a trace record per step; CPython's generation-0 threshold (700) then triggers
a young collection every few hundred steps, which costs about a microsecond per actor switch
(measured in ``scripts/bench_engine.py``).  :func:`quiet_gc` raises the threshold for the
duration of a block and restores it after.  The library never calls it on its own: the
process owner (the CLI, a campaign worker, a benchmark) decides.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from collections.abc import Iterator

__all__ = ["collect_run_garbage", "quiet_gc"]


@contextlib.contextmanager
def quiet_gc(threshold0: int = 50_000, *, enabled: bool = True) -> Iterator[None]:
    """Raise the generation-0 GC threshold inside the block (restored afterwards); with
    ``enabled=False`` leave it alone (benchmarks compare both)."""
    if not enabled:
        yield
        return
    old = gc.get_threshold()
    gc.set_threshold(threshold0, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)


#: Every this many calls, :func:`collect_run_garbage` collects the middle generation too,
#: and every ``_FULL_EVERY`` calls all of them.
_MIDDLE_EVERY = 16
_FULL_EVERY = 1024
_calls = itertools.count(1)


def collect_run_garbage() -> None:
    """Collect the youngest generation now, if the collector is on: what a loop that makes
    many runs calls after each one.  A finished run's engine, machine, actors and their trio
    tasks hold one another in reference cycles, so only the collector frees them.  Collected
    right after the run, while they are still in the CPU caches, they cost about 0.3 ms for a
    small machine; left to :func:`quiet_gc`'s high threshold, dozens of dead runs pile up and
    the same work costs several times as much (measured: 17% of a campaign's time).

    Collecting generation 0 by hand keeps its allocation count low, so CPython never reaches
    its own thresholds for the older generations: whatever was alive at one of these
    collections and died later (a chunk's run spec, a batch's trio run loop) was promoted
    and stayed forever — a campaign worker grew by about 137 MiB per 100,000 schedules.  So
    every 16th call collects generation 1 as well, and every 1,024th all of them (a few
    milliseconds, about 1% of a trivial one-CPU schedule's time)."""
    if not gc.isenabled():
        return
    n = next(_calls)
    if n % _FULL_EVERY == 0:
        gc.collect()
    elif n % _MIDDLE_EVERY == 0:
        gc.collect(1)
    else:
        gc.collect(0)
