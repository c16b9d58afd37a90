"""Oracles by name, and attaching a set of them to a machine."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from .._core import BadInput
from .._kernel import Machine
from ._base import Oracle
from ._oracles import (
    DeadlockOracle,
    DisturbanceBound,
    DrainCompleteness,
    FlushDependency,
    IrqOffBound,
    KernelWarn,
    Liveness,
    Lockup,
    PageConservation,
    PcpExclusive,
    WqWatchdog,
    ZonePrecision,
)
from ._workdebug import WorkDebug

__all__ = ["ALWAYS_ON", "ORACLES", "attach_oracles", "make_oracle", "oracle_names"]

ORACLES: dict[str, type[Oracle]] = {
    o.name: o
    for o in (
        PageConservation,
        PcpExclusive,
        DrainCompleteness,
        DeadlockOracle,
        Liveness,
        Lockup,
        WqWatchdog,
        DisturbanceBound,
        FlushDependency,
        KernelWarn,
        ZonePrecision,
        IrqOffBound,
        WorkDebug,
    )
}

#: The global safety oracles every scenario runs (``docs/hazards.md``), and the
#: design-agnostic kernel debug checks.
ALWAYS_ON = (
    "page-conservation",
    "pcp-exclusive",
    "deadlock",
    "work-debug",
    "kernel-warn",
    "lockup",
)


def oracle_names() -> list[str]:
    return list(ORACLES)


def make_oracle(name: str, **options: Any) -> Oracle:
    cls = ORACLES.get(name)
    if cls is None:
        close = difflib.get_close_matches(name, list(ORACLES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise BadInput(f"unknown oracle {name!r}{hint} (known: {', '.join(ORACLES)})")
    return cls(**options)


def attach_oracles(
    m: Machine, names: Iterable[str], options: dict[str, dict[str, Any]] | None = None
) -> list[Oracle]:
    """Attach the always-on oracles plus ``names`` (each once, in a stable order)."""
    options = options or {}
    wanted: list[str] = []
    for n in (*ALWAYS_ON, *names):
        if n not in wanted:
            wanted.append(n)
    out = []
    for n in wanted:
        o = make_oracle(n, **options.get(n, {}))
        o.attach(m)
        out.append(o)
    return out
