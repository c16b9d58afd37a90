"""Plots (the optional ``pcptrio[plot]`` extra): drain latency against CPU count."""

from __future__ import annotations

import io
from typing import Any

from .._core import BadInput
from .._explore import BenchResult

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


def latency_plot_png(plt: Any, res: BenchResult) -> bytes:
    """The latency-vs-CPUs plot of a bench result, as PNG bytes."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for d in dict.fromkeys(c.design for c in res.cells):
        cs = [c for c in res.cells if c.design == d]
        ax.plot([c.cpus for c in cs], [c.latency_p50_us for c in cs], marker="o", label=d)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("CPUs")
    ax.set_ylabel("drain_all_pages() latency p50 (virtual µs)")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
