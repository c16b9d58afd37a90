"""Fingerprint the model: the trace sha256 of many runs, to prove a refactor changed nothing.

Runs every built-in scenario with every design it applies to, under a few seeds of the random
and the PCT scheduler, and prints (or compares with ``--against FILE``) one line per run:
scenario, design, scheduler, seed, outcome, steps and the trace's sha256.  Engine or model work
that must not change behaviour (a module split, a faster step path) runs this before and after:
identical fingerprints mean identical decisions and traces for every run.

    python scripts/trace_fingerprint.py --out before.json
    ... change the engine ...
    python scripts/trace_fingerprint.py --against before.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from pcptrio import BUILTIN_DESIGNS, NotApplicable, PCTScheduler, RandomScheduler
from pcptrio._explore import make_run_spec, run_spec
from pcptrio._scenarios import builtin_scenarios


def fingerprint(seeds: int, cpus: int | None) -> list[dict[str, Any]]:
    out = []
    for s in builtin_scenarios():
        for d in BUILTIN_DESIGNS:
            params = {} if cpus is None else {"cpus": max(cpus, s.min_cpus)}
            try:
                spec = make_run_spec(s, d, params)
            except NotApplicable:
                continue
            for seed in range(seeds):
                for kind in ("random", "pct"):
                    sched = (
                        RandomScheduler(seed)
                        if kind == "random"
                        else PCTScheduler(seed, depth=3, steps_estimate=500)
                    )
                    r = run_spec(spec, sched)
                    out.append(
                        {
                            "run": f"{s.name} x {d.name} {kind}:{seed}",
                            "outcome": str(r.outcome),
                            "steps": r.stats.steps,
                            "sha256": r.trace_sha256,
                        }
                    )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--cpus", type=int, help="CPUs for every run (default: per scenario)")
    ap.add_argument("--out", help="write the fingerprints to this JSON file")
    ap.add_argument("--against", help="compare with a file written by --out")
    args = ap.parse_args()
    t0 = time.perf_counter()
    fp = fingerprint(args.seeds, args.cpus)
    wall = time.perf_counter() - t0
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(fp, fh, indent=1)
    print(f"{len(fp)} runs fingerprinted in {wall:.1f}s")
    if args.against:
        with open(args.against, encoding="utf-8") as fh:
            old = {x["run"]: x for x in json.load(fh)}
        diff = [x for x in fp if old.get(x["run"]) != x]
        for x in diff[:20]:
            print(f"  differs: {x['run']}: {old.get(x['run'])} -> {x}", file=sys.stderr)
        print(f"fingerprint: {len(fp) - len(diff)} passed, {len(diff)} failed")
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
