"""The hazard matrix: every hazard scenario × every design, each cell a campaign.

A cell is ``n/a`` only when the design's protection era rules the scenario out (H1 needs the
preempt-only PCP; remote designs only exist with ``pcp->lock``).  Otherwise the cell's
campaign explores its scenario's default budget (or ``budget``) of schedules and reports
``found`` — with the oracle, the schedules it took, and the shrunk failure's token — or
``not-found`` with the budget searched.  Nothing here knows the expected table: it comes out
of exploration.

Cells run in parallel worker processes (``jobs``, at most ``MAX_JOBS`` and never more than
there are cells; workers die with the matrix's process); each cell's campaign is sequential
and seeded, so the matrix with the same seed gives identical JSON however the cells were
spread.  Wall-clock time is reported on the side, never in the JSON.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .._core import BadInput
from .._drain import DrainDesign, design_names, design_ref, resolve_design
from .._scenarios import (
    NotApplicable,
    ScenarioDef,
    hazard_scenarios,
    resolve_scenario,
)
from ._campaign import CampaignConfig, CampaignResult, code_fingerprint
from ._cluster import check_cluster
from ._journal import MatrixJournal
from ._run import make_run_spec, run_timeout_here
from ._spread import spread
from ._workers import check_jobs

__all__ = ["Cell", "MatrixResult", "merge_matrix", "run_matrix"]


@attrs.frozen
class Cell:
    """One hazard × design cell.  ``verdict`` is ``found``, ``not-found``, ``inconclusive``
    (``why`` says why: errors, exhausted budgets, a stage probe never reached) or ``n/a``.
    A found cell's oracle, kind, message and steps come from replaying its ``token``."""

    hazard: str
    scenario: str
    design: str
    verdict: str
    schedules: int
    oracle: str | None = None
    kind: str | None = None
    message: str | None = None
    token: str | None = None
    steps: int | None = None
    steps_before: int | None = None
    preemptions: int | None = None
    why: str | None = None
    outcomes: dict[str, int] = attrs.field(factory=dict)
    probes: dict[str, int] = attrs.field(factory=dict)
    error: str | None = None
    error_token: str | None = None
    cpus: int | None = None

    @property
    def symbol(self) -> str:
        """``F`` found, ``.`` not found, ``E`` inconclusive with an errored schedule, ``?``
        inconclusive otherwise, ``n/a`` ruled out by the protection era."""
        if self.verdict == "inconclusive":
            return "E" if self.outcomes.get("error") else "?"
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
    #: ``(K, N)`` of a sharded run (``run_matrix(shard=...)``): its cells are the tasks
    #: ``i % N == K`` of the hazards × designs list; ``merge_matrix`` joins the N results.
    shard: tuple[int, int] | None = None
    #: How each cell was searched (budget, PCT depth, shrinking): shards merge only if equal.
    search: dict[str, Any] = attrs.field(factory=dict)
    #: What resuming a journal had to say (lines dropped, cells run again); not in the JSON.
    notes: tuple[str, ...] = ()

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
            "code": code_fingerprint(),
            "search": dict(self.search),
            **({"shard": list(self.shard)} if self.shard is not None else {}),
        }


def _cell_of(hazard: str, scenario: str, res: CampaignResult, steps_before: int | None) -> Cell:
    """The cell of a complete campaign (``steps_before``: its failure's steps before
    shrinking, when it was shrunk)."""
    spec = res.config.spec
    common: dict[str, Any] = {
        "outcomes": dict(res.outcomes),
        "probes": dict(res.probes),
        "cpus": int(spec.params["cpus"]),
    }
    if res.first_error is not None:
        common["error"] = res.first_error.headline
        common["error_token"] = res.first_error.token
    f = res.failure
    if f is None:
        verdict, why = res.verdict, res.reason
        if res.timed_out:  # a budget cut short is never a "."
            verdict = "inconclusive"
            why = (
                f"the time budget ran out after {res.schedules_run} of "
                f"{res.config.schedules} schedules"
            )
        return Cell(
            hazard, scenario, spec.design.name, verdict, res.schedules_run, why=why, **common
        )
    return Cell(
        hazard,
        scenario,
        spec.design.name,
        "found",
        res.schedules_run,
        f.oracle,
        f.kind,
        f.message,
        f.token,
        f.steps,
        steps_before if steps_before is not None else f.steps,
        f.preemptions,
        why=(
            "the time budget ran out before every lower schedule ran: a lower failing "
            "schedule may exist"
            if res.timed_out
            else None
        ),
        **common,
    )


def _journaled_cell(data: dict[str, Any], meta: tuple[str, str, str]) -> Cell | None:
    """A cell result read back from a journal, None if it is damaged or not this cell's."""
    try:
        cell = Cell(**data)
    except TypeError:
        return None
    if (cell.hazard, cell.scenario, cell.design) != meta:
        return None
    if type(cell.schedules) is not int or cell.schedules < 0:
        return None
    if not all(isinstance(d, dict) for d in (cell.outcomes, cell.probes)):
        return None
    texts = (cell.oracle, cell.kind, cell.message, cell.why, cell.error, cell.error_token)
    if not all(t is None or isinstance(t, str) for t in texts):
        return None
    if cell.verdict == "found":
        ok = isinstance(cell.token, str) and isinstance(cell.oracle, str)
        return cell if ok else None
    return cell if cell.verdict in ("not-found", "inconclusive", "n/a") else None


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
    run_timeout_s: float | None = None,
    shard: tuple[int, int] | None = None,
    cluster: str | None = None,
    time_budget_s: float | None = None,
    journal: str | os.PathLike[str] | None = None,
    resume: bool = False,
    replace: bool = False,
) -> MatrixResult:
    """Explore every hazard × design; ``progress(cell, done, total)`` after each cell.

    ``jobs`` worker processes (default: one per CPU; at most ``MAX_JOBS``) run the cells;
    ``run_timeout_s`` guards every run against a hang (0: unguarded; None: the
    ``run_timeout()`` around the call, if any).  ``journal``: stream what is done to that
    JSON Lines file (refused if it exists, unless ``replace``); with ``resume``, continue
    the run it records (the same settings), running only what it lacks."""
    ds = [resolve_design(d) for d in (designs or design_names())]
    hs = [resolve_scenario(h) for h in hazards] if hazards else list(hazard_scenarios())
    if budget is not None and budget < 1:
        raise BadInput(f"--budget must be at least 1, got {budget}")
    # Designs travel to worker processes as references (a built-in's name, a user design's
    # ``module:attr``), never as pickled objects: a copy is another object, and would be
    # registered twice under one name.
    refs = [design_ref(d) for d in ds]
    tasks: list[tuple[ScenarioDef, str, str, dict[str, Any]]] = []  # (s, ref, design, params)
    for s in hs:
        params: dict[str, Any] = {}
        if cpus is not None:
            params["cpus"] = max(cpus, s.min_cpus)
        for ref, d in zip(refs, ds, strict=True):
            tasks.append((s, ref, d.name, params))
    if shard is not None:
        k, n = shard
        if not (n >= 1 and 0 <= k < n):
            raise BadInput(f"a shard is K/N with 0 <= K < N, got {k}/{n}")
        tasks = [t for i, t in enumerate(tasks) if i % n == k]
    # (hazard, scenario, design) of each task
    meta = [(s.hazard or "-", s.name, dn) for s, _, dn, _ in tasks]
    if time_budget_s is not None and not time_budget_s > 0:
        raise BadInput(f"the time budget must be positive, got {time_budget_s}")
    jobs = jobs or os.cpu_count() or 1
    check_jobs(jobs)
    guard = run_timeout_here(run_timeout_s)  # resolved here: workers do not see the context
    if resume and journal is None:
        raise BadInput("resume= needs the journal= to continue")
    cells: list[Cell | None] = [None] * len(tasks)
    cfgs: list[CampaignConfig] = []
    where: list[int] = []  # the task of each campaign
    search = {
        "budget": budget,
        "depth": depth,
        "shrink_failures": shrink_failures,
        "shrink_budget": shrink_budget,
    }
    # Every cell's campaign is built (and so checked) before the journal is opened: a run
    # refused for its settings leaves no journal behind.
    prepared: list[CampaignConfig | Cell] = []
    for i, (s, ref, _, params) in enumerate(tasks):
        try:
            spec = make_run_spec(s, ref, params)
        except NotApplicable as exc:
            prepared.append(Cell(meta[i][0], s.name, meta[i][2], "n/a", 0, why=str(exc)))
            continue
        cfg = CampaignConfig(
            spec,
            scheduler=scheduler,
            depth=depth,
            schedules=budget or s.schedules,
            seed=seed,
            jobs=1,
            run_timeout_s=guard,
        )
        prepared.append(cfg.validate())
    if cluster is not None:
        check_cluster(cluster)
    jr = None
    if journal is not None:
        header = {
            "designs": refs,
            "hazards": [s.name if s.builtin else s.data for s in hs],
            "seed": seed,
            "scheduler": scheduler,
            "cpus": cpus,
            "shard": list(shard) if shard is not None else None,
            "search": search,
            "code": sorted({code_fingerprint(r) for r in refs}),
        }
        jr = MatrixJournal(
            pathlib.Path(journal), header, len(tasks), resume=resume, replace=replace
        )
    notes = list(jr.notes) if jr is not None else []

    def record(i: int, cell: Cell, journal_it: bool = True) -> None:
        cells[i] = cell
        if jr is not None and journal_it:
            jr.result(i, cell.to_json())
        if progress is not None:
            progress(cell, sum(c is not None for c in cells), len(tasks))

    try:
        for i, item in enumerate(prepared):
            if jr is not None and i in jr.results:
                # the last readable result of the cell (a damaged one is run again, and the
                # new result comes after it)
                readable = (_journaled_cell(d, meta[i]) for d in reversed(jr.results[i]))
                kept = next((c for c in readable if c is not None), None)
                if kept is not None:
                    record(i, kept, journal_it=False)
                    continue
                notes.append(f"{journal}: cell {i} had a damaged result; it runs again")
            if isinstance(item, Cell):
                record(i, item)
            else:
                cfgs.append(item)
                where.append(i)

        def done(j: int, res: CampaignResult, steps_before: int | None) -> None:
            i = where[j]
            # a cell the time budget cut short is not finished: its schedules are in the
            # journal, and a resume runs the rest
            record(i, _cell_of(meta[i][0], meta[i][1], res, steps_before), not res.timed_out)

        more: dict[str, Any] = {}
        if jr is not None:
            jr_ = jr
            more["resumed"] = [jr_.records.get(i, []) for i in where]
            more["on_record"] = lambda j, rec: jr_.record(where[j], rec)
        spread(
            cfgs,
            done,
            jobs=jobs,
            cluster=cluster,
            shrink_budget=shrink_budget if shrink_failures else 0,
            time_budget_s=time_budget_s,
            **more,
        )
        for i, c in enumerate(cells):
            if c is None:  # never started: the time budget ran out first
                hz, sc, dn = meta[i]
                why = "not run: the time budget ran out"
                cells[i] = Cell(hz, sc, dn, "inconclusive", 0, why=why)
    finally:
        if jr is not None:
            jr.close()
    return MatrixResult(
        tuple(d.name for d in ds),
        tuple((s.hazard or "-", s.name) for s in hs),
        tuple(c for c in cells if c is not None),
        seed,
        scheduler,
        cpus,
        shard,
        search,
        tuple(notes),
    )


def merge_matrix(paths: Sequence[str | os.PathLike[str]]) -> MatrixResult:
    """Join the JSON results of the N shards of one ``run_matrix`` (``--shard K/N``) into the
    whole matrix; refuses results of different runs (designs, hazards, seed, scheduler, CPU
    count, search settings or pcptrio code) and sets that are not exactly the N shards."""
    results: list[dict[str, Any]] = []
    for p in paths:
        try:
            data = json.loads(pathlib.Path(p).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise BadInput(f"{p}: not a readable matrix result ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
            raise BadInput(f"{p}: not a `pcptrio matrix --out` result")
        results.append(data)
    keys = ("designs", "hazards", "seed", "scheduler", "cpus", "code", "search")
    for p, d in zip(paths, results, strict=True):
        differ = [k for k in keys if d.get(k) != results[0].get(k)]
        if differ:
            raise BadInput(f"{p} is a shard of a different matrix run ({', '.join(differ)})")
    shards = [tuple(d.get("shard") or ()) for d in results]
    if any(len(sh) != 2 for sh in shards) or len({sh[1] for sh in shards}) != 1:
        raise BadInput("merge takes the results of `matrix --shard K/N` runs of one split")
    n = shards[0][1]
    ks = sorted(sh[0] for sh in shards)
    if ks != list(range(n)):
        missing = sorted(set(range(n)) - set(ks))
        raise BadInput(
            f"merge needs each of the {n} shards once: "
            + (f"missing {', '.join(f'{k}/{n}' for k in missing)}" if missing else "a shard twice")
        )
    first = results[0]
    order = [(h["scenario"], d) for h in first["hazards"] for d in first["designs"]]
    by_key = {(c["scenario"], c["design"]): c for d in results for c in d["cells"]}
    if set(by_key) != set(order):
        raise BadInput("the shards' cells do not make up the matrix their headers describe")
    return MatrixResult(
        tuple(first["designs"]),
        tuple((h["hazard"], h["scenario"]) for h in first["hazards"]),
        tuple(Cell(**by_key[k]) for k in order),
        first["seed"],
        first["scheduler"],
        first["cpus"],
        search=dict(first.get("search") or {}),
    )
