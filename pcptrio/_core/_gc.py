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


def collect_run_garbage() -> None:
    """Collect the youngest generation now, if the collector is on: what a loop that makes
    many runs calls after each one.  A finished run's engine, machine, actors and their trio
    tasks hold one another in reference cycles, so only the collector frees them.  Collected
    right after the run, while they are still in the CPU caches, they cost about 0.3 ms for a
    small machine; left to :func:`quiet_gc`'s high threshold, dozens of dead runs pile up and
    the same work costs several times as much (measured: 17% of a campaign's time)."""
    if gc.isenabled():
        gc.collect(0)
