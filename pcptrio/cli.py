"""The ``pcptrio`` command.  Thin: parse arguments, call the library, print.

Exit codes: 0 = no violation (and the stage was set), 1 = violation found, 2 = bad input
refused before any run (one line on stderr, no traceback), 3 = inconclusive (some run errored
or exhausted its budget, or the scenario never reached its stage), 130 = interrupted.
Every command takes ``--json``.  Output files are written atomically and never replace an
existing file without ``--force``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import trio
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from ._check import ORACLES
from ._core import (
    BadInput,
    Decision,
    Engine,
    Outcome,
    PCTScheduler,
    RandomScheduler,
    ReplayScheduler,
    RunResult,
    Scheduler,
    Violation,
    decode_token,
    encode_token,
)
from ._drain import BUILTIN_DESIGNS, resolve_design
from ._explore import (
    SCHEDULERS,
    CampaignConfig,
    CampaignResult,
    MatrixResult,
    RunSpec,
    ShrinkProgress,
    explore,
    make_run_spec,
    run_bench,
    run_matrix,
    run_spec,
    run_verdict,
    shrink_failure,
    spec_from_token,
    token_of,
)
from ._explore._bench import DEFAULT_CPUS
from ._report import (
    RowCollector,
    configure_logging,
    failure_report,
    perfetto_trace,
    render_table,
    trace_logger,
)
from ._scenarios import NotApplicable, builtin_scenarios, hazard_scenarios, resolve_scenario
from ._version import __version__
from .testing import pytest_snippet

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_BAD_INPUT = 2
EXIT_INCONCLUSIVE = 3
EXIT_INTERRUPTED = 130
_EXIT_OF_VERDICT = {"found": EXIT_FOUND, "not-found": EXIT_OK, "inconclusive": EXIT_INCONCLUSIVE}


class _UsageError(BadInput):
    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(self.prog, message)


# ------------------------------------------------------------------------- helpers


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(text)


def write_file(path: str, content: str | bytes, force: bool) -> None:
    """Write ``content`` to ``path`` atomically; refuse to replace a file without force."""
    p = pathlib.Path(path)
    if p.exists() and not force:
        raise BadInput(f"{p} exists; use --force to replace it")
    parent = p.parent if str(p.parent) else pathlib.Path(".")
    if not parent.is_dir():
        raise BadInput(f"cannot write {p}: directory {parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        data = content.encode("utf-8") if isinstance(content, str) else content
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _params(items: Sequence[str] | None, cpus: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for it in items or []:
        k, sep, v = it.partition("=")
        if not sep or not k:
            raise BadInput(f"--param expects name=value, got {it!r}")
        val: Any = v
        if v.lower() in ("true", "false"):
            val = v.lower() == "true"
        else:
            try:
                val = int(v)
            except ValueError:
                try:
                    val = float(v)
                except ValueError:
                    val = v
        out[k] = val
    if cpus is not None:
        out["cpus"] = cpus
    return out


def _scheduler(args: argparse.Namespace) -> Scheduler:
    if args.scheduler == "pct":
        return PCTScheduler(args.seed, depth=args.depth)
    return RandomScheduler(args.seed, switch_p=args.switch_p)


def _run_json(r: RunResult) -> dict[str, Any]:
    v = r.violation
    verdict, reason = run_verdict(r)
    reached = set(r.extra.get("probes_reached", ()))
    return {
        "outcome": str(r.outcome),
        "verdict": verdict,
        "reason": reason,
        "probes": {p: p in reached for p in r.extra.get("probes", ())},
        "violations": [v.to_json()] if v is not None else [],
        "error": r.error,
        "budget": r.budget,
        "trace_sha256": r.trace_sha256,
        "token": token_of(r),
        "steps": r.stats.steps,
        "stats": {
            "steps": r.stats.steps,
            "switches": r.stats.switches,
            "preemptions": r.stats.preemptions,
            "page_ops": int(r.extra.get("page_ops", 0)),
            "virtual_ns": r.stats.virtual_ns,
            "decisions": r.stats.decisions,
        },
        "scenario": r.extra.get("scenario"),
        "design": r.extra.get("design"),
        "era": r.extra.get("era"),
        "params": r.extra.get("params"),
        "drain_calls": r.extra.get("drain_calls", []),
    }


def _run_text(r: RunResult, report: str | None) -> str:
    lines = [
        f"{r.extra.get('scenario')} × {r.extra.get('design')} ({r.extra.get('era')} era): "
        f"{r.headline}",
        f"  steps {r.stats.steps}, switches {r.stats.switches}, virtual "
        f"{r.stats.virtual_ns / 1000:.1f} µs, page ops {r.extra.get('page_ops', 0)}, "
        f"drain calls {len(r.extra.get('drain_calls', []))}",
        f"  trace sha256 {r.trace_sha256}",
    ]
    probes = r.extra.get("probes", ())
    if probes:
        reached = set(r.extra.get("probes_reached", ()))
        lines.append(
            "  stage probes: "
            + ", ".join(f"{p} {'reached' if p in reached else 'NOT reached'}" for p in probes)
        )
    verdict, reason = run_verdict(r)
    if verdict == "inconclusive":
        lines.append(f"  inconclusive: {reason}")
    if report:
        lines += ["", report]
    else:
        lines.append(f"  replay: pcptrio replay {token_of(r)}")
    if r.outcome is Outcome.ERROR and r.error:
        lines.append(r.error)
    return "\n".join(lines)


def _exit_for(r: RunResult) -> int:
    if r.outcome is Outcome.ERROR and (r.error or "").startswith("replay drift"):
        return EXIT_BAD_INPUT
    return _EXIT_OF_VERDICT[run_verdict(r)[0]]


def _with_rows(spec: Any, r: RunResult) -> tuple[RunResult, RowCollector]:
    """Replay ``r`` with a row collector (state per step for the report and counters)."""
    coll = RowCollector()
    again = run_spec(spec, ReplayScheduler(r.decision_list), observer=coll.attach)
    return again, coll


def _outputs(args: argparse.Namespace, r: RunResult, coll: RowCollector | None) -> None:
    if getattr(args, "trace", None):
        write_file(args.trace, r.trace_jsonl, args.force)
    if getattr(args, "perfetto", None):
        data = perfetto_trace(
            r,
            rows=coll.rows if coll else None,
            zone_names=coll.zone_names if coll else None,
        )
        write_file(args.perfetto, json.dumps(data, sort_keys=True), args.force)


# ------------------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    scen = [s.to_json() for s in builtin_scenarios()]
    designs: list[dict[str, Any]] = [
        {
            "name": d.name,
            "kernel": d.kernel,
            "eras": [str(e) for e in d.eras],
            "commits": list(d.commits),
            "summary": d.summary,
        }
        for d in BUILTIN_DESIGNS
    ]
    oracles = [{"name": n, "description": o.description} for n, o in ORACLES.items()]
    data = {
        "designs": designs,
        "scenarios": scen,
        "oracles": oracles,
        "schedulers": list(SCHEDULERS),
    }
    out = ["Designs:"]
    out.append(
        render_table(
            ["name", "kernel", "eras", "summary"],
            [[d["name"], d["kernel"], "/".join(d["eras"]), d["summary"][:60]] for d in designs],
        )
    )
    out += ["", "Scenarios:"]
    out.append(
        render_table(
            ["name", "hazard", "min cpus", "oracles", "parameters"],
            [
                [
                    s["name"],
                    s["hazard"] or "-",
                    str(s["min_cpus"]),
                    ",".join(s["oracles"]) or "(always-on)",
                    " ".join(f"{k}={v}" for k, v in s["params"].items()),
                ]
                for s in scen
            ],
        )
    )
    out += ["", "Oracles:"]
    out.append(render_table(["name", "judges"], [[o["name"], o["description"]] for o in oracles]))
    out += ["", "Schedulers: " + ", ".join(SCHEDULERS)]
    _emit(args, data, "\n".join(out))
    return EXIT_OK


def _spec(args: argparse.Namespace) -> RunSpec:
    """The run spec of ``run`` and ``explore``: scenario, design, --param and --cpus."""
    try:
        return make_run_spec(
            args.scenario, args.design, _params(args.param, args.cpus), strict=args.strict
        )
    except NotApplicable as exc:
        raise BadInput(f"{args.scenario} × {args.design} is not applicable: {exc}") from None


def cmd_run(args: argparse.Namespace) -> int:
    spec = _spec(args)
    logger = trace_logger() if args.log_level == "debug" else None
    r = run_spec(spec, _scheduler(args), logger=logger)
    coll = None
    report = None
    if r.failed or args.perfetto:
        _, coll = _with_rows(spec, r)
    if r.failed:
        rows = coll.rows if coll else None
        report = failure_report(r, rows=rows, replay_cmd=f"pcptrio replay {token_of(r)}")
    _outputs(args, r, coll)
    _emit(args, _run_json(r), _run_text(r, report))
    return _exit_for(r)


def cmd_replay(args: argparse.Namespace) -> int:
    token = args.token
    if token.startswith("@"):
        try:
            token = pathlib.Path(token[1:]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise BadInput(f"cannot read token file {token[1:]}: {exc}") from None
    spec, decisions = spec_from_token(token)
    coll = RowCollector()
    r = run_spec(
        spec,
        ReplayScheduler(decisions, strict=not args.lenient),
        observer=coll.attach,
        logger=trace_logger() if args.log_level == "debug" else None,
    )
    if r.outcome is Outcome.ERROR and (r.error or "").startswith("replay drift"):
        # The token no longer fits this code: bad input, said once, and no files written.
        raise BadInput(
            f"{r.error}; the token was recorded by other model code "
            "(--lenient follows it where it fits)"
        )
    report = None
    if r.failed:
        report = failure_report(r, rows=coll.rows, replay_cmd=f"pcptrio replay {token}")
    _outputs(args, r, coll)
    _emit(args, _run_json(r), _run_text(r, report))
    return _exit_for(r)


def _progress_bar(
    enabled: bool, label: str
) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    if not enabled:
        return (lambda done, total: None), (lambda: None)
    prog = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    )
    prog.start()
    task = prog.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        prog.update(task, completed=done, total=total)

    return update, prog.stop


def _shrink_bar(enabled: bool) -> tuple[ShrinkProgress | None, Callable[[], None]]:
    """A progress line for shrinking on a TTY (phase, replays done of its budget)."""
    if not enabled:
        return None, lambda: None
    prog = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    )
    prog.start()
    task = prog.add_task("shrinking", total=None)

    def update(phase: str, done: int, total: int) -> None:
        prog.update(task, description=f"shrinking ({phase})", completed=done, total=total)

    return update, prog.stop


def _campaign_lines(res: CampaignResult) -> list[str]:
    """The outcome counts, the probes and, if any, the first error with its token."""
    lines = [f"  outcomes: {res.outcome_text()}"]
    if res.probes:
        lines.append(f"  stage probes reached in: {res.probes_text()}")
    e = res.first_error
    if e is not None:
        lines += [
            f"  first error (schedule #{e.index}): {e.headline}",
            f"    replay: pcptrio replay {e.token}",
        ]
    return lines


def cmd_explore(args: argparse.Namespace) -> int:
    spec = _spec(args)
    out = args.resume or args.out
    if args.out and args.force and pathlib.Path(args.out).exists():
        pathlib.Path(args.out).unlink()
    cfg = CampaignConfig(
        spec,
        scheduler=args.scheduler,
        depth=args.depth,
        switch_p=args.switch_p,
        max_preemptions=args.max_preemptions,
        schedules=args.schedules or spec.scenario.schedules,
        seed=args.seed,
        jobs=args.jobs or os.cpu_count() or 1,
        stop_at_first=not args.all,
    )
    show = sys.stderr.isatty() and not args.quiet and not args.json
    update, stop = _progress_bar(show, spec.label)
    t0 = time.perf_counter()
    try:
        res = explore(cfg, out=out, resume=bool(args.resume), progress=update)
    finally:
        stop()
    wall = time.perf_counter() - t0
    data = res.to_json()
    text = [
        res.summary(),
        f"({wall:.1f}s wall, {res.schedules_run / max(wall, 1e-9):.0f} schedules/s)",
        *_campaign_lines(res),
    ]
    if res.failure is not None:
        f = res.failure
        if not args.no_shrink:
            sbar, sstop = _shrink_bar(show)
            try:
                f = shrink_failure(res, budget=args.shrink_budget, progress=sbar)
            finally:
                sstop()
            sh = f.shrink
            changed = " ".join(f"{k}={v}" for k, v in sh.params_changed.items())
            text.append(
                f"shrunk: {sh.steps_before} -> {sh.steps_after} steps, "
                f"{sh.preemptions_before} -> {sh.preemptions_after} preemptions"
                + (f", workload {changed}" if changed else "")
                + (
                    f"; needs the preemption(s) at step(s) {', '.join(map(str, sh.required_steps))}"
                    if sh.required_steps
                    else ""
                )
            )
            r = sh.result
        else:
            r = run_spec(spec, ReplayScheduler(list(f.decisions)))
        data["failure"] = f.to_json()
        token = f.token
        # The report comes from replaying the printed token: what is shown is what it replays.
        rspec, _ = spec_from_token(token)
        r, coll = _with_rows(rspec, r)
        needed = f.shrink.required_steps if f.shrink is not None else ()
        text[0] = (
            f"{spec.label}: FOUND [{f.oracle}] after {res.schedules_run} "
            f"{cfg.scheduler_label} schedule(s) (schedule #{f.index}): {f.message}"
        )
        text += [
            "",
            failure_report(r, rows=coll.rows, replay_cmd=f"pcptrio replay {token}", needed=needed),
            "",
            "A pytest-trio test that replays it:",
            "",
            pytest_snippet(token, f.oracle, f"{spec.scenario.name}_{spec.design.name}"),
        ]
    _emit(args, data, "\n".join(text))
    return _EXIT_OF_VERDICT[res.verdict]


def _matrix_text(res: MatrixResult) -> str:
    headers = ["hazard", *res.designs]
    rows = []
    for h, s in res.hazards:
        rows.append([f"{h} {s}", *[res.cell(s, d).symbol for d in res.designs]])
    lines = [
        render_table(headers, rows),
        "",
        "F = found, . = not found within the budget (every stage probe reached), "
        "? = inconclusive, E = inconclusive: a schedule errored, "
        "n/a = ruled out by the protection era",
        "",
    ]
    lines.append("Cells:")
    for c in res.cells:
        where = f"  {c.hazard} {c.scenario} × {c.design}"
        if c.verdict == "found":
            lines.append(
                f"{where}: F [{c.oracle}] after {c.schedules} schedule(s); "
                + (
                    f"shrunk {c.steps_before} -> {c.steps} steps"
                    if c.steps != c.steps_before
                    else f"{c.steps} steps"
                )
                + f"\n      {c.message}\n      replay: pcptrio replay {c.token}"
            )
        elif c.verdict == "not-found":
            probes = ", ".join(f"{p} {n}/{c.schedules}" for p, n in c.probes.items())
            lines.append(
                f"{where}: . ({c.schedules} schedules, 0 failures"
                + (f"; stage reached: {probes}" if probes else "")
                + ")"
            )
        elif c.verdict == "inconclusive":
            outcomes = ", ".join(f"{k} {v}" for k, v in c.outcomes.items() if v)
            lines.append(f"{where}: {c.symbol} inconclusive: {c.why} ({outcomes})")
            if c.error:
                lines.append(f"      first error: {c.error}")
                lines.append(f"      replay: pcptrio replay {c.error_token}")
        else:
            lines.append(f"{where}: n/a ({c.why})")
    return "\n".join(lines)


def _split(v: str | None) -> list[str] | None:
    if not v:
        return None
    return [x.strip() for x in v.split(",") if x.strip()]


def cmd_matrix(args: argparse.Namespace) -> int:
    designs = _split(args.designs)
    for d in designs or []:
        resolve_design(d)
    hazards = None
    if args.hazards:
        by_id = {s.hazard.lower(): s.name for s in hazard_scenarios() if s.hazard}
        for s in hazard_scenarios():
            for part in (s.hazard or "").split("/"):
                by_id.setdefault(part.lower(), s.name)
        hazards = [by_id.get(h.lower(), h) for h in _split(args.hazards) or []]
        for h in hazards:
            resolve_scenario(h)
    show = sys.stderr.isatty() and not args.quiet and not args.json
    update, stop = _progress_bar(show, "matrix")
    t0 = time.perf_counter()
    try:
        res = run_matrix(
            designs,
            hazards,
            budget=args.budget,
            seed=args.seed,
            jobs=args.jobs or os.cpu_count() or 1,
            scheduler=args.scheduler,
            depth=args.depth,
            cpus=args.cpus,
            shrink_failures=not args.no_shrink,
            progress=lambda c, done, total: update(done, total),
        )
    finally:
        stop()
    wall = time.perf_counter() - t0
    data = res.to_json()
    if args.out:
        write_file(args.out, json.dumps(data, indent=2, sort_keys=True) + "\n", args.force)
    _emit(args, data, _matrix_text(res) + f"\n\n({len(res.cells)} cells, {wall:.1f}s wall)")
    if any(c.verdict == "inconclusive" for c in res.cells):
        return EXIT_INCONCLUSIVE  # the table as a whole cannot be trusted
    return EXIT_FOUND if any(c.verdict == "found" for c in res.cells) else EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    try:
        cpus = [int(x) for x in _split(args.cpus_list) or []] or list(DEFAULT_CPUS)
    except ValueError:
        raise BadInput(
            f"--cpus-list expects comma-separated integers, got {args.cpus_list!r}"
        ) from None
    for n in cpus:
        if n < 1 or n > 512:
            raise BadInput(f"--cpus-list values must be between 1 and 512, got {n}")
    designs = _split(args.designs)
    for d in designs or []:
        resolve_design(d)
    plt = _pyplot() if args.plot else None  # a missing extra is bad input before the work
    res = run_bench(designs, cpus, seeds=args.seeds, seed=args.seed)
    data = res.to_json()
    rows = [
        [
            c.design,
            str(c.cpus),
            f"{c.latency_p50_us:.1f}",
            f"{c.latency_p99_us:.1f}",
            f"{c.ipis_per_call:.1f}",
            f"{c.works_per_call:.1f}",
            f"{c.pages_per_call:.0f}",
            f"{c.steps / c.wall_s:.0f}" if c.wall_s else "-",
        ]
        for c in res.cells
    ]
    text = render_table(
        ["design", "cpus", "p50 µs", "p99 µs", "IPIs/call", "works/call", "pages/call", "steps/s"],
        rows,
    )
    tp = data["throughput"]
    text += (
        f"\n\nlatency in virtual µs per drain_all_pages() call; emulator throughput "
        f"{tp['steps_per_s']} steps/s, {tp['page_ops_per_s']} page ops/s ({tp['wall_s']}s wall)"
    )
    if plt is not None:
        write_file(args.plot, _plot_png(plt, res), args.force)
        text += f"\nplot written to {args.plot}"
    _emit(args, data, text)
    return EXIT_OK


def _pyplot() -> Any:
    try:
        import matplotlib  # noqa: PLC0415 - optional extra, only for --plot

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415 - optional extra, only for --plot
    except ImportError:
        raise BadInput("--plot needs matplotlib: pip install 'pcptrio[plot]'") from None
    return plt


def _plot_png(plt: Any, res: Any) -> bytes:
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


def cmd_demo(args: argparse.Namespace) -> int:
    """The lost-update demo of the README (the engine alone)."""
    if args.schedules < 1:
        raise BadInput("--schedules must be at least 1")

    def one(sched: Scheduler) -> RunResult:
        engine = Engine(cpus=2, scheduler=sched)
        box = {"n": 0}

        async def inc() -> None:
            for _ in range(args.incs):
                v = box["n"]
                await engine.point("read", counter=v)
                box["n"] = v + 1
                await engine.point("write", counter=v + 1)

        async def main() -> None:
            async with engine.open_nursery() as n:
                n.start_soon(inc, name="cpu0/inc", cpu=0)
                n.start_soon(inc, name="cpu1/inc", cpu=1)
            if box["n"] != 2 * args.incs:
                engine.report_violation(
                    Violation("lost-update", f"counter is {box['n']}, expected {2 * args.incs}")
                )

        return trio.run(engine.run, main)

    for i in range(args.schedules):
        r = one(RandomScheduler(args.seed + i))
        if r.failed:
            token = encode_token({"demo": "lost-update", "incs": args.incs}, r.decision_list)
            print(f"found after {i + 1} schedule(s): {r.headline}")
            for step, _, actor, _, event, fields in r.trace:
                if event in ("read", "write"):
                    print(f"  step {step:3d}  {actor:<9} {event:<5} counter={fields['counter']}")
            decisions: list[Decision] = decode_token(token)[1]
            again = one(ReplayScheduler(decisions))
            print(f"replay token: {token}")
            same = again.trace_sha256 == r.trace_sha256
            print(f"replayed: {again.outcome}, trace identical: {same}")
            return EXIT_FOUND
    print(f"not found: {args.schedules} random schedules, no lost update")
    return EXIT_OK


# ------------------------------------------------------------------------- the parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--log-format", choices=["console", "json"], default="console")
    p.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="warning",
        help="debug also logs every trace step through structlog (stderr)",
    )
    p.add_argument("--force", action="store_true", help="replace existing output files")


def _sched_args(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--scheduler", choices=SCHEDULERS, default=default)
    p.add_argument("--depth", type=int, default=3, help="PCT depth (default 3)")
    p.add_argument("--switch-p", type=float, default=0.2, help="random walk switch probability")
    p.add_argument("--seed", type=int, default=0)


def _scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="a built-in scenario name or a .toml file")
    p.add_argument("--design", required=True, help="a design name or package.module:attr")
    p.add_argument("--cpus", type=int, help="number of CPUs (scenario default otherwise)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="scenario parameter")
    p.add_argument("--strict", action="store_true", help="drain-completeness for every caller")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="pcptrio",
        description=(
            "Deterministic emulation of Linux per-CPU page lists and drain_all_pages(): "
            "explore interleavings, find hazards, replay them bit for bit."
        ),
        epilog=(
            "exit codes: 0 = no violation (stage reached), 1 = violation found, "
            "2 = bad input, 3 = inconclusive (errors, budgets, stage not reached), "
            "130 = interrupted"
        ),
    )
    p.add_argument("--version", action="version", version=f"pcptrio {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("list", help="designs, scenarios (with parameters), oracles, schedulers")
    _common(s)
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("run", help="run one schedule and print its outcome and token")
    _scenario_args(s)
    _sched_args(s, "random")
    s.add_argument("--trace", metavar="OUT.jsonl", help="write the canonical JSONL trace")
    s.add_argument("--perfetto", metavar="OUT.json", help="write a Perfetto/Chrome trace")
    _common(s)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("explore", help="a campaign: many schedules, shrink the first failure")
    _scenario_args(s)
    _sched_args(s, "pct")
    s.add_argument("--schedules", type=int, help="budget (default: the scenario's matrix budget)")
    s.add_argument("--max-preemptions", type=int, default=2, help="dfs preemption bound")
    s.add_argument("--jobs", type=int, help="worker processes (default: number of cores)")
    s.add_argument("--out", metavar="FILE.jsonl", help="stream results to a JSONL file")
    s.add_argument("--resume", metavar="FILE.jsonl", help="continue an interrupted campaign")
    s.add_argument("--all", action="store_true", help="run the whole budget, do not stop")
    s.add_argument("--no-shrink", action="store_true")
    s.add_argument("--shrink-budget", type=int, default=60, help="replays spent shrinking")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    _common(s)
    s.set_defaults(func=cmd_explore)

    s = sub.add_parser("replay", help="rerun a token byte for byte")
    s.add_argument("token", help="a pcptrio1:... token, or @FILE holding one")
    s.add_argument("--lenient", action="store_true", help="do not stop at drift")
    s.add_argument("--trace", metavar="OUT.jsonl")
    s.add_argument("--perfetto", metavar="OUT.json")
    _common(s)
    s.set_defaults(func=cmd_replay)

    s = sub.add_parser("matrix", help="every hazard × every design (the table of hazards.md)")
    s.add_argument("--designs", help="comma-separated designs (default: all)")
    s.add_argument("--hazards", help="comma-separated hazards (ids like H3 or scenario names)")
    s.add_argument("--budget", type=int, help="schedules per cell (default: per scenario)")
    s.add_argument("--cpus", type=int, help="CPUs for every cell (default: per scenario)")
    s.add_argument("--jobs", type=int, help="worker processes (default: number of cores)")
    s.add_argument("--scheduler", choices=SCHEDULERS[:-1], default="portfolio")
    s.add_argument("--depth", type=int, default=3)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-shrink", action="store_true")
    s.add_argument("--out", metavar="FILE.json", help="also write the JSON to a file")
    s.add_argument("--quiet", action="store_true")
    _common(s)
    s.set_defaults(func=cmd_matrix)

    s = sub.add_parser("bench", help="drain latency vs CPU count per design; throughput")
    s.add_argument("--designs", help="comma-separated designs (default: all)")
    s.add_argument("--cpus-list", help="comma-separated CPU counts (default: 2,4,...,64)")
    s.add_argument("--seeds", type=int, default=3)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--plot", metavar="OUT.png", help="latency plot (needs pcptrio[plot])")
    _common(s)
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("demo", help="the engine alone: find and replay a lost update")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--schedules", type=int, default=200)
    s.add_argument("--incs", type=int, default=3)
    s.set_defaults(func=cmd_demo, json=False)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as done:  # --help and --version: argparse printed them
            return int(done.code or 0)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return EXIT_OK
        if hasattr(args, "log_format"):
            configure_logging(args.log_format, args.log_level)
        for name in ("cpus", "schedules", "jobs", "budget", "seeds", "shrink_budget", "incs"):
            v = getattr(args, name, None)
            if v is not None and v < 1:
                raise BadInput(f"--{name.replace('_', '-')} must be at least 1, got {v}")
        if getattr(args, "depth", 1) < 1:
            raise BadInput(f"--depth must be at least 1, got {args.depth}")
        sw = getattr(args, "switch_p", 0.0)
        if not 0.0 <= sw <= 1.0:
            raise BadInput(f"--switch-p must be within [0, 1], got {sw}")
        _check_outputs(args)
        return int(args.func(args))
    except BadInput as exc:
        prog = exc.prog if isinstance(exc, _UsageError) else "pcptrio"
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("pcptrio: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`pcptrio matrix --json | head`): exit quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse existing output files before any work is done (the write checks again)."""
    if getattr(args, "force", False):
        return
    for name in ("trace", "perfetto", "plot", "out"):
        path = getattr(args, name, None)
        if name == "out" and getattr(args, "resume", None):
            continue
        if path and pathlib.Path(path).exists():
            hint = (
                f"use --resume {path} to continue it or --force"
                if name == "out" and (args.func is cmd_explore)
                else "use --force to replace it"
            )
            raise BadInput(f"{path} exists; {hint}")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
