"""Plots (the optional ``pcptrio[plot]`` extra): drain latency against CPU count, with its
spread, and the IPIs and works per call."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from .._core import BadInput
from .._explore import BenchResult, identical_groups

__all__ = ["latency_plot_png", "require_pyplot"]


def require_pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, or BadInput naming the extra to install."""
    try:
        import matplotlib  # noqa: PLC0415 - optional extra, only for --plot

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415 - optional extra, only for --plot
    except ImportError:
        raise BadInput("--plot needs matplotlib: pip install 'pcptrio[plot]'") from None
    return plt


def _pct(xs: Sequence[int], q: float) -> float:
    s = sorted(xs)
    return float(s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]) if s else 0.0


def latency_plot_png(plt: Any, res: BenchResult) -> bytes:
    """The bench plot as PNG bytes: drain latency against CPUs (median line, p10–p90 band,
    max as dots; log-scaled axes) and the IPIs and works each call used.  Designs identical
    in every measure are drawn once and named together in the legend."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    same = {g[0]: g for g in identical_groups(res.cells)}
    hidden = {d for g in same.values() for d in g[1:]}
    for d in dict.fromkeys(c.design for c in res.cells):
        if d in hidden:
            continue
        label = " = ".join(same.get(d, [d]))
        cs = [c for c in res.cells if c.design == d]
        xs = [c.cpus for c in cs]
        lo = [_pct(c.latencies_ns, 0.1) / 1000 for c in cs]
        hi = [_pct(c.latencies_ns, 0.9) / 1000 for c in cs]
        (line,) = ax.plot(xs, [c.latency_p50_us for c in cs], marker="o", label=label)
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2)
        ax.scatter(xs, [c.latency_max_us for c in cs], color=line.get_color(), marker="^", s=12)
        per_call = [c.ipis_per_call + c.works_per_call for c in cs]
        ax2.plot(xs, per_call, marker="o", color=line.get_color(), label=label)
    cpus = sorted({c.cpus for c in res.cells})
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(cpus, [str(n) for n in cpus])
    ax.set_xlabel("CPUs")
    ax.set_ylabel("drain_all_pages() latency (virtual µs)\nline p50, band p10–p90, ▲ max")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    ax2.set_xscale("log", base=2)
    ax2.set_xticks(cpus, [str(n) for n in cpus])
    ax2.set_xlabel("CPUs")
    if res.scenario:
        fig.suptitle(f"pcptrio bench, scenario {res.scenario}", fontsize=10)
    ax2.set_ylabel("IPIs + works per call")
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
