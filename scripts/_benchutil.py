"""Shared by the benchmark scripts (run as ``python scripts/bench_*.py``)."""

from __future__ import annotations

import statistics
from typing import Any


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Repetitions of one measurement: floats become median/min/max; other values are kept
    once when every repetition agrees, else as the list."""
    out: dict[str, Any] = {}
    for key in samples[0]:
        vals = [s[key] for s in samples]
        if isinstance(vals[0], float):
            out[key] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
        else:
            out[key] = vals[0] if len(set(vals)) == 1 else vals
    return out


def explore_argv(schedules: int, *extra: str) -> list[str]:
    """The ``pcptrio`` arguments of the benchmark campaign (``bench_targets``' explore target,
    ``bench_distributed``'s shards): ``shared-mask-race × wq-4.11``, 4 CPUs, PCT of depth 3,
    one job, then ``extra``."""
    return [
        "explore", "shared-mask-race", "--design", "wq-4.11", "--cpus", "4",
        "--scheduler", "pct", "--depth", "3", "--schedules", str(schedules), "--jobs", "1",
        *extra,
    ]  # fmt: skip
