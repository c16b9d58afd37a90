"""The ``pcptrio`` command.  Thin: parse arguments, call the library, print.

Exit codes: 0 = no violation (and the stage was set), 1 = violation found, 2 = bad input
refused before any run (one line on stderr, no traceback), 3 = inconclusive (some run errored
or exhausted its budget, or the scenario never reached its stage), 130 = interrupted.
Every command takes ``--json``.  Output files are written atomically and never replace an
existing file without ``--force``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pathlib
import re
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from ._check import ORACLES
from ._core import (
    BadInput,
    Decision,
    Outcome,
    PCTScheduler,
    RandomScheduler,
    ReplayScheduler,
    RunResult,
    Scheduler,
    decode_token,
    quiet_gc,
)
from ._drain import BUILTIN_DESIGNS, DrainDesign, design_ref, resolve_design
from ._explore import (
    DEFAULT_CPUS,
    P99_MIN_SAMPLES,
    SCHEDULERS,
    CampaignConfig,
    Cell,
    MatrixResult,
    RunSpec,
    campaign_verdict,
    code_fingerprint,
    make_run_spec,
    merge_campaign,
    merge_matrix,
    run_bench,
    run_campaign,
    run_matrix,
    run_spec,
    run_timeout,
    run_verdict,
    spec_from_token,
    token_of,
)
from ._kernel import MAX_CPUS
from ._report import (
    KEEP_ROWS,
    RowCollector,
    TableView,
    campaign_report,
    check_matrix_json,
    configure_logging,
    describe_design,
    describe_hazard,
    failure_report,
    ftrace_text,
    html_report,
    latency_plot_png,
    perfetto_trace,
    render_table,
    replay_with_rows,
    require_pyplot,
    trace_logger,
)
from ._scenarios import (
    DEMO_NAME,
    NotApplicable,
    ScenarioDef,
    builtin_scenarios,
    hazard_scenarios,
    lost_update_run,
    resolve_scenario,
    scenario_names,
)
from ._version import __version__

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
    """Write ``content`` to ``path`` atomically; refuse to replace a file without force.

    The bytes go to a hidden file beside ``path``, ``.NAME.pcptrio-<pid>-<random>.tmp``,
    which is fsync'ed and renamed over ``path``; the directory is fsync'ed after, so a crash
    leaves the old file or the new one.  A writer killed mid-write leaves its temporary file
    behind: writing the same target again first removes those whose process is gone, and
    keeps those of a live process (a concurrent pcptrio).  Limits: a dead writer's pid since
    reused keeps its file until that process ends too; off POSIX none are removed (no safe
    way to ask whether a pid lives)."""
    p = pathlib.Path(path)
    if p.exists() and not force:
        raise BadInput(f"{p} exists; use --force to replace it")
    parent = p.parent if str(p.parent) else pathlib.Path(".")
    if not parent.is_dir():
        raise BadInput(f"cannot write {p}: directory {parent} does not exist")
    if p.is_dir():
        raise BadInput(f"cannot write {p}: it is a directory")
    _remove_stale_temps(parent, p.name)
    try:
        fd, tmp = tempfile.mkstemp(
            dir=parent, prefix=f".{p.name}.pcptrio-{os.getpid()}-", suffix=".tmp"
        )
    except OSError as exc:
        raise BadInput(f"cannot write {p}: {exc.strerror}") from None
    try:
        # mkstemp makes the file 0600; a written file gets the mode any other tool's would.
        os.fchmod(fd, 0o666 & ~_umask())
        data = content.encode("utf-8") if isinstance(content, str) else content
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
        _fsync_dir(parent)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise BadInput(f"cannot write {p}: {exc.strerror}") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_stale_temps(parent: pathlib.Path, name: str) -> None:
    """Remove the temporary files :func:`write_file` left for ``name`` in ``parent`` whose
    writer is gone (POSIX only: elsewhere ``os.kill(pid, 0)`` would end the process)."""
    if os.name != "posix":
        return
    pattern = re.compile(re.escape(f".{name}.pcptrio-") + r"(\d+)-\w+\.tmp")
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    for entry in entries:
        m = pattern.fullmatch(entry)
        if m is None or _pid_alive(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):  # removed meanwhile, or not ours to remove
            os.unlink(parent / entry)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def _fsync_dir(parent: pathlib.Path) -> None:
    """Make a rename in ``parent`` durable (best effort: not every platform can)."""
    try:
        fd = os.open(parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
        if "cpus" in out and out["cpus"] != cpus:
            raise BadInput(f"--cpus {cpus} and --param cpus={out['cpus']} disagree; give one")
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


def _outputs(args: argparse.Namespace, r: RunResult, coll: RowCollector | None) -> None:
    if getattr(args, "trace", None):
        write_file(args.trace, r.trace_jsonl, args.force)
    if getattr(args, "ftrace", None):
        assert coll is not None  # --ftrace replays the run with a row collector
        write_file(args.ftrace, ftrace_text(r, coll.rows, coll.pids, coll.wakes), args.force)
    if getattr(args, "perfetto", None):
        data = perfetto_trace(
            r,
            rows=coll.rows if coll else None,
            zone_names=coll.zone_names if coll else None,
        )
        write_file(args.perfetto, json.dumps(data, sort_keys=True), args.force)


# ------------------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    extra_scen = [resolve_scenario(x) for x in args.scenario or []]
    extra_designs = [resolve_design(x) for x in args.design or []]
    scen = [s.to_json() for s in (*builtin_scenarios(), *extra_scen)]
    designs: list[dict[str, Any]] = [
        {
            "name": d.name,
            "ref": design_ref(d),
            "kernel": d.kernel,
            "eras": [str(e) for e in d.eras],
            "commits": list(d.commits),
            "summary": d.summary,
        }
        for d in (*BUILTIN_DESIGNS, *extra_designs)
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
            ["name", "kernel", "eras", "commits", "summary"],
            [
                [
                    d["ref"],
                    d["kernel"],
                    "/".join(d["eras"]),
                    ", ".join(
                        c[:7] if re.fullmatch(r"[0-9a-f]{12,40}", c) else c for c in d["commits"]
                    )
                    or "-",
                    textwrap.shorten(d["summary"], 50, placeholder=" …"),
                ]
                for d in designs
            ],
        )
    )
    out += ["", "Scenarios:"]
    out.append(
        render_table(
            ["name", "hazard", "min cpus", "oracles", "probes", "parameters"],
            [
                [
                    s["name"],
                    s["hazard"] or "-",
                    str(s["min_cpus"]),
                    ",".join(s["oracles"]) or "(always-on)",
                    ",".join(s["probes"]) or "-",
                    " ".join(f"{k}={v}" for k, v in s["params"].items()),
                ]
                for s in scen
            ],
        )
    )
    out += ["", "Oracles:"]
    out.append(render_table(["name", "judges"], [[o["name"], o["description"]] for o in oracles]))
    out += ["", "Schedulers: " + ", ".join(SCHEDULERS)]
    out += ["", "More on one design or hazard: pcptrio describe wq-4.11, pcptrio describe H7"]
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


def _duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``: seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if m is None or float(m.group(1)) <= 0:
        raise BadInput(f"--time-budget expects a duration like 90s, 15m or 2h, got {text!r}")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def _view_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rows",
        metavar="N|all",
        help="rows of the interleaving table besides those that explain the failure "
        "(default: the last 60 of a long run)",
    )
    p.add_argument(
        "--show-cpus", metavar="1,3", help="CPU columns of the interleaving table (default: all)"
    )
    p.add_argument(
        "--actors",
        metavar="NAME,...",
        help="show only these actors' steps (patterns like 'kworker/*'); the steps that "
        "explain the failure are always shown",
    )


def _view(args: argparse.Namespace, ncpus: int) -> TableView:
    """The ``--rows`` / ``--show-cpus`` / ``--actors`` of a command, checked against a
    machine of ``ncpus`` CPUs."""
    given = [f for f in ("rows", "show_cpus", "actors") if getattr(args, f, None) is not None]
    if not given:
        return TableView()
    flags = ", ".join("--" + f.replace("_", "-") for f in given)
    if args.json:
        raise BadInput(f"{flags} shape the text report's table; --json prints no table")
    rows: int | None = KEEP_ROWS
    if args.rows is not None:
        if args.rows == "all":
            rows = None
        elif args.rows.isdigit() and int(args.rows) > 0:
            rows = int(args.rows)
        else:
            raise BadInput(f"--rows expects a positive number or 'all', got {args.rows!r}")
    cpus = None
    if args.show_cpus is not None:
        try:
            cpus = tuple(int(x) for x in _split(args.show_cpus) or [])
        except ValueError:
            raise BadInput(
                f"--show-cpus expects comma-separated CPU numbers, got {args.show_cpus!r}"
            ) from None
        if not cpus:
            raise BadInput("--show-cpus is empty (give CPU numbers like 1,3)")
        bad = [c for c in cpus if not 0 <= c < ncpus]
        if bad:
            raise BadInput(f"--show-cpus {args.show_cpus}: the machine has CPUs 0..{ncpus - 1}")
    actors = None
    if args.actors is not None:
        actors = tuple(_split(args.actors) or [])
        if not actors:
            raise BadInput("--actors expects actor names or patterns, comma-separated")
    return TableView(rows=rows, cpus=cpus, actors=actors)


def cmd_run(args: argparse.Namespace) -> int:
    spec = _spec(args)
    view = _view(args, int(spec.params["cpus"]))
    logger = trace_logger() if args.log_level == "debug" else None
    r = run_spec(spec, _scheduler(args), logger=logger, run_timeout_s=args.run_timeout)
    coll = None
    report = None
    if r.failed or args.perfetto or args.ftrace:
        _, coll = replay_with_rows(spec, r.decision_list, run_timeout_s=args.run_timeout)
    if r.failed:
        rows = coll.rows if coll else None
        report = failure_report(r, rows=rows, replay_cmd=f"pcptrio replay {token_of(r)}", view=view)
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
        except UnicodeDecodeError:
            raise BadInput(f"token file {token[1:]} is not text") from None
    raw, decisions = decode_token(token)
    if raw.get("demo") == DEMO_NAME:
        return _replay_demo(args, raw, decisions)
    if args.design:
        resolve_design(args.design)  # named by the user: the token may now refer to it
    spec, decisions = spec_from_token(token, allow_import=args.allow_import)
    recorded, here = raw.get("code"), code_fingerprint(design_ref(spec.design))
    changed = f" (recorded by {recorded}, this is {here})" if recorded not in (None, here) else ""
    view = _view(args, int(spec.params["cpus"]))
    r, coll = replay_with_rows(
        spec,
        decisions,
        strict=not args.lenient,
        logger=trace_logger() if args.log_level == "debug" else None,
        run_timeout_s=args.run_timeout,
    )
    if r.outcome is Outcome.ERROR and (r.error or "").startswith("replay drift"):
        # The token no longer fits this code: bad input, said once, and no files written.
        raise BadInput(
            f"{r.error}; the token was recorded by other model code{changed} "
            "(--lenient follows it where it fits)"
        )
    if changed:
        print(
            f"pcptrio: note: the token was recorded by other pcptrio code{changed}: "
            "what differs from the recording may come from the change",
            file=sys.stderr,
        )
    report = None
    if r.failed:
        report = failure_report(r, rows=coll.rows, replay_cmd=f"pcptrio replay {token}", view=view)
    _outputs(args, r, coll)
    _emit(args, _run_json(r), _run_text(r, report))
    return _exit_for(r)


def _replay_demo(args: argparse.Namespace, raw: dict[str, Any], decisions: list[Decision]) -> int:
    """A token of ``pcptrio demo``: the lost-update model, replayed."""
    incs = raw.get("incs")
    if not isinstance(incs, int) or isinstance(incs, bool) or not 1 <= incs <= 1_000_000:
        raise BadInput("replay token of the demo has a malformed 'incs'")
    r = lost_update_run(incs, ReplayScheduler(decisions, strict=not args.lenient))
    if r.outcome is Outcome.ERROR and (r.error or "").startswith("replay drift"):
        raise BadInput(f"{r.error}; the token was recorded by other model code")
    _outputs(args, r, None)
    _emit(args, _run_json(r), _run_text(r, None))
    return _exit_for(r)


class _Bars:
    """Progress on a terminal: one display, a bar for the schedules (done of total, the rate,
    the failures so far) and, once shrinking starts, one for its replays (phase, done of its
    budget).  Inert when not enabled.  It is redrawn from the callbacks, at most ten times a
    second, never from a thread of its own: worker processes are forked after it starts, and
    a fork must not copy a running thread."""

    def __init__(self, enabled: bool, label: str, unit: str = "schedules") -> None:
        self._prog: Progress | None = None
        self._label = label
        self._unit = unit
        self._task: Any = None
        self._shrink: Any = None
        self._t0 = time.monotonic()
        self._first: int | None = None  # ``done`` at the first call (a resumed file's share)
        self._drawn = 0.0
        self.failed = 0
        if enabled:
            self._prog = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[extra]}"),
                TimeElapsedColumn(),
                transient=True,
                auto_refresh=False,
            )
            self._prog.start()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._prog is not None and (force or now - self._drawn >= 0.1):
            self._drawn = now
            self._prog.refresh()

    def update(self, done: int, total: int) -> None:
        if self._prog is None:
            return
        if self._task is None:
            self._task = self._prog.add_task(self._label, total=None, extra="")
            self._first = done
        secs = time.monotonic() - self._t0
        rate = (done - (self._first or 0)) / secs if secs > 0 else 0.0
        extra = f"{rate:,.0f} {self._unit}/s"
        if self.failed:
            extra += f", {self.failed} failed"
        self._prog.update(self._task, completed=done, total=total, extra=extra)
        self._draw(done >= total)

    def failure(self, index: int) -> None:
        self.failed += 1

    def shrinking(self, phase: str, done: int, total: int) -> None:
        if self._prog is None:
            return
        if self._shrink is None:
            self._shrink = self._prog.add_task("shrinking", total=None, extra="")
        self._prog.update(
            self._shrink, description=f"shrinking ({phase})", completed=done, total=total
        )
        self._draw()

    def stop(self) -> None:
        if self._prog is not None:
            self._prog.stop()


def cmd_explore(args: argparse.Namespace) -> int:
    if args.scheduler == "dfs":
        given = [
            f for f, v in (("--out", args.out), ("--resume", args.resume)) if v is not None
        ] + (["--jobs"] if args.jobs is not None and args.jobs > 1 else [])
        if given:
            raise BadInput(
                f"--scheduler dfs does not support {', '.join(given)}: its search runs in one "
                "process and keeps no schedule file (use random, pct or portfolio for a "
                "campaign streamed to a file or spread over processes)"
            )
    shard = _shard_arg(args.shard)
    if shard is not None:
        if not (args.out or args.resume):
            raise BadInput("--shard writes its schedules for `pcptrio merge`: give --out FILE")
        if args.all:
            raise BadInput("--shard stops at its own first failure; --all is not for shards")
    spec = _spec(args)
    view = _view(args, int(spec.params["cpus"]))
    out = args.resume or args.out
    cfg = CampaignConfig(
        spec,
        scheduler=args.scheduler,
        depth=args.depth,
        switch_p=args.switch_p,
        max_preemptions=args.max_preemptions,
        schedules=args.schedules or spec.scenario.schedules,
        seed=args.seed,
        jobs=1 if args.scheduler == "dfs" else args.jobs or os.cpu_count() or 1,
        stop_at_first=not args.all,
        run_timeout_s=args.run_timeout,
        shard=shard,
        time_budget_s=_duration(args.time_budget) if args.time_budget is not None else None,
        cluster=args.cluster,
    )
    show = sys.stderr.isatty() and not args.quiet and not args.json
    bars = _Bars(show, spec.label)
    t0 = time.perf_counter()
    try:
        res = run_campaign(
            cfg,
            out=out,
            resume=bool(args.resume),
            # replaced only once the settings are valid: a refused run leaves the file alone
            replace=bool(args.out and args.force),
            progress=bars.update,
            on_failure=bars.failure,
            # a shard's failure is shrunk by `merge`, once the lowest failing index is known
            shrink_budget=0 if args.no_shrink or shard is not None else args.shrink_budget,
            shrink_progress=bars.shrinking,
        )
    finally:
        bars.stop()
    wall = time.perf_counter() - t0
    for note in res.notes:
        print(f"pcptrio: {note}", file=sys.stderr)
    text = "" if args.json else campaign_report(res, wall_s=wall, source=out, view=view)
    if args.html:
        title = f"pcptrio explore {spec.scenario.name} × {spec.design.name}"
        write_file(args.html, html_report(res.to_json(), title=title), args.force)
    _emit(args, res.to_json(), text)
    return _EXIT_OF_VERDICT[res.verdict]


def _matrix_text(res: MatrixResult) -> str:
    headers = ["hazard", *res.designs]
    rows = []
    have = {(c.scenario, c.design): c for c in res.cells}
    for h, s in res.hazards:
        rows.append(
            [f"{h} {s}", *[have[s, d].symbol if (s, d) in have else "" for d in res.designs]]
        )
    lines = [
        render_table(headers, rows),
        "",
        "F = found, . = not found within the budget (every stage probe reached), "
        "? = inconclusive, E = inconclusive: a schedule errored, "
        "n/a = ruled out by the protection era",
        "",
    ]
    if res.cpus is not None:
        raised = sorted(
            {(c.hazard, c.scenario, c.cpus) for c in res.cells if c.cpus not in (None, res.cpus)}
        )
        for h, s, n in raised:
            lines.append(f"{h} {s} ran at {n} CPUs, its minimum (--cpus {res.cpus} asked)")
        if raised:
            lines.append("")
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


def _shard_arg(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    m = re.fullmatch(r"(\d+)/(\d+)", text)
    if m is None:
        raise BadInput(f"--shard expects K/N (for example 0/4), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def cmd_matrix(args: argparse.Namespace) -> int:
    shard = _shard_arg(args.shard)
    if shard is not None and not args.out:
        raise BadInput("--shard writes its cells for `pcptrio merge`: give --out FILE.json")
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
    bars = _Bars(show, "matrix", unit="cells")

    def cell_done(c: Cell, done: int, total: int) -> None:
        if c.verdict == "found":
            bars.failure(done)
        bars.update(done, total)

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
            progress=cell_done,
            run_timeout_s=args.run_timeout,
            shard=shard,
            cluster=args.cluster,
            time_budget_s=_duration(args.time_budget) if args.time_budget is not None else None,
            journal=args.resume or args.journal,
            resume=bool(args.resume),
            replace=bool(args.journal and args.force),
        )
    finally:
        bars.stop()
    wall = time.perf_counter() - t0
    for note in res.notes:
        print(f"pcptrio: {note}", file=sys.stderr)
    data = res.to_json()
    if args.out:
        write_file(args.out, json.dumps(data, indent=2, sort_keys=True) + "\n", args.force)
    if args.html:
        write_file(args.html, html_report(data, title="pcptrio matrix"), args.force)
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
        if n < 1 or n > MAX_CPUS:
            raise BadInput(f"--cpus-list values must be between 1 and {MAX_CPUS}, got {n}")
    if args.cpus_list is not None and not _split(args.cpus_list):
        raise BadInput("--cpus-list is empty (give CPU counts like 2,4,8, or leave it out)")
    if args.designs is not None and not _split(args.designs):
        raise BadInput("--designs is empty (give design names, or leave it out for all)")
    if args.seeds is not None and args.samples is not None:
        raise BadInput("--seeds and --samples are two ways to size a cell: give one")
    samples = 30 if args.samples is None else args.samples
    if samples < 1:
        raise BadInput(f"--samples must be at least 1, got {samples}")
    if args.seeds is not None and args.seeds < 1:
        raise BadInput(f"--seeds must be at least 1, got {args.seeds}")
    designs = _split(args.designs)
    for d in designs or []:
        resolve_design(d)
    plt = require_pyplot() if args.plot else None  # a missing extra is bad input before the work
    scenario = resolve_scenario(args.scenario)
    ncells = len(designs or BUILTIN_DESIGNS) * len(cpus)
    bars = _Bars(
        sys.stderr.isatty() and not args.quiet and not args.json, "bench cells", unit="cells"
    )
    done = 0

    def progress(cell: Any) -> None:
        nonlocal done
        done += 1
        bars.update(done, ncells)

    try:
        with run_timeout(args.run_timeout or None):
            res = run_bench(
                designs,
                cpus,
                samples=samples,
                seeds=args.seeds,
                seed=args.seed,
                scenario=scenario,
                progress=progress,
            )
    finally:
        bars.stop()
    data = res.to_json()
    reclaim = any(c.reclaimed for c in res.cells)
    rows = [
        [
            c.design,
            str(c.cpus),
            str(c.calls),
            str(c.returned_at_once),
            f"{c.latency_p50_us:.1f}",
            f"{c.latency_p90_us:.1f}",
            "-" if c.latency_p99_us is None else f"{c.latency_p99_us:.1f}",
            f"{c.latency_max_us:.1f}",
            f"{c.ipis_per_call:.1f}",
            f"{c.works_per_call:.1f}",
            f"{c.pages_per_call:.0f}",
            *([f"{c.reclaim_pages_per_s:.0f}"] if reclaim else []),
            f"{c.steps / c.wall_s:.0f}" if c.wall_s else "-",
        ]
        for c in res.cells
    ]
    text = render_table(
        [
            "design",
            "cpus",
            "calls",
            "at once",
            "p50 µs",
            "p90 µs",
            "p99 µs",
            "max µs",
            "IPIs/call",
            "works/call",
            "pages/call",
            *(["reclaimed/s"] if reclaim else []),
            "steps/s",
        ],
        rows,
    )
    text += (
        f"\n(percentiles over the calls that waited; 'at once': calls that returned at once, "
        f"e.g. a global caller that found pcpu_drain_mutex taken; p99 from "
        f"{P99_MIN_SAMPLES} samples on; --samples sets the calls to collect)"
    )
    for c in res.cells:
        bad = {k: v for k, v in c.outcomes.items() if k != "ok"}
        if bad:
            text += f"\n{c.design} at {c.cpus} CPUs: runs ended " + ", ".join(
                f"{k} {v}" for k, v in bad.items()
            )
    for g in data["identical"]:
        text += "\nidentical in every measure at every CPU count: " + " = ".join(g)
    ratios = res.wq_ipi_ratios()
    if ratios:
        text += "\np50 latency / ipi's p50, per CPU count:"
        for d, m in ratios.items():
            text += f"\n  {d}: " + ", ".join(f"{n} CPUs {v:.2f}×" for n, v in m.items())
    tp = data["throughput"]
    text += (
        f"\n\nlatency in virtual µs per drain_all_pages() call; emulator throughput "
        f"{tp['steps_per_s']} steps/s, {tp['page_ops_per_s']} page ops/s ({tp['wall_s']}s wall)"
    )
    if plt is not None:
        write_file(args.plot, latency_plot_png(plt, res), args.force)
        text += f"\nplot written to {args.plot}"
    # A latency is only as good as its runs: errors or exhausted budgets make the bench
    # inconclusive (exit 3), a violation is a finding (exit 1).
    totals: dict[str, int] = {}
    for c in res.cells:
        for k, v in c.outcomes.items():
            totals[k] = totals.get(k, 0) + v
    failed = bool(totals.get("violation") or totals.get("deadlock"))
    verdict, reason = campaign_verdict(failed, totals, {})
    data["verdict"], data["reason"] = verdict, reason
    if verdict == "inconclusive":
        text += f"\ninconclusive: {reason}"
    _emit(args, data, text)
    return _EXIT_OF_VERDICT[verdict]


def _resolve_described(name: str) -> DrainDesign | ScenarioDef:
    """``describe``'s argument: a hazard id (H7, h4/h16), a scenario name or a design."""
    for sc in hazard_scenarios():
        ids = (sc.hazard or "").lower()
        if ids and (ids == name.lower() or name.lower() in ids.split("/")):
            return sc
    if name in scenario_names() or name.endswith(".toml"):
        return resolve_scenario(name)
    if name in {d.name for d in BUILTIN_DESIGNS} or ":" in name:
        return resolve_design(name)
    known = [sc.hazard for sc in hazard_scenarios() if sc.hazard]
    raise BadInput(
        f"describe: {name!r} is not a hazard, scenario or design "
        f"(hazards: {', '.join(known)}; designs: "
        f"{', '.join(d.name for d in BUILTIN_DESIGNS)}; scenarios: see `pcptrio list`)"
    )


def cmd_describe(args: argparse.Namespace) -> int:
    what = _resolve_described(args.name)
    cells = None
    if args.matrix:
        try:
            raw = json.loads(pathlib.Path(args.matrix).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise BadInput(f"--matrix {args.matrix}: cannot read a JSON file ({exc})") from None
        cells = check_matrix_json(raw, args.matrix)
    if isinstance(what, ScenarioDef):
        data, text = describe_hazard(what, cells, args.matrix)
    else:
        data, text = describe_design(what, cells, args.matrix)
    _emit(args, data, text)
    return EXIT_OK


def _is_matrix_file(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    return head[:1] == b"{" and not head.startswith(b'{"campaign"')


def cmd_merge(args: argparse.Namespace) -> int:
    if all(_is_matrix_file(f) for f in args.files):
        mres = merge_matrix(args.files)
        mdata = mres.to_json()
        if args.out:
            write_file(args.out, json.dumps(mdata, indent=2, sort_keys=True) + "\n", args.force)
        if args.html:
            write_file(args.html, html_report(mdata, title="pcptrio matrix"), args.force)
        _emit(args, mdata, f"merged {len(args.files)} matrix shards\n" + _matrix_text(mres))
        if any(c.verdict == "inconclusive" for c in mres.cells):
            return EXIT_INCONCLUSIVE
        return EXIT_FOUND if any(c.verdict == "found" for c in mres.cells) else EXIT_OK
    show = sys.stderr.isatty() and not args.quiet and not args.json
    bars = _Bars(show, "merge")
    t0 = time.perf_counter()
    try:
        res = merge_campaign(
            args.files,
            shrink_budget=0 if args.no_shrink else args.shrink_budget,
            allow_import=args.allow_import,
            shrink_progress=bars.shrinking,
        )
    finally:
        bars.stop()
    wall = time.perf_counter() - t0
    text = "" if args.json else campaign_report(res, wall_s=None, source=None)
    if not args.json:
        text = f"merged {len(args.files)} shards ({wall:.1f}s)\n" + text
    if args.html:
        title = f"pcptrio merge {res.config.spec.scenario.name} × {res.config.spec.design.name}"
        write_file(args.html, html_report(res.to_json(), title=title), args.force)
    _emit(args, res.to_json(), text)
    return _EXIT_OF_VERDICT[res.verdict]


def cmd_report(args: argparse.Namespace) -> int:
    try:
        raw = json.loads(pathlib.Path(args.result).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"{args.result}: cannot read a JSON file ({exc})") from None
    if isinstance(raw, dict) and "cells" in raw:
        check_matrix_json(raw, args.result)
        title = "pcptrio matrix"
    elif isinstance(raw, dict) and {"scenario", "design", "verdict"} <= set(raw):
        title = f"pcptrio explore {raw['scenario']} × {raw['design']}"
    else:
        raise BadInput(
            f"{args.result}: not a result of `pcptrio matrix --out` or `pcptrio explore --json`"
        )
    write_file(args.output, html_report(raw, title=title), args.force)
    _emit(args, {"report": args.output}, f"report written to {args.output}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """The lost-update demo of the README (the engine alone)."""
    for i in range(args.schedules):
        r = lost_update_run(args.incs, RandomScheduler(args.seed + i))
        if r.failed:
            token = token_of(r)
            again = lost_update_run(args.incs, ReplayScheduler(r.decision_list))
            same = again.trace_sha256 == r.trace_sha256
            steps = [
                {"step": step, "actor": actor, "event": event, "counter": fields["counter"]}
                for step, _, actor, _, event, fields in r.trace
                if event in ("read", "write")
            ]
            text = [f"found after {i + 1} schedule(s): {r.headline}"]
            text += [
                f"  step {s['step']:3d}  {s['actor']:<9} {s['event']:<5} counter={s['counter']}"
                for s in steps
            ]
            text += [
                f"replay token: {token}",
                f"replayed: {again.outcome}, trace identical: {same}",
            ]
            data = {
                "verdict": "found",
                "schedules": i + 1,
                "headline": r.headline,
                "steps": steps,
                "token": token,
                "replayed": str(again.outcome),
                "trace_identical": same,
            }
            _emit(args, data, "\n".join(text))
            return EXIT_FOUND
        if r.outcome is not Outcome.OK:
            # A run that ended otherwise (an exhausted budget) is not a clean schedule.
            _emit(
                args,
                {"verdict": "inconclusive", "schedules": i + 1, "headline": r.headline},
                f"inconclusive after {i + 1} schedule(s): {r.headline}",
            )
            return EXIT_INCONCLUSIVE
    _emit(
        args,
        {"verdict": "not-found", "schedules": args.schedules},
        f"not found: {args.schedules} random schedules, no lost update",
    )
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


def _sched_args(p: argparse.ArgumentParser, default: str, choices: Sequence[str]) -> None:
    p.add_argument("--scheduler", choices=choices, default=default)
    p.add_argument("--depth", type=int, help="PCT depth (pct, portfolio; default 3)")
    p.add_argument(
        "--switch-p", type=float, help="random walk switch probability (random, portfolio; 0.2)"
    )
    p.add_argument("--seed", type=int, default=0)


#: Which scheduler uses which option (an option given for a scheduler that ignores it is
#: refused, never silently dropped), and the defaults.
_SCHED_OPTIONS = {
    "depth": ({"pct", "portfolio"}, 3),
    "switch_p": ({"random", "portfolio"}, 0.2),
    "max_preemptions": ({"dfs"}, 2),
}


def _check_sched_options(args: argparse.Namespace) -> None:
    sched = getattr(args, "scheduler", None)
    if sched is None:
        return
    for name, (users, default) in _SCHED_OPTIONS.items():
        if not hasattr(args, name):
            continue
        if getattr(args, name) is None:
            setattr(args, name, default)
        elif sched not in users:
            flag = "--" + name.replace("_", "-")
            raise BadInput(
                f"{flag} applies to the {' and '.join(sorted(users))} scheduler(s), "
                f"not --scheduler {sched}"
            )


#: The run guard's default in the command (the library's is none): seconds without a
#: scheduling point before a run ends as error.
RUN_TIMEOUT_S = 60.0


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not (v >= 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return v


def _run_timeout_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run-timeout",
        type=_seconds,
        default=RUN_TIMEOUT_S,
        metavar="SECONDS",
        help=f"a run taking no scheduling point for SECONDS (a design stuck in a loop) ends "
        f"as an error (default {RUN_TIMEOUT_S:g}; 0: no limit)",
    )


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
    s.add_argument("--design", action="append", help="also describe this design (module:attr)")
    s.add_argument("--scenario", action="append", help="also describe this .toml scenario")
    _common(s)
    s.set_defaults(func=cmd_list)

    s = sub.add_parser(
        "describe",
        help="a design's control flow and commits, or a hazard's trigger, failure and fix",
    )
    s.add_argument("name", help="a design (wq-4.11, module:attr), a hazard (H7) or a scenario")
    s.add_argument(
        "--matrix",
        metavar="RESULT.json",
        help="a `pcptrio matrix --out` file: say which rows (designs) exploration found it in",
    )
    _common(s)
    s.set_defaults(func=cmd_describe)

    s = sub.add_parser("run", help="run one schedule and print its outcome and token")
    _scenario_args(s)
    _sched_args(s, "random", ("random", "pct"))
    s.add_argument("--trace", metavar="OUT.jsonl", help="write the canonical JSONL trace")
    s.add_argument("--perfetto", metavar="OUT.json", help="write a Perfetto/Chrome trace")
    s.add_argument("--ftrace", metavar="OUT.txt", help="write the trace in ftrace's text format")
    _view_args(s)
    _run_timeout_arg(s)
    _common(s)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("explore", help="a campaign: many schedules, shrink the first failure")
    _scenario_args(s)
    _view_args(s)
    _sched_args(s, "pct", SCHEDULERS)
    s.add_argument("--schedules", type=int, help="budget (default: the scenario's matrix budget)")
    s.add_argument("--max-preemptions", type=int, help="dfs preemption bound (default 2)")
    s.add_argument("--jobs", type=int, help="worker processes (default: number of cores)")
    s.add_argument("--out", metavar="FILE.jsonl", help="stream results to a JSONL file")
    s.add_argument("--html", metavar="REPORT.html", help="also write an HTML report")
    s.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run the schedules on Dask: local:N (a local cluster of N workers) or "
        "tcp://HOST:8786 (needs pcptrio[dask])",
    )
    s.add_argument(
        "--time-budget",
        metavar="DURATION",
        help="start no schedule after this long (90s, 15m, 2h); the result says what ran",
    )
    s.add_argument(
        "--shard",
        metavar="K/N",
        help="run only schedule indices i with i mod N = K, into --out; `pcptrio merge` "
        "combines the N files",
    )
    s.add_argument("--resume", metavar="FILE.jsonl", help="continue an interrupted campaign")
    s.add_argument("--all", action="store_true", help="run the whole budget, do not stop")
    s.add_argument("--no-shrink", action="store_true")
    s.add_argument("--shrink-budget", type=int, default=60, help="replays spent shrinking")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    _run_timeout_arg(s)
    _common(s)
    s.set_defaults(func=cmd_explore)

    s = sub.add_parser("replay", help="rerun a token byte for byte")
    s.add_argument("token", help="a pcptrio1:... token, or @FILE holding one")
    s.add_argument("--lenient", action="store_true", help="do not stop at drift")
    _view_args(s)
    s.add_argument(
        "--allow-import",
        action="store_true",
        help="let the token import the module its design lives in (it runs that code)",
    )
    s.add_argument(
        "--design", help="the design the token names, as module:attr (imports it, trusted)"
    )
    s.add_argument("--trace", metavar="OUT.jsonl")
    s.add_argument("--perfetto", metavar="OUT.json")
    s.add_argument("--ftrace", metavar="OUT.txt", help="write the trace in ftrace's text format")
    _run_timeout_arg(s)
    _common(s)
    s.set_defaults(func=cmd_replay)

    s = sub.add_parser("matrix", help="every hazard × every design (the table of docs/hazards.md)")
    s.add_argument("--designs", help="comma-separated designs (default: all)")
    s.add_argument("--hazards", help="comma-separated hazards (ids like H3 or scenario names)")
    s.add_argument("--budget", type=int, help="schedules per cell (default: per scenario)")
    s.add_argument("--cpus", type=int, help="CPUs for every cell (default: per scenario)")
    s.add_argument("--jobs", type=int, help="worker processes (default: number of cores)")
    s.add_argument("--scheduler", choices=SCHEDULERS[:-1], default="portfolio")
    s.add_argument("--depth", type=int, help="PCT depth (pct, portfolio; default 3)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-shrink", action="store_true")
    s.add_argument("--shard", metavar="K/N", help="run only cells i mod N = K, into --out")
    s.add_argument(
        "--time-budget",
        metavar="DURATION",
        help="start no chunk after this long (90s, 15m, 2h); cells cut short are inconclusive",
    )
    s.add_argument(
        "--cluster", metavar="ADDRESS", help="run the cells on Dask: local:N or tcp://HOST:8786"
    )
    s.add_argument("--out", metavar="FILE.json", help="also write the JSON to a file")
    s.add_argument("--html", metavar="REPORT.html", help="also write an HTML report")
    s.add_argument(
        "--journal",
        metavar="FILE.jsonl",
        help="stream every schedule and finished cell to this file (to --resume it)",
    )
    s.add_argument(
        "--resume",
        metavar="FILE.jsonl",
        help="continue the run of this journal (same settings): only what it lacks runs",
    )
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    _run_timeout_arg(s)
    _common(s)
    s.set_defaults(func=cmd_matrix)

    s = sub.add_parser("bench", help="drain latency vs CPU count per design; throughput")
    s.add_argument("--designs", help="comma-separated designs (default: all)")
    s.add_argument("--cpus-list", help="comma-separated CPU counts (default: 2,4,...,64)")
    s.add_argument(
        "--scenario", default="bench-drain", help="a scenario name or .toml file (bench-drain)"
    )
    s.add_argument("--samples", type=int, help="drain calls per cell to collect (default 30)")
    s.add_argument(
        "--seeds", type=int, help="exactly this many runs per cell (instead of --samples)"
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--plot", metavar="OUT.png", help="latency plot (needs pcptrio[plot])")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    _run_timeout_arg(s)
    _common(s)
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser(
        "merge", help="combine the JSONL files of `explore --shard K/N` runs into one answer"
    )
    s.add_argument(
        "files",
        nargs="+",
        help="the N shard files (explore --shard K/N --out F.jsonl, or matrix --shard K/N "
        "--out F.json)",
    )
    s.add_argument("--out", metavar="FILE.json", help="also write a merged matrix's JSON")
    s.add_argument("--no-shrink", action="store_true")
    s.add_argument("--shrink-budget", type=int, default=60)
    s.add_argument("--allow-import", action="store_true", help="import a user design's module")
    s.add_argument("--html", metavar="REPORT.html", help="also write an HTML report")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    _common(s)
    s.set_defaults(func=cmd_merge)

    s = sub.add_parser("report", help="an HTML report of a matrix or explore result")
    s.add_argument(
        "result", help="a `pcptrio matrix --out` file or `pcptrio explore --json` output"
    )
    s.add_argument("-o", "--output", required=True, metavar="REPORT.html")
    _common(s)
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("demo", help="the engine alone: find and replay a lost update")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--schedules", type=int, default=200)
    s.add_argument("--incs", type=int, default=3)
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as done:  # --help and --version: argparse printed them
            return int(done.code or 0)
        if getattr(args, "func", None) is None:
            raise BadInput(
                "a command is required: list, run, explore, replay, matrix, bench or demo "
                "(pcptrio --help)"
            )
        if hasattr(args, "log_format"):
            configure_logging(args.log_format, args.log_level)
        for name in ("cpus", "schedules", "jobs", "budget", "seeds", "shrink_budget", "incs"):
            v = getattr(args, name, None)
            if v is not None and v < 1:
                raise BadInput(f"--{name.replace('_', '-')} must be at least 1, got {v}")
        _check_sched_options(args)
        if getattr(args, "depth", 1) < 1:
            raise BadInput(f"--depth must be at least 1, got {args.depth}")
        if getattr(args, "max_preemptions", 0) < 0:
            raise BadInput(f"--max-preemptions must be >= 0, got {args.max_preemptions}")
        sw = getattr(args, "switch_p", 0.0)
        if not 0.0 <= sw <= 1.0:
            raise BadInput(f"--switch-p must be within [0, 1], got {sw}")
        _check_outputs(args)
        # A command makes many short-lived objects (trace records, decisions, results) and
        # few cycles: the default young-generation threshold spends a fifth of a long run's
        # time in collections.  (Campaign workers set the same for themselves.)
        with quiet_gc():
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


_OUTPUTS = ("trace", "perfetto", "plot", "out", "journal", "resume")


def _check_outputs(args: argparse.Namespace) -> None:
    """Check every output path before any work is done (the write checks again): not a
    directory, in a directory that exists, not named twice, and not an existing file
    without ``--force`` (``--resume`` continues its file)."""
    seen: dict[pathlib.Path, str] = {}
    explore = args.func is cmd_explore  # there --out is the campaign file --resume names
    if explore and getattr(args, "out", None) and getattr(args, "resume", None):
        raise BadInput("--out and --resume both name the campaign file; give one")
    if getattr(args, "journal", None) and getattr(args, "resume", None):
        raise BadInput("--journal and --resume both name the matrix journal; give one")
    for name in _OUTPUTS:
        path = getattr(args, name, None)
        if path == "":
            raise BadInput(f"--{name} needs a file name")
        if not path:
            continue
        flag = f"--{name}"
        p = pathlib.Path(path)
        parent = p.parent if str(p.parent) else pathlib.Path(".")
        if p.is_dir():
            raise BadInput(f"{flag} {path} is a directory; name a file")
        if not parent.is_dir():
            raise BadInput(f"{flag} {path}: directory {parent} does not exist")
        try:  # the real test: can a file be made there (root ignores modes; /proc refuses)
            fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{p.name}.", suffix=".probe")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise BadInput(f"{flag} {path}: cannot write in {parent} ({exc.strerror})") from None
        if p.exists() and not p.is_file():
            raise BadInput(f"{flag} {path} exists and is not a regular file")
        key = p.resolve()
        if key in seen:
            raise BadInput(f"{seen[key]} and {flag} name the same file {path}")
        seen[key] = flag
        if name == "resume" or (explore and name == "out" and getattr(args, "resume", None)):
            continue
        if p.exists() and not getattr(args, "force", False):
            hint = (
                f"use --resume {path} to continue it or --force"
                if (name == "out" and explore) or name == "journal"
                else "use --force to replace it"
            )
            raise BadInput(f"{path} exists; {hint}")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
