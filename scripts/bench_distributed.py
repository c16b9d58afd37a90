"""The distributed paths against the local pool (benchmark, not a test).

One not-found campaign (the whole budget runs) of ``shared-mask-race × wq-4.11``, 4 CPUs,
``--scheduler pct --depth 3``, timed on:

* ``pool``: the local process pool, ``jobs`` workers;
* ``cluster``: a Dask ``LocalCluster`` of ``jobs`` single-threaded worker processes started
  beforehand (``tcp://`` address: what a user's long-lived cluster is), chunks of ~1 s;
* ``cluster+start``: ``--cluster local:N``, starting (and stopping) the cluster in the run;
* ``shards``: ``jobs`` processes of ``--shard k/N --jobs 1`` side by side, then ``merge``.

Then the whole matrix (``--no-shrink``) on the pool and on the started cluster.  The paths
take turns, ``--repeat`` rounds (a slow spell of a shared host then hits all of them); the
table gives the best and the median wall time, schedules/s, and the overhead: the median
over the rounds of the path's time over the pool's time in the same round.  Every path must give the
same answer (verdict, outcome counts), or the script fails.

    python scripts/bench_distributed.py [--schedules 20000] [--jobs 2] [--repeat 3]
        [--no-matrix] [--json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import dask
import distributed  # the dask extra
from _benchutil import explore_argv

from pcptrio._explore import CampaignConfig, explore, make_run_spec, merge_shards, run_matrix


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _answer(res: Any) -> tuple[str, dict[str, int], int]:
    return res.verdict, dict(res.outcomes), res.schedules_run


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--schedules", type=int, default=20_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-matrix", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    spec = make_run_spec("shared-mask-race", "wq-4.11", {"cpus": 4})

    def cfg(**kw: Any) -> CampaignConfig:
        base: dict[str, Any] = {
            "scheduler": "pct",
            "depth": 3,
            "schedules": args.schedules,
            "jobs": args.jobs,
        }
        return CampaignConfig(spec, **{**base, **kw})

    times: dict[str, list[float]] = {}
    answers: dict[str, Any] = {}

    def shards() -> Any:
        with tempfile.TemporaryDirectory() as tmp:
            files = [str(pathlib.Path(tmp) / f"s{k}.jsonl") for k in range(args.jobs)]
            procs = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "pcptrio",
                        *explore_argv(args.schedules, "--shard", f"{k}/{args.jobs}"),
                        *("--out", f, "--quiet", "--json"),
                    ],
                    stdout=subprocess.DEVNULL,
                )
                for k, f in enumerate(files)
            ]
            for p in procs:
                p.wait()
            return _answer(merge_shards(files))

    # A cluster started beforehand, as a user's long-lived one; like the one `local:N`
    # starts, its workers do not run the profiler (a dashboard feature).
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=args.jobs,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
    address = cluster.scheduler_address
    paths: dict[str, Callable[[], Any]] = {
        "pool": lambda: _answer(explore(cfg())),
        "cluster": lambda: _answer(explore(cfg(cluster=address))),
        "cluster+start": lambda: _answer(explore(cfg(cluster=f"local:{args.jobs}"))),
        "shards": shards,
    }
    if not args.no_matrix:
        paths["matrix pool"] = lambda: _matrix(None, args.jobs)
        paths["matrix cluster"] = lambda: _matrix(address, args.jobs)
    try:
        # Round-robin over the paths, so that a slow spell of a shared host is spread
        # over all of them instead of landing on one.
        for rep in range(args.repeat):
            for name, fn in paths.items():
                secs, res = _timed(fn)
                times.setdefault(name, []).append(secs)
                answers[name] = res
                if not args.json:
                    print(f"  [{rep + 1}] {name:<14} {secs:7.2f} s", file=sys.stderr, flush=True)
    finally:
        cluster.close()

    campaign = [k for k in times if not k.startswith("matrix")]
    if len({json.dumps(answers[k], sort_keys=True) for k in campaign}) != 1:
        raise SystemExit(f"the paths disagree: {answers}")
    if "matrix pool" in answers and answers["matrix pool"] != answers["matrix cluster"]:
        raise SystemExit("the matrix differs between the pool and the cluster")

    rows = []
    for name, ts in times.items():
        ref = times["matrix pool" if name.startswith("matrix") else "pool"]
        med = statistics.median(ts)
        rows.append(
            {
                "path": name,
                "best_s": min(ts),
                "median_s": med,
                "schedules_per_s": None if name.startswith("matrix") else args.schedules / med,
                # each round's ratio to the pool's time in that round, then the median: a
                # host that slows down for a while moves both sides of a ratio together
                "overhead": statistics.median(t / r for t, r in zip(ts, ref, strict=True)) - 1,
            }
        )
    if args.json:
        json.dump({"schedules": args.schedules, "jobs": args.jobs, "rows": rows}, sys.stdout)
        print()
        return
    print(
        f"shared-mask-race × wq-4.11, 4 CPUs, pct-3, {args.schedules} schedules (not found), "
        f"{args.jobs} workers, median of {args.repeat}"
    )
    print(f"{'path':<16}{'best s':>8}{'median s':>10}{'sched/s':>9}{'overhead':>10}")
    for r in rows:
        rate = "" if r["schedules_per_s"] is None else f"{r['schedules_per_s']:.0f}"
        print(
            f"{r['path']:<16}{r['best_s']:>8.2f}{r['median_s']:>10.2f}{rate:>9}"
            f"{r['overhead']:>+10.1%}"
        )


def _matrix(cluster: str | None, jobs: int) -> list[tuple[str, str, str]]:
    res = run_matrix(jobs=jobs, shrink_failures=False, cluster=cluster)
    return [(c.scenario, c.design, c.verdict) for c in res.cells]


if __name__ == "__main__":
    main()
