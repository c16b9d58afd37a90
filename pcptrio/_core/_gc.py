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

__all__ = ["quiet_gc"]


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
