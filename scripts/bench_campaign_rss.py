"""End to end: the driver's RSS over a long campaign of a trivial scenario (benchmark, not a
test).  A real campaign runs through the public API (``CampaignConfig`` + ``explore``) on the
local process pool, over the whole budget (``stop_at_first=False``), streaming its records to
a JSONL file as a long campaign does; the driver's VmRSS (``/proc/self/status``) and peak RSS
(``ru_maxrss``) are sampled from the ``progress(done, total)`` callback every ``--every``
schedules done.  The first sample (at >= ``--every`` schedules) is the baseline, so imports,
pool start-up and the campaign's up-front allocations are not counted; the slope is a
least-squares fit over the samples, in MiB per 100K schedules.

The driver is measured (it alone keeps campaign state: the compact store of finished
schedules, the schedule file), and beside it the largest worker's RSS (``worker MiB``; the
local pool keeps its workers for the whole campaign, so garbage a worker fails to free
shows there: before ``collect_run_garbage`` collected the older generations, each worker
grew by about 137 MiB per 100K schedules).

The default scenario, ``rss-trivial`` (one ``drain_all_pages()`` on a one-CPU machine, the
TOML below, written to the temporary directory), runs clean on every design, so no failure
record is kept whole and the campaign runs its whole budget.  Before the campaign, a short
one of ``--calibrate`` schedules with the same settings estimates the total time.

    python scripts/bench_campaign_rss.py [--schedules 1000000] [--jobs 2] [--every 50000]
        [--scenario rss-trivial] [--design remote-6.11] [--param NAME=VALUE ...]
        [--scheduler pct] [--seed 0] [--calibrate 2000] [--out FILE | --no-out] [--keep]
        [--json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import resource
import sys
import tempfile
import time
from typing import Any

import attrs

from pcptrio._explore import CampaignConfig, explore, make_run_spec

TRIVIAL = "rss-trivial"
TRIVIAL_TOML = """\
name = "rss-trivial"
description = "one drain_all_pages() on a one-CPU machine (bench_campaign_rss.py)"
oracles = []
probes = ["drain-called"]
min_cpus = 1

[params]
cpus = 1

[[phases]]
actors = [{ kind = "drain", cpu = 0 }]
"""


def rss_mib() -> float:
    """This process's resident set now (VmRSS), MiB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def workers_mib() -> float:
    """The largest resident set among this process's children (the pool's workers), MiB;
    0 when there are none."""
    best = 0.0
    for children in pathlib.Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                text = pathlib.Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("VmRSS:"):
                    best = max(best, int(line.split()[1]) / 1024)
    return best


def peak_mib() -> float:
    """This process's peak resident set (``ru_maxrss``, KiB on Linux), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of ys over xs; None with fewer than two distinct xs."""
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def parse_params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--param takes NAME=VALUE, got {item!r}")
        try:
            params[name] = json.loads(value)
        except ValueError:
            params[name] = value
    return params


class Sampler:
    """The ``progress`` callback: a sample each time ``done`` reaches the next multiple of
    ``every``, and one at ``done == total``."""

    def __init__(self, every: int, live: bool) -> None:
        self.every = every
        self.live = live
        self.next = every
        self.t0 = time.perf_counter()
        self.samples: list[dict[str, float]] = []

    def __call__(self, done: int, total: int) -> None:
        if done < self.next and not (done == total and done > 0):
            return
        if self.samples and done == self.samples[-1]["done"]:
            return
        while self.next <= done:
            self.next += self.every
        now = time.perf_counter() - self.t0
        s = {
            "done": done,
            "rss_mib": rss_mib(),
            "peak_mib": peak_mib(),
            "worker_mib": workers_mib(),
            "elapsed_s": now,
        }
        prev = self.samples[-1] if self.samples else None
        self.samples.append(s)
        if self.live:
            print(row(s, self.samples[0], prev), flush=True)


HEADER = (
    f"{'schedules':>10}  {'RSS MiB':>8}  {'delta':>7}  {'peak MiB':>8}  "
    f"{'worker MiB':>10}  {'elapsed':>8}  {'sched/s':>8}"
)


def row(s: dict[str, float], base: dict[str, float], prev: dict[str, float] | None) -> str:
    rate = ""
    if prev is not None and s["elapsed_s"] > prev["elapsed_s"]:
        rate = f"{(s['done'] - prev['done']) / (s['elapsed_s'] - prev['elapsed_s']):.0f}"
    return (
        f"{int(s['done']):>10}  {s['rss_mib']:>8.1f}  {s['rss_mib'] - base['rss_mib']:>+7.1f}  "
        f"{s['peak_mib']:>8.1f}  {s['worker_mib']:>10.1f}  {s['elapsed_s']:>7.0f}s  {rate:>8}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--schedules", type=int, default=1_000_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--every", type=int, default=50_000, help="schedules between samples")
    ap.add_argument("--scenario", default=TRIVIAL, help="a scenario name or TOML file")
    ap.add_argument("--design", default="remote-6.11")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--scheduler", default="pct")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--calibrate", type=int, default=2000, help="schedules of the timing run (0: none)"
    )
    ap.add_argument("--out", help="the campaign file (default: one in a temporary directory)")
    ap.add_argument("--no-out", action="store_true", help="stream to no file")
    ap.add_argument("--keep", action="store_true", help="keep the campaign file")
    ap.add_argument("--json", action="store_true", help="print the samples as JSON")
    args = ap.parse_args()
    live = not args.json

    with tempfile.TemporaryDirectory(prefix="pcptrio-rss-") as tmp:
        scenario = args.scenario
        if scenario == TRIVIAL:
            scenario = str(pathlib.Path(tmp) / f"{TRIVIAL}.toml")
            pathlib.Path(scenario).write_text(TRIVIAL_TOML, encoding="utf-8")
        spec = make_run_spec(scenario, args.design, parse_params(args.param))
        cfg = CampaignConfig(
            spec,
            scheduler=args.scheduler,
            schedules=args.schedules,
            seed=args.seed,
            jobs=args.jobs,
            stop_at_first=False,
        )
        out: pathlib.Path | None = None
        if not args.no_out:
            out = pathlib.Path(args.out) if args.out else pathlib.Path(tmp) / "campaign.jsonl"
        if args.keep and out is not None and not args.out:
            out = pathlib.Path(tempfile.mkdtemp(prefix="pcptrio-rss-keep-")) / "campaign.jsonl"
        where = "no file" if out is None else str(out)
        if live:
            print(f"{spec.label}, {cfg.scheduler_label}, jobs {args.jobs}, records to {where}")

        per_s: float | None = None
        if args.calibrate > 0:
            small = attrs.evolve(cfg, schedules=args.calibrate)
            cal = pathlib.Path(tmp) / "calibrate.jsonl" if out is not None else None
            t = time.perf_counter()
            explore(small, out=cal, progress=lambda done, total: None)
            per_s = (time.perf_counter() - t) / args.calibrate
            if cal is not None:
                cal.unlink()
            if live:
                print(
                    f"timing run: {args.calibrate} schedules, {per_s * 1e6:.0f} us/schedule; "
                    f"expected total ~{per_s * args.schedules / 60:.1f} min"
                )

        sampler = Sampler(args.every, live)
        if live:
            print(HEADER, flush=True)
        t0 = time.perf_counter()
        try:
            res = explore(cfg, out=out, progress=sampler)
        finally:
            if out is not None and not args.keep:
                out.unlink(missing_ok=True)
        wall = time.perf_counter() - t0

    samples = sampler.samples
    base = samples[0] if samples else None
    fit = slope([s["done"] / 100_000 for s in samples], [s["rss_mib"] for s in samples])
    summary: dict[str, Any] = {
        "scenario": spec.scenario.name,
        "design": spec.design.name,
        "params": dict(spec.params),
        "scheduler": cfg.scheduler_label,
        "jobs": args.jobs,
        "schedules": args.schedules,
        "out": None if out is None else (str(out) if args.keep else "deleted"),
        "verdict": res.verdict,
        "outcomes": res.outcomes,
        "samples": samples,
        "rss_delta_mib": None if base is None else samples[-1]["rss_mib"] - base["rss_mib"],
        "slope_mib_per_100k": fit,
        "peak_mib": peak_mib(),
        "wall_s": wall,
        "schedules_per_s": res.schedules_run / wall,
        "calibrate_us_per_schedule": None if per_s is None else per_s * 1e6,
    }
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
        return
    print(res.summary())
    print(f"outcomes: {res.outcome_text()}")
    if fit is None:
        print("slope: fewer than two samples (lower --every or raise --schedules)")
    else:
        print(
            f"slope {fit:+.3f} MiB per 100K schedules over {len(samples)} samples "
            f"(RSS {summary['rss_delta_mib']:+.1f} MiB since {int(samples[0]['done'])}); "
            f"peak {summary['peak_mib']:.1f} MiB"
        )
    print(f"wall {wall:.0f} s, {summary['schedules_per_s']:.0f} schedules/s")
    if args.keep and out is not None:
        print(f"campaign file kept: {out}")


if __name__ == "__main__":
    main()
