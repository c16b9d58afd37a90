"""Check the expected hazard matrix beyond seed 0: every cell x campaign seeds x CPU counts.

The README's matrix (and the default test suite) pins seed 0 at each scenario's default CPU
count.  This script runs every cell of ``tests/expected_matrix.py`` -- the single source of
truth, loaded from its file -- as one campaign per (scenario, design, seed, cpus), the
campaign ``tests/test_explore.py``'s slow test runs::

    spec = make_run_spec(scenario, design, {"cpus": cpus})
    explore(CampaignConfig(spec, scheduler="portfolio", seed=seed,
                           schedules=spec.scenario.schedules))

(the same answer, chunk boundaries never changing a result; not shrunk).

A cell matches when

* it expects ``F``: the verdict is ``"found"`` and the failure's oracle is one of
  ``ORACLES[scenario]``;
* it expects ``.``: the verdict is ``"not-found"`` (any other verdict, e.g. an
  ``"inconclusive"`` campaign, is a mismatch: it did not search what it was asked to);
* it expects ``n/a``: ``make_run_spec`` raises ``NotApplicable``.

A CPU count below a scenario's ``min_cpus`` runs at ``min_cpus`` instead (drain-storm and
offline-during-drain need 3): the cell is still checked on the smallest machine it can be
built on, which is a CPU count the seed-0 matrix (4 CPUs) does not cover.  Two requested
counts that land on the same machine run once.

All the campaigns (cells x seeds x CPU counts) are spread in chunks of schedules over one
pool of worker processes, as ``pcptrio matrix`` spreads its cells (``run_campaigns``): the
next chunk goes to the campaign with the fewest in flight, so no slow campaign straggles at
the end; ``--cluster`` runs them on Dask instead.  A campaign's seconds are the time its
chunks ran.  A campaign that raises (a bug in pcptrio, not a design's exception, which is
an ``error`` outcome) ends the whole check with its traceback.  Each finished campaign
prints a progress line on stderr.  The end is a table
(one row per scenario, ``F``/``.``/``n/a`` where every run matched, ``F!k`` where k runs
did not), the slowest cells and campaigns, the mismatches with each campaign's summary, and
the wall time (``--json``: the same as data on stdout).  Exit 0 when every run matched, 1 otherwise.

    python scripts/check_matrix.py [--seeds 1,2] [--cpus 2,4,8] [--jobs N]
        [--cluster local:N|tcp://HOST:8786] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import sys
import time
from types import ModuleType
from typing import Any

import attrs

from pcptrio import (
    CampaignConfig,
    CampaignResult,
    NotApplicable,
    make_run_spec,
    resolve_scenario,
)
from pcptrio._explore._spread import spread

_EXPECTED_FILE = pathlib.Path(__file__).resolve().parent.parent / "tests" / "expected_matrix.py"


def _load_expected() -> ModuleType:
    """tests/expected_matrix.py by path (tests/ is not a package the library installs)."""
    spec = importlib.util.spec_from_file_location("expected_matrix", _EXPECTED_FILE)
    if spec is None or spec.loader is None:
        raise SystemExit(f"check_matrix: cannot load the expected matrix from {_EXPECTED_FILE}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_expected = _load_expected()
DESIGNS: tuple[str, ...] = _expected.DESIGNS
EXPECTED: dict[str, tuple[str, ...]] = _expected.EXPECTED
ORACLES: dict[str, set[str]] = _expected.ORACLES


@attrs.frozen
class Task:
    """One campaign: a matrix cell under one seed on one machine size."""

    scenario: str
    design: str
    expected: str  # "F", "." or "n/a"
    seed: int
    cpus: int  # the machine the campaign runs on
    asked: tuple[int, ...]  # the --cpus values it stands for (cpus, or below min_cpus)
    cost: float  # relative size estimate, for packing only

    @property
    def label(self) -> str:
        asked = ""
        if self.asked != (self.cpus,):
            asked = f" (for --cpus {','.join(map(str, self.asked))}: min_cpus is {self.cpus})"
        return f"{self.scenario} x {self.design} seed={self.seed} cpus={self.cpus}{asked}"


@attrs.frozen
class Outcome:
    """What one campaign gave, judged against the expected cell."""

    task: Task
    verdict: str  # the campaign's verdict, "n/a" (NotApplicable) or "error"
    oracle: str | None
    summary: str
    seconds: float
    ok: bool

    def to_json(self) -> dict[str, Any]:
        t = self.task
        return {
            "scenario": t.scenario,
            "design": t.design,
            "expected": t.expected,
            "seed": t.seed,
            "cpus": t.cpus,
            "asked_cpus": list(t.asked),
            "verdict": self.verdict,
            "oracle": self.oracle,
            "summary": self.summary,
            "seconds": round(self.seconds, 3),
            "ok": self.ok,
        }


def matches(scenario: str, expected: str, verdict: str, oracle: str | None) -> bool:
    """The rule of the module docstring; compares the verdict string, never ``failure``."""
    if expected == "F":
        return verdict == "found" and oracle in ORACLES[scenario]
    if expected == ".":
        return verdict == "not-found"
    return expected == "n/a" and verdict == "n/a"


def plan(seeds: list[int], cpus: list[int]) -> list[Task]:
    """Every cell x seed x machine size, largest estimated cost first.

    The estimate is budget x CPUs (a run's steps grow with the CPU count), halved for ``F``
    cells, which stop at their first failure; ``n/a`` cells cost nothing."""
    tasks = []
    for scenario, row in EXPECTED.items():
        sdef = resolve_scenario(scenario)
        machines: dict[int, list[int]] = {}
        for c in cpus:
            machines.setdefault(max(c, sdef.min_cpus), []).append(c)
        for design, expected in zip(DESIGNS, row, strict=True):
            for seed in seeds:
                for m, asked in machines.items():
                    cost = 0.0 if expected == "n/a" else sdef.schedules * m
                    if expected == "F":
                        cost /= 2
                    tasks.append(Task(scenario, design, expected, seed, m, tuple(asked), cost))
    tasks.sort(key=lambda t: (-t.cost, t.scenario, t.design, t.seed, t.cpus))
    return tasks


def run_all(tasks: list[Task], jobs: int, cluster: str | None = None) -> list[Outcome]:
    """Run ``tasks`` as one set of campaigns spread in chunks over ``jobs`` worker processes
    (or the Dask ``cluster``), printing one line per finished campaign."""
    out: list[Outcome] = []
    width = len(str(len(tasks)))

    def emit(o: Outcome) -> None:
        out.append(o)
        mark = "ok      " if o.ok else "MISMATCH"
        got = o.verdict + (f" [{o.oracle}]" if o.oracle else "")
        print(
            f"[{len(out):>{width}}/{len(tasks)}] {mark} {o.task.label}: "
            f"expected {o.task.expected}, got {got} ({o.seconds:.1f}s)",
            file=sys.stderr,
            flush=True,
        )

    cfgs: list[CampaignConfig] = []
    owners: list[Task] = []
    for t in tasks:
        try:
            spec = make_run_spec(t.scenario, t.design, {"cpus": t.cpus})
        except NotApplicable as exc:
            emit(
                Outcome(t, "n/a", None, str(exc), 0.0, matches(t.scenario, t.expected, "n/a", None))
            )
            continue
        cfgs.append(
            CampaignConfig(
                spec, scheduler="portfolio", seed=t.seed, schedules=spec.scenario.schedules
            )
        )
        owners.append(t)

    def done(j: int, res: CampaignResult, _steps_before: int | None) -> None:
        t = owners[j]
        oracle = res.failure.oracle if res.failure is not None else None
        ok = matches(t.scenario, t.expected, res.verdict, oracle)
        emit(Outcome(t, res.verdict, oracle, res.summary(), res.search_s or 0.0, ok))

    spread(cfgs, done, jobs=jobs, cluster=cluster, shrink_budget=0)
    return out


def _table(outcomes: list[Outcome]) -> str:
    bad: dict[tuple[str, str], int] = {}
    for o in outcomes:
        key = (o.task.scenario, o.task.design)
        bad[key] = bad.get(key, 0) + (not o.ok)
    names = list(EXPECTED)
    w0 = max(len("scenario"), *map(len, names))
    widths = [max(len(d), 6) for d in DESIGNS]
    lines = [
        "  ".join(
            ["scenario".ljust(w0), *(d.ljust(w) for d, w in zip(DESIGNS, widths, strict=True))]
        ),
        "  ".join(["-" * w0, *("-" * w for w in widths)]),
    ]
    for s in names:
        row = []
        for d, exp, w in zip(DESIGNS, EXPECTED[s], widths, strict=True):
            k = bad.get((s, d), 0)
            row.append((exp if k == 0 else f"{exp}!{k}").ljust(w))
        lines.append("  ".join([s.ljust(w0), *row]).rstrip())
    return "\n".join(lines)


def report(outcomes: list[Outcome], seeds: list[int], cpus: list[int], wall: float) -> str:
    mism = [o for o in outcomes if not o.ok]
    slow = sorted(outcomes, key=lambda o: -o.seconds)[:10]
    per_cell: dict[tuple[str, str], list[float]] = {}
    for o in outcomes:
        per_cell.setdefault((o.task.scenario, o.task.design), []).append(o.seconds)
    slow_cells = sorted(per_cell.items(), key=lambda kv: -sum(kv[1]))[:10]
    cells = len(DESIGNS) * len(EXPECTED)
    lines = [
        f"Expected matrix, seeds {','.join(map(str, seeds))} x --cpus "
        f"{','.join(map(str, cpus))} (X = expected verdict held in every run; "
        "X!k = k runs did not):",
        "",
        _table(outcomes),
        "",
        "Slowest cells (seconds summed over their campaigns):",
        *(f"  {sum(t):7.1f}s  {s} x {d} ({len(t)} campaigns)" for (s, d), t in slow_cells),
        "Slowest campaigns:",
        *(f"  {o.seconds:7.1f}s  {o.task.label}: {o.verdict}" for o in slow),
        "",
    ]
    if mism:
        lines.append(f"{len(mism)} mismatch(es):")
        for o in sorted(mism, key=lambda o: (o.task.scenario, o.task.design, o.task.seed)):
            lines.append(f"  {o.task.label}: expected {o.task.expected}, got {o.verdict}")
            lines.append(f"    {o.summary}")
    else:
        lines.append("No mismatches: every run gave the expected verdict.")
    cpu_time = sum(o.seconds for o in outcomes)
    lines.append(
        f"({len(outcomes)} campaigns over {cells} cells, {cpu_time:.1f}s in campaigns, "
        f"{wall:.1f}s wall)"
    )
    # The plain closing line CI reads: one campaign = one check.
    lines.append(f"check_matrix: {len(outcomes) - len(mism)} passed, {len(mism)} failed")
    return "\n".join(lines)


def _int_list(text: str) -> list[int]:
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers like 1,2, got {text!r}"
        ) from None
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return vals


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=_int_list, default=[1, 2], help="campaign seeds (1,2)")
    ap.add_argument("--cpus", type=_int_list, default=[2, 4, 8], help="CPU counts (2,4,8)")
    ap.add_argument("--jobs", type=int, help="worker processes (default: one per core)")
    ap.add_argument(
        "--cluster", help="run on Dask instead: local:N or tcp://HOST:8786 (pcptrio[dask])"
    )
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = ap.parse_args(argv)
    if args.jobs is not None and args.cluster is not None:
        ap.error("--jobs is for the local pool; --cluster runs on the cluster's workers")
    if args.jobs is None:
        args.jobs = os.cpu_count() or 1
    if args.jobs < 1:
        ap.error(f"--jobs must be at least 1, got {args.jobs}")
    if min(args.cpus) < 1:
        ap.error(f"--cpus values must be at least 1, got {args.cpus}")
    seeds: list[int] = list(dict.fromkeys(args.seeds))
    cpus: list[int] = list(dict.fromkeys(args.cpus))

    t0 = time.perf_counter()
    tasks = plan(seeds, cpus)
    print(
        f"check_matrix: {len(tasks)} campaigns on {args.jobs} worker(s)",
        file=sys.stderr,
        flush=True,
    )
    outcomes = run_all(tasks, args.jobs, args.cluster)
    wall = time.perf_counter() - t0
    outcomes.sort(key=lambda o: (o.task.scenario, o.task.design, o.task.seed, o.task.cpus))
    ok = all(o.ok for o in outcomes)
    if args.json:
        doc = {
            "seeds": seeds,
            "cpus": cpus,
            "jobs": args.jobs,
            "wall_seconds": round(wall, 3),
            "ok": ok,
            "mismatches": sum(not o.ok for o in outcomes),
            "results": [o.to_json() for o in outcomes],
        }
        print(json.dumps(doc, indent=2))
    else:
        print(report(outcomes, seeds, cpus, wall))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
