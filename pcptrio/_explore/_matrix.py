"""The hazard matrix: every hazard scenario × every design, each cell a campaign.

A cell is ``n/a`` only when the design's protection era rules the scenario out (H1 needs the
preempt-only PCP; remote designs only exist with ``pcp->lock``).  Otherwise the cell's
campaign explores its scenario's default budget (or ``budget``) of schedules and reports
``found`` — with the oracle, the schedules it took, and the shrunk failure's token — or
``not-found`` with the budget searched.  Nothing here knows the expected table: it comes out
of exploration.

Cells run in parallel worker processes (``jobs``); each cell's campaign is sequential and
seeded, so the matrix with the same seed gives identical JSON however the cells were spread.
Wall-clock time is reported on the side, never in the JSON.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .._core import BadInput
from .._drain import DrainDesign, design_names, resolve_design
from .._scenarios import NotApplicable, ScenarioDef, hazard_scenarios, resolve_scenario
from ._campaign import CampaignConfig, explore
from ._run import make_run_spec, token_of
from ._shrink import shrink

__all__ = ["Cell", "MatrixResult", "run_matrix"]


@attrs.frozen
class Cell:
    hazard: str
    scenario: str
    design: str
    verdict: str  # found / not-found / n/a
    schedules: int
    oracle: str | None = None
    kind: str | None = None
    message: str | None = None
    token: str | None = None
    steps: int | None = None
    steps_before: int | None = None
    preemptions: int | None = None
    why: str | None = None

    @property
    def symbol(self) -> str:
        return {"found": "F", "not-found": ".", "n/a": "n/a"}[self.verdict]

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class MatrixResult:
    designs: tuple[str, ...]
    hazards: tuple[tuple[str, str], ...]  # (hazard id, scenario name)
    cells: tuple[Cell, ...]
    seed: int
    scheduler: str
    cpus: int | None

    def cell(self, scenario: str, design: str) -> Cell:
        for c in self.cells:
            if c.scenario == scenario and c.design == design:
                return c
        raise KeyError((scenario, design))

    def to_json(self) -> dict[str, Any]:
        return {
            "designs": list(self.designs),
            "hazards": [{"hazard": h, "scenario": s} for h, s in self.hazards],
            "seed": self.seed,
            "scheduler": self.scheduler,
            "cpus": self.cpus,
            "cells": [c.to_json() for c in self.cells],
        }


def _cell_task(
    scenario: str,
    design: str | DrainDesign,
    params: dict[str, Any],
    budget: int | None,
    seed: int,
    scheduler: str,
    depth: int,
    do_shrink: bool,
    shrink_budget: int,
) -> Cell:
    s = resolve_scenario(scenario)
    hazard = s.hazard or "-"
    try:
        spec = make_run_spec(s, design, params)
    except NotApplicable as exc:
        return Cell(hazard, s.name, resolve_design(design).name, "n/a", 0, why=str(exc))
    cfg = CampaignConfig(
        spec,
        scheduler=scheduler,
        depth=depth,
        schedules=budget or s.schedules,
        seed=seed,
        jobs=1,
    )
    res = explore(cfg)
    if res.failure is None:
        return Cell(hazard, s.name, spec.design.name, "not-found", res.schedules_run)
    f = res.failure
    token, steps, pre = f.token, f.steps, f.preemptions
    if do_shrink:
        sh = shrink(spec, f.decisions, budget=shrink_budget)
        token, steps, pre = token_of(sh.result), sh.steps_after, sh.preemptions_after
    return Cell(
        hazard,
        s.name,
        spec.design.name,
        "found",
        res.schedules_run,
        f.oracle,
        f.kind,
        f.message,
        token,
        steps,
        f.steps,
        pre,
    )


def run_matrix(
    designs: Sequence[str | DrainDesign] | None = None,
    hazards: Sequence[str | ScenarioDef] | None = None,
    *,
    budget: int | None = None,
    seed: int = 0,
    jobs: int | None = None,
    scheduler: str = "portfolio",
    depth: int = 3,
    cpus: int | None = None,
    shrink_failures: bool = True,
    shrink_budget: int = 40,
    progress: Callable[[Cell, int, int], None] | None = None,
) -> MatrixResult:
    """Explore every hazard × design; ``progress(cell, done, total)`` after each cell."""
    ds = [resolve_design(d) for d in (designs or design_names())]
    hs = [resolve_scenario(h) for h in hazards] if hazards else list(hazard_scenarios())
    if budget is not None and budget < 1:
        raise BadInput(f"--budget must be at least 1, got {budget}")
    tasks: list[tuple[str, str | DrainDesign, dict[str, Any]]] = []
    for s in hs:
        params: dict[str, Any] = {}
        if cpus is not None:
            params["cpus"] = max(cpus, s.min_cpus)
        for d in ds:
            name: str | DrainDesign = d.name if d.name in design_names() else d
            tasks.append((s.name, name, params))
    jobs = jobs or os.cpu_count() or 1
    cells: list[Cell | None] = [None] * len(tasks)
    args = (budget, seed, scheduler, depth, shrink_failures, shrink_budget)
    if jobs == 1:
        for i, (s_name, dd, params) in enumerate(tasks):
            cell = cells[i] = _cell_task(s_name, dd, params, *args)
            if progress is not None:
                progress(cell, i + 1, len(tasks))
    else:
        ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futs = {
                pool.submit(_cell_task, s_name, dd, params, *args): i
                for i, (s_name, dd, params) in enumerate(tasks)
            }
            for done, fut in enumerate(cf.as_completed(futs), start=1):
                cell = cells[futs[fut]] = fut.result()
                if progress is not None:
                    progress(cell, done, len(tasks))
    return MatrixResult(
        tuple(d.name for d in ds),
        tuple((s.hazard or "-", s.name) for s in hs),
        tuple(c for c in cells if c is not None),
        seed,
        scheduler,
        cpus,
    )
