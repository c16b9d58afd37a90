"""Measure every performance target of the "Engine 2" issue, new tree against a baseline.

For each target the report shows both sides of its ratio, measured in this one invocation,
the ratio, the goal and whether it is met.  The code tree under test (``--tree``, default:
the repository holding this script) is compared with ``--baseline`` (a worktree of the tag
v0.1.0, e.g. ``/tmp/v010``) or with a reference measured in the same process (raw trio,
SimPy, a bare-Python PCP model).

Every measurement runs in a child process with ``PYTHONPATH=<tree>`` and a scratch working
directory (so neither the current directory nor an installed pcptrio shadows the tree; the
child reports which pcptrio it imported and the parent checks it).  Baseline and new runs are
interleaved (the order alternates between repetitions) and repeated ``--reps`` times; each
side is the median of its repetitions.

Targets (``--only NAME,...``):

steady       ``pcptrio run steady --design D --cpus 8 --param ops=5000 --seed 1 --json``:
             page ops (``stats.page_ops``) per second of the command's own wall time inside
             the child (from ``cli.main(argv)`` call to return: no interpreter start-up, no
             import).  Goal: new >= 5x baseline.  Informational: the ratio to a bare-Python
             per-CPU list model (``bench_machine.run_bare``, 2 page ops per pair), long-term
             goal >= 1/20.
wq-fanout    queue one work on each of N CPUs and flush all (``bench_workqueue.emu_all_cpus``)
             against SimPy doing the same (``simpy_all_cpus``), µs per CPU, N = 64 and 512, in
             the same child.  Goal: <= 2x SimPy (new tree; baseline shown for information).
switch       (``scripts/bench_engine.py``'s measures, run in each tree, for this and the next two)
             two actors on one CPU, random scheduler with switch_p=1.0 (a switch at every
             point), time per switch, against a raw ``trio.lowlevel.checkpoint()`` in the same
             child.  Goal: <= 0.5x.
handover     two actors on different CPUs (cpus=2, bound to CPU 0 and 1), switch at every
             point, time per switch, against trio's own park/reschedule ping-pong
             (``wait_task_rescheduled`` / ``reschedule``).  Goal: <= 1.5x.
spawn        an actor spawned into an engine nursery and joined, new against baseline.
             Goal: new <= 0.25x baseline.
explore      ``pcptrio explore shared-mask-race --design wq-4.11 --cpus 4 --scheduler pct
             --depth 3 --schedules 500 --all --jobs 1 --json``: schedules per second of the
             command's in-child wall time.  Goal: new >= 2x baseline.
bench-drain  ``pcptrio bench --cpus-list N --designs D --seeds 1 --json`` (the bench-drain
             scenario, no trace recorded, no trace file) at N = 64, 512 and 1024: cost per
             step = the bench's wall_s / steps; peak RSS of the child (``wait4``).  Goals:
             step cost at 1024 <= 1.3x that at 64; peak RSS at 1024 <= 80 MiB.  A tree that
             refuses 1024 CPUs (the 512-CPU cap) shows "refused (cap)"; 512 is reported.
             Also reported: the RSS of ``python -c "import pcptrio"``.
matrix       ``pcptrio matrix --hazards <v0.1.0's 9 rows> --designs <its 7 columns> --json``
             wall time of the child process (exit 1 is normal: it found violations),
             ``--matrix-reps`` repetitions (default 1: ~25-50 s each).
             Goal: new <= 0.5x baseline.

A measurement that fails prints its error and the report goes on; a target that cannot be
judged shows "n/a (reason)".  Exit status is always 0 (this is a report).

    python scripts/bench_targets.py --baseline /tmp/v010 [--tree PATH] [--reps 3]
        [--only steady,switch,...] [--quick] [--json]

``--quick``: one repetition, smaller engine loops, the wq-fanout baseline skipped, and the
matrix target skipped unless named in ``--only``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
SCRIPTS_DIR = SCRIPT.parent
TARGETS = (
    "steady",
    "wq-fanout",
    "switch",
    "handover",
    "spawn",
    "explore",
    "bench-drain",
    "matrix",
)
MIB = 1024 * 1024
#: The rows and columns of v0.1.0's matrix (the matrix target compares the same work).
WAVE1_HAZARDS = "H1,H2,H3,H5,H6,H7,H11,H14,H4/H16"
WAVE1_DESIGNS = "ipi,wq-rfc,wq-hotplug,wq-4.11,wq-5.0,remote-6.0,remote-6.11"


class MeasureError(RuntimeError):
    """One measurement failed (reported, the report goes on)."""


# =============================================================================== child side
# Everything below runs in a child process with PYTHONPATH=<tree>: pcptrio is imported lazily
# so that the parent never imports any tree's pcptrio.


@contextlib.contextmanager
def _quiet_gc() -> Iterator[None]:
    """The campaign workers' GC setting (what bench_engine's default ``--gc tuned`` does)."""
    gc.collect()
    try:
        from pcptrio._core import quiet_gc  # noqa: PLC0415
    except ImportError:
        yield
        return
    with quiet_gc():
        yield


def _pcptrio_file() -> str:
    import pcptrio  # noqa: PLC0415

    return str(pcptrio.__file__)


def _engine_measure(name: str, n: int) -> dict[str, float]:
    """``scripts/bench_engine.py``'s measure ``name`` (seconds per operation, wall) in the tree
    on PYTHONPATH, with the CPU time per operation beside it."""
    fn = getattr(_script_module("bench_engine"), name)
    with _quiet_gc():
        t, c = time.perf_counter(), time.process_time()
        per = fn(n)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    return {"s": per, "cpu_s": per * cpu / wall}


#: Target name -> bench_engine's measure: a switch on one CPU and a hand-over between CPUs
#: (a switch forced at every point, checked there), spawn + join, and their trio references.
ENGINE_BENCHES: dict[str, str] = {
    "switch": "switch",
    "handover": "handover",
    "spawn": "spawn_join",
    "raw_checkpoint": "raw_checkpoint",
    "raw_pingpong": "raw_pingpong",
}


def child_engine(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in args.which.split(","):
        measure = ENGINE_BENCHES[name]
        n = max(1, args.n // 20) if name == "spawn" else args.n
        try:
            _engine_measure(measure, min(n, 2000))  # warm-up: lazy imports, first trio.run
            out[name] = _engine_measure(measure, n)
        except Exception as exc:
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def _script_module(name: str) -> Any:
    """A sibling benchmark script (``scripts/<name>.py``), imported as a module."""
    if str(SCRIPTS_DIR) not in sys.path:
        sys.path.insert(0, str(SCRIPTS_DIR))
    return importlib.import_module(name)


def child_wq(args: argparse.Namespace) -> dict[str, Any]:
    bw = _script_module("bench_workqueue")
    ns = argparse.Namespace(gc="tuned", scheduler="random", items=args.items, rt_n=0)
    out: dict[str, Any] = {}
    with _quiet_gc():  # trio's own park/reschedule, the floor of a hand-over
        _script_module("bench_engine").raw_pingpong(2000)
        out["pingpong_us"] = _script_module("bench_engine").raw_pingpong(args.items * 4) * 1e6
        # and the engine's cheapest step: a scheduling point where the same thread goes on
        out["point_us"] = _script_module("bench_engine").same_actor(args.items * 4) * 1e6
    for n in (int(x) for x in args.wq_cpus.split(",")):
        rounds = max(2, args.items // n)
        try:
            emu = bw.emu_all_cpus(ns, 1, n, rounds)
            sim = bw.simpy_all_cpus(ns, n, rounds)
            try:  # the same run again, untimed, counting hand-overs (a tree's older script
                # may not count them)
                hand = bw.emu_all_cpus(ns, 1, n, rounds, count_handovers=True)
            except TypeError:
                hand = {}
            out[str(n)] = {
                "handovers_per_cpu": hand.get("handovers_per_cpu"),
                "rounds": rounds,
                "emu_us_per_cpu": emu["us_per_cpu"],
                "simpy_us_per_cpu": sim["us_per_cpu"],
                "steps_per_cpu": emu["steps_per_cpu"],
                "boot_ms": emu["boot_ms"],
                "actors": emu["actors"],
            }
        except Exception as exc:
            out[str(n)] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def child_bare(args: argparse.Namespace) -> dict[str, Any]:
    bm = _script_module("bench_machine")
    ns = argparse.Namespace(cpus=args.bare_cpus, cycles=args.bare_cycles, gc="tuned")
    bm.run_bare(ns)  # warm-up
    r = bm.run_bare(ns)
    return {"pairs_per_s": r["pairs_per_s"], "page_ops_per_s": 2 * r["pairs_per_s"]}


def child_cli(argv: Sequence[str]) -> dict[str, Any]:
    """``pcptrio <argv>`` in this process: import time and the command's own wall time."""
    t0 = time.perf_counter()
    cli = importlib.import_module("pcptrio.cli")
    t1, c1 = time.perf_counter(), time.process_time()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            rc = int(cli.main(list(argv)))
        except SystemExit as done:
            rc = done.code if isinstance(done.code, int) else 1
    t2, c2 = time.perf_counter(), time.process_time()
    return {
        "import_s": t1 - t0,
        "run_s": t2 - t1,
        "run_cpu_s": c2 - c1,
        "rc": rc,
        "stdout": buf.getvalue(),
    }


def child_main(args: argparse.Namespace) -> None:
    """``--measure NAME``: one measurement; one JSON object on the last line of stdout."""
    if args.measure == "engine":
        res = child_engine(args)
    elif args.measure == "wq":
        res = child_wq(args)
    elif args.measure == "bare":
        res = child_bare(args)
    elif args.measure == "cli":
        res = child_cli(args.cli_args)
    else:
        raise SystemExit(f"unknown measurement {args.measure!r}")
    res["pcptrio_file"] = _pcptrio_file()
    sys.stdout.write("\n" + json.dumps(res) + "\n")


# ============================================================================== parent side


@dataclass
class Proc:
    rc: int
    wall_s: float
    maxrss_kib: int
    cpu_s: float  # user + system of the child and the children it reaped
    stdout: str
    stderr: str


class Runner:
    """Runs child processes against one tree or another, in a scratch working directory."""

    def __init__(self, timeout_s: float, verbose: bool) -> None:
        self.timeout_s = timeout_s
        self.verbose = verbose
        self._tmp = tempfile.TemporaryDirectory(prefix="bench_targets-")
        self.cwd = self._tmp.name

    def close(self) -> None:
        self._tmp.cleanup()

    def log(self, msg: str) -> None:
        if self.verbose:
            print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def proc(self, tree: Path, cmd: Sequence[str], timeout_s: float | None = None) -> Proc:
        """Run ``cmd`` with PYTHONPATH=tree; wall time and the child's own peak RSS (wait4)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = str(tree)
        for k in ("PYTHONSTARTUP", "PYTHONHOME", "PYTHONSAFEPATH"):
            env.pop(k, None)
        limit = timeout_s or self.timeout_s
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            t0 = time.perf_counter()
            p = subprocess.Popen(list(cmd), stdout=out, stderr=err, cwd=self.cwd, env=env)
            while True:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - t0 > limit:
                    p.kill()
                    os.wait4(p.pid, 0)
                    p.returncode = -9
                    raise MeasureError(f"timed out after {limit:.0f}s: {' '.join(cmd[-8:])}")
                time.sleep(0.002)
            wall = time.perf_counter() - t0
            p.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode("utf-8", "replace")
            stderr = err.read().decode("utf-8", "replace")
        cpu = ru.ru_utime + ru.ru_stime
        return Proc(p.returncode, wall, int(ru.ru_maxrss), cpu, stdout, stderr)

    def measure(self, tree: Path, what: str, *extra: str) -> tuple[dict[str, Any], Proc]:
        """This script's ``--measure what`` in a child on ``tree``: its JSON and the process."""
        cmd = [sys.executable, str(SCRIPT), "--measure", what, *extra]
        self.log(f"{tree}: --measure {what} {' '.join(extra)}")
        pr = self.proc(tree, cmd)
        lines = [ln for ln in pr.stdout.splitlines() if ln.strip()]
        if pr.rc != 0 or not lines:
            raise MeasureError(f"--measure {what} on {tree} exited {pr.rc}: {_tail(pr.stderr)}")
        try:
            data: dict[str, Any] = json.loads(lines[-1])
        except json.JSONDecodeError:
            raise MeasureError(f"--measure {what} on {tree}: no JSON: {_tail(pr.stdout)}") from None
        _check_tree(tree, data.get("pcptrio_file", ""))
        return data, pr

    def cli(self, tree: Path, argv: Sequence[str], ok_rcs: Sequence[int] = (0,)) -> dict[str, Any]:
        """``pcptrio argv`` inside a child on ``tree``; adds ``json`` (the parsed output)."""
        data, pr = self.measure(tree, "cli", "--", *argv)
        data["maxrss_kib"] = pr.maxrss_kib
        data["proc_wall_s"] = pr.wall_s
        data["stderr"] = pr.stderr
        if data["rc"] not in ok_rcs:
            raise MeasureError(
                f"pcptrio {' '.join(argv[:2])} on {tree} exited {data['rc']}: "
                f"{_tail(pr.stderr or data['stdout'])}"
            )
        try:
            data["json"] = json.loads(data["stdout"]) if data["stdout"].strip() else None
        except json.JSONDecodeError:
            raise MeasureError(f"pcptrio {argv[0]} on {tree}: output is not JSON") from None
        return data


def _tail(text: str, n: int = 400) -> str:
    text = text.strip()
    return ("..." + text[-n:]) if len(text) > n else (text or "(no output)")


def _check_tree(tree: Path, pcptrio_file: str) -> None:
    if not pcptrio_file or not Path(pcptrio_file).resolve().is_relative_to(tree.resolve()):
        raise MeasureError(f"child meant for {tree} imported pcptrio from {pcptrio_file!r}")


def interleaved(
    reps: int, sides: dict[str, Callable[[], Any]], log: Callable[[str], None]
) -> tuple[dict[str, list[Any]], dict[str, list[str]]]:
    """Run every side once per repetition, alternating the order; results and errors."""
    res: dict[str, list[Any]] = {k: [] for k in sides}
    errs: dict[str, list[str]] = {k: [] for k in sides}
    names = list(sides)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            try:
                res[name].append(sides[name]())
            except Exception as exc:
                msg = (
                    f"{type(exc).__name__}: {exc}"
                    if not isinstance(exc, MeasureError)
                    else str(exc)
                )
                errs[name].append(msg)
                log(f"{name} failed: {msg}")
    return res, errs


def med(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


# ------------------------------------------------------------------------------- report rows


@dataclass
class Row:
    target: str
    new: str = "-"
    ref: str = "-"
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    why: str = ""  # the reason of an n/a
    details: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def met_text(self) -> str:
        if self.met is None:
            return f"n/a ({self.why})" if self.why else "n/a"
        return "met" if self.met else "MISSED"


def _na(target: str, goal: str, why: str, **kw: Any) -> Row:
    return Row(target, goal=goal, why=why, **kw)


def _first_err(errs: list[str]) -> str:
    return errs[0] if errs else "no result"


def _rate(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M{unit}"
    if x >= 1e4:
        return f"{x / 1e3:.1f} k{unit}"
    return f"{x:.1f} {unit}"


def _x(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3g}x"


def _cpu_note(new: float | None, ref: float | None, unit: str = "") -> str:
    """The same ratio on CPU time instead of wall time (less sensitive to a loaded host)."""
    if new is None or ref is None or not ref:
        return "on CPU time (info): n/a"
    if unit == "CPU ns":
        sides = f"{new * 1e9:.0f} vs {ref * 1e9:.0f} CPU ns"
    elif unit:
        sides = f"{new:.1f} vs {ref:.1f} {unit}"
    else:
        sides = f"{new:.1f} vs {ref:.1f} per CPU s"
    return f"on CPU time (info): {sides} = {_x(new / ref)}"


def _ns(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e9:.0f} ns"


def _ratio_row(
    target: str,
    new: float | None,
    ref: float | None,
    goal_text: str,
    goal: float,
    *,
    higher_is_better: bool,
    fmt: Callable[[float | None], str],
    new_errs: list[str],
    ref_errs: list[str],
) -> Row:
    """A row whose ratio is new / ref; met when ratio >= goal (rates) or <= goal (costs)."""
    row = Row(target, new=fmt(new), ref=fmt(ref), goal=goal_text)
    if new is None:
        row.why = f"new side failed: {_first_err(new_errs)}"
    elif ref is None:
        row.why = f"reference side failed: {_first_err(ref_errs)}"
    elif ref == 0:
        row.why = "reference is 0"
    else:
        row.ratio = new / ref
        row.met = row.ratio >= goal if higher_is_better else row.ratio <= goal
    return row


class Bench:
    def __init__(self, args: argparse.Namespace, runner: Runner) -> None:
        self.a = args
        self.r = runner
        self.new: Path = args.tree
        self.base: Path | None = args.baseline
        self._engine: tuple[dict[str, list[Any]], dict[str, list[str]]] | None = None
        self._startup: dict[str, dict[str, Any]] | None = None

    def log(self, msg: str) -> None:
        self.r.log(msg)

    def _measure_side(
        self, tree: Path, what: str, extra: Sequence[str]
    ) -> Callable[[], dict[str, Any]]:
        def go() -> dict[str, Any]:
            return self.r.measure(tree, what, *extra)[0]

        return go

    def trees(self) -> dict[str, Path]:
        t = {"new": self.new}
        if self.base is not None:
            t["baseline"] = self.base
        return t

    # ----------------------------------------------------------------- start-up (shared)

    def startup(self) -> dict[str, dict[str, Any]]:
        """``python -c "import pcptrio"`` per tree: wall and peak RSS (medians)."""
        if self._startup is None:
            cmd = [sys.executable, "-c", "import pcptrio; print(pcptrio.__file__)"]

            def one(tree: Path) -> Callable[[], Proc]:
                def go() -> Proc:
                    pr = self.r.proc(tree, cmd)
                    if pr.rc != 0:
                        raise MeasureError(f"import pcptrio failed: {_tail(pr.stderr)}")
                    _check_tree(tree, pr.stdout.strip())
                    return pr

                return go

            res, errs = interleaved(
                self.a.reps, {k: one(t) for k, t in self.trees().items()}, self.log
            )
            self._startup = {
                k: {
                    "wall_s": med([p.wall_s for p in res[k]]),
                    "maxrss_mib": med([p.maxrss_kib / 1024 for p in res[k]]),
                    "errors": errs[k],
                }
                for k in res
            }
        return self._startup

    # --------------------------------------------------------------------------- targets

    def t_steady(self) -> list[Row]:
        goal = ">= 5x baseline"
        argv = [
            "run",
            "steady",
            "--design",
            self.a.design,
            "--cpus",
            "8",
            "--param",
            f"ops={self.a.ops}",
            "--seed",
            "1",
            "--json",
        ]

        def side(tree: Path) -> Callable[[], dict[str, Any]]:
            def go() -> dict[str, Any]:
                d = self.r.cli(tree, argv)
                j = d["json"] or {}
                ops = (j.get("stats") or {}).get("page_ops", j.get("page_ops"))
                if not ops:
                    raise MeasureError("no stats.page_ops in the run's JSON")
                if j.get("outcome") != "ok":
                    raise MeasureError(f"steady run ended {j.get('outcome')}")
                return {
                    "ops": int(ops),
                    "run_s": d["run_s"],
                    "run_cpu_s": d["run_cpu_s"],
                    "proc_wall_s": d["proc_wall_s"],
                    "import_s": d["import_s"],
                    "steps": j.get("steps"),
                    "trace_sha256": j.get("trace_sha256"),
                }

            return go

        sides: dict[str, Callable[[], Any]] = {k: side(t) for k, t in self.trees().items()}
        sides["bare"] = lambda: self.r.measure(self.new, "bare")[0]
        res, errs = interleaved(self.a.reps, sides, self.log)
        rate: dict[str, float | None] = {}
        for k in self.trees():
            rate[k] = med([x["ops"] / x["run_s"] for x in res[k]])
        row = _ratio_row(
            "steady page ops/s",
            rate["new"],
            rate.get("baseline"),
            goal,
            5.0,
            higher_is_better=True,
            fmt=lambda x: _rate(x, "ops/s"),
            new_errs=errs["new"],
            ref_errs=errs.get("baseline", ["no --baseline"]),
        )
        cpu_rate = {k: med([x["ops"] / x["run_cpu_s"] for x in res[k]]) for k in self.trees()}
        row.details.append(_cpu_note(cpu_rate.get("new"), cpu_rate.get("baseline")))
        row.data = {"runs": res, "errors": errs, "ops_per_s": rate, "ops_per_cpu_s": cpu_rate}
        st = self.startup()
        for k in self.trees():
            if not res[k]:
                row.details.append(f"{k}: failed: {_first_err(errs[k])}")
                continue
            x = res[k][0]
            wall = med([y["proc_wall_s"] for y in res[k]])
            up = st.get(k, {}).get("wall_s")
            alt = ""
            if wall is not None and up is not None and wall > up:
                alt = (
                    f"; (process wall - import start-up): {_rate(x['ops'] / (wall - up), 'ops/s')}"
                )
            row.details.append(
                f"{k}: {x['ops']} page ops, {x['steps']} steps, "
                f"command {med([y['run_s'] for y in res[k]]):.3f}s in-process, "
                f"process {wall:.3f}s{alt}"
            )
        shas = {k: res[k][0]["trace_sha256"] for k in self.trees() if res[k]}
        if len(shas) == 2:
            same = len(set(shas.values())) == 1
            row.details.append(
                "same trace in both trees" if same else "traces DIFFER between the trees"
            )
        bare = med([x["page_ops_per_s"] for x in res["bare"]])
        info = _ratio_row(
            "steady / bare-Python PCP model",
            rate["new"],
            bare,
            ">= 1/20 (info)",
            1 / 20,
            higher_is_better=True,
            fmt=lambda x: _rate(x, "ops/s"),
            new_errs=errs["new"],
            ref_errs=errs["bare"],
        )
        info.details.append(
            f"bare model: bench_machine.run_bare, {self.a.bare_cpus} CPUs x "
            f"{self.a.bare_cycles} cycles x 200 alloc/free pairs (2 page ops per pair)"
        )
        if info.ratio:
            info.details.append(f"ratio 1/{1 / info.ratio:.0f}")
        info.data = {"bare_page_ops_per_s": bare, "errors": errs["bare"]}
        return [row, info]

    def t_wq_fanout(self) -> list[Row]:
        cpus = [int(x) for x in self.a.wq_cpus.split(",")]
        trees = self.trees() if not self.a.quick else {"new": self.new}
        extra = ["--wq-cpus", self.a.wq_cpus, "--items", str(self.a.items)]
        sides = {k: self._measure_side(t, "wq", extra) for k, t in trees.items()}
        res, errs = interleaved(self.a.reps, sides, self.log)
        rows = []
        for n in cpus:
            key = str(n)
            ok = [x[key] for x in res["new"] if "error" not in x.get(key, {"error": 1})]
            cell_errs = errs["new"] + [
                x[key]["error"] for x in res["new"] if "error" in x.get(key, {})
            ]
            emu = med([x["emu_us_per_cpu"] / 1e6 for x in ok])
            sim = med([x["simpy_us_per_cpu"] / 1e6 for x in ok])
            row = _ratio_row(
                f"wq-fanout N={n} µs/CPU vs SimPy",
                emu,
                sim,
                "<= 2x SimPy",
                2.0,
                higher_is_better=False,
                fmt=lambda x: "-" if x is None else f"{x * 1e6:.1f} µs/CPU",
                new_errs=cell_errs,
                ref_errs=cell_errs,
            )
            if ok:
                row.details.append(
                    f"{ok[0]['rounds']} rounds; {ok[0]['steps_per_cpu']:.1f} steps/CPU; "
                    f"{ok[0]['actors']} actors; boot {med([x['boot_ms'] for x in ok]):.0f} ms"
                )
                hands = [x["handovers_per_cpu"] for x in ok if x.get("handovers_per_cpu")]
                pps = [x["pingpong_us"] for x in res["new"] if "pingpong_us" in x]
                pts = [x["point_us"] for x in res["new"] if "point_us" in x]
                if hands and pps and pts and sim:
                    h, pp, pt = med(hands) or 0.0, med(pps) or 0.0, med(pts) or 0.0
                    st = ok[0]["steps_per_cpu"]
                    row.details.append(
                        f"floor (info): {h:.2f} hand-overs/CPU x {pp:.2f} µs (trio's own "
                        f"park/reschedule) + {st:.1f} steps/CPU x {pt:.2f} µs (a bare "
                        f"same-thread point) = {h * pp + st * pt:.1f} µs/CPU before any "
                        f"workqueue code runs; the goal allows {2 * sim * 1e6:.1f} µs/CPU"
                    )
            if "baseline" in res:
                bok = [x[key] for x in res["baseline"] if "error" not in x.get(key, {"error": 1})]
                if bok:
                    be = med([x["emu_us_per_cpu"] for x in bok]) or 0.0
                    bs = med([x["simpy_us_per_cpu"] for x in bok]) or 1.0
                    row.details.append(
                        f"baseline (info): {be:.1f} µs/CPU vs SimPy {bs:.1f} = {be / bs:.2f}x"
                    )
                else:
                    b_errs = errs["baseline"] + [
                        x[key].get("error", "") for x in res["baseline"] if key in x
                    ]
                    row.details.append(f"baseline (info): failed: {_first_err(b_errs)}")
            row.data = {"new": ok, "errors": cell_errs}
            rows.append(row)
        return rows

    def engine(self) -> tuple[dict[str, list[Any]], dict[str, list[str]]]:
        if self._engine is None:
            which = "switch,handover,spawn,raw_checkpoint,raw_pingpong"
            extra = ["--which", which, "--n", str(self.a.n)]
            sides = {k: self._measure_side(t, "engine", extra) for k, t in self.trees().items()}
            self._engine = interleaved(self.a.reps, sides, self.log)
        return self._engine

    def _engine_med(self, side: str, name: str, key: str = "s") -> tuple[float | None, list[str]]:
        res, errs = self.engine()
        runs = res.get(side, [])
        vals = [x[name][key] for x in runs if key in x.get(name, {})]
        e = list(errs.get(side, [])) + [
            x[name]["error"] for x in runs if "error" in x.get(name, {})
        ]
        if side not in res:
            e.append("no --baseline")
        return med(vals), e

    def _engine_row(self, target: str, name: str, ref: str, goal: float, label: str) -> Row:
        new, new_errs = self._engine_med("new", name)
        r, r_errs = self._engine_med("new", ref)
        row = _ratio_row(
            label,
            new,
            r,
            f"<= {goal}x {ref.replace('_', ' ')}",
            goal,
            higher_is_better=False,
            fmt=_ns,
            new_errs=new_errs,
            ref_errs=r_errs,
        )
        row.details.append(f"a switch at every point (checked); n={self.a.n}")
        b, b_errs = self._engine_med("baseline", name)
        br, _ = self._engine_med("baseline", ref)
        if b is not None and br:
            row.details.append(f"baseline (info): {_ns(b)} vs {_ns(br)} = {b / br:.2f}x")
        elif self.base is not None:
            row.details.append(f"baseline (info): failed: {_first_err(b_errs)}")
        nc, _ = self._engine_med("new", name, "cpu_s")
        rc, _ = self._engine_med("new", ref, "cpu_s")
        row.details.append(_cpu_note(nc, rc, "CPU ns"))
        row.data = {"new_s": new, "ref_s": r, "baseline_s": b, "baseline_ref_s": br}
        return row

    def t_switch(self) -> list[Row]:
        return [self._engine_row("switch", "switch", "raw_checkpoint", 0.5, "switch (1 CPU)")]

    def t_handover(self) -> list[Row]:
        return [
            self._engine_row(
                "handover", "handover", "raw_pingpong", 1.5, "handover (2 CPUs) vs trio ping-pong"
            )
        ]

    def t_spawn(self) -> list[Row]:
        new, new_errs = self._engine_med("new", "spawn")
        base, base_errs = self._engine_med("baseline", "spawn")
        row = _ratio_row(
            "spawn+join",
            new,
            base,
            "<= 0.25x baseline",
            0.25,
            higher_is_better=False,
            fmt=_ns,
            new_errs=new_errs,
            ref_errs=base_errs,
        )
        row.details.append(f"{max(1, self.a.n // 20)} spawns per measurement")
        nc, _ = self._engine_med("new", "spawn", "cpu_s")
        bc, _ = self._engine_med("baseline", "spawn", "cpu_s")
        row.details.append(_cpu_note(nc, bc, "CPU ns"))
        row.data = {"new_s": new, "baseline_s": base}
        return [row]

    def t_explore(self) -> list[Row]:
        argv = _script_module("_benchutil").explore_argv(self.a.schedules, "--all", "--json")

        def side(tree: Path) -> Callable[[], dict[str, Any]]:
            def go() -> dict[str, Any]:
                d = self.r.cli(tree, argv, ok_rcs=(0, 1, 3))
                j = d["json"] or {}
                n = j.get("schedules_run")
                if not n:
                    raise MeasureError("no schedules_run in explore's JSON")
                return {
                    "schedules": int(n),
                    "run_s": d["run_s"],
                    "run_cpu_s": d["run_cpu_s"],
                    "proc_wall_s": d["proc_wall_s"],
                    "verdict": j.get("verdict"),
                    "outcomes": j.get("outcomes"),
                }

            return go

        res, errs = interleaved(
            self.a.reps, {k: side(t) for k, t in self.trees().items()}, self.log
        )
        rate = {k: med([x["schedules"] / x["run_s"] for x in v]) for k, v in res.items()}
        cpu_rate = {k: med([x["schedules"] / x["run_cpu_s"] for x in v]) for k, v in res.items()}
        row = _ratio_row(
            "explore schedules/s",
            rate["new"],
            rate.get("baseline"),
            ">= 2x baseline",
            2.0,
            higher_is_better=True,
            fmt=lambda x: "-" if x is None else f"{x:.1f} sched/s",
            new_errs=errs["new"],
            ref_errs=errs.get("baseline", ["no --baseline"]),
        )
        for k, v in res.items():
            if v:
                row.details.append(
                    f"{k}: {v[0]['schedules']} schedules, {v[0]['verdict']}, "
                    f"command {med([x['run_s'] for x in v]):.2f}s in-process, "
                    f"process {med([x['proc_wall_s'] for x in v]):.2f}s"
                )
        row.details.append(_cpu_note(cpu_rate.get("new"), cpu_rate.get("baseline")))
        row.data = {"runs": res, "errors": errs}
        return [row]

    def t_bench_drain(self) -> list[Row]:
        counts = [64, 512, 1024]

        def side(n: int) -> Callable[[], dict[str, Any]]:
            argv = [
                "bench",
                "--cpus-list",
                str(n),
                "--designs",
                self.a.design,
                "--seeds",
                "1",
                "--json",
            ]

            def go() -> dict[str, Any]:
                d = self.r.cli(self.new, argv, ok_rcs=(0, 1, 2, 3))
                if d["rc"] == 2:
                    msg = _tail(d["stderr"], 200)
                    if "512" in msg:
                        return {"refused": f"refused (cap): {msg}"}
                    raise MeasureError(f"bench at {n} CPUs refused: {msg}")
                cells = (d["json"] or {}).get("cells") or []
                if not cells or not cells[0].get("steps"):
                    raise MeasureError(f"bench at {n} CPUs: no cell with steps")
                c = cells[0]
                return {
                    "step_s": c["wall_s"] / c["steps"],
                    "steps": c["steps"],
                    "wall_s": c["wall_s"],
                    "outcomes": c.get("outcomes"),
                    "maxrss_mib": d["maxrss_kib"] / 1024,
                }

            return go

        res, errs = interleaved(self.a.reps, {str(n): side(n) for n in counts}, self.log)

        def stat(n: int, key: str) -> tuple[float | None, str]:
            runs = res[str(n)]
            refused = [x["refused"] for x in runs if "refused" in x]
            vals = [x[key] for x in runs if key in x]
            if vals:
                return med(vals), ""
            if refused:
                return None, refused[0]
            return None, f"failed: {_first_err(errs[str(n)])}"

        s64, w64 = stat(64, "step_s")
        s512, w512 = stat(512, "step_s")
        s1024, w1024 = stat(1024, "step_s")
        step = Row("bench-drain step cost 1024 vs 64 CPUs", goal="<= 1.3x")
        step.new = _ns(s1024) if s1024 is not None else (w1024.split(":")[0] or "-")
        step.ref = _ns(s64)
        if s1024 is not None and s64:
            step.ratio = s1024 / s64
            step.met = step.ratio <= 1.3
        else:
            step.why = w1024 if s1024 is None else f"64 CPUs {w64}"
            step.why = step.why.split(":")[0] if step.why.startswith("refused") else step.why
        for n, s, w in ((64, s64, w64), (512, s512, w512), (1024, s1024, w1024)):
            runs = [x for x in res[str(n)] if "steps" in x]
            if s is not None and runs:
                step.details.append(
                    f"{n} CPUs: {_ns(s)}/step ({runs[0]['steps']} steps, "
                    f"{med([x['wall_s'] for x in runs]):.2f}s, {runs[0]['outcomes']})"
                )
            else:
                step.details.append(f"{n} CPUs: {w}")
        if s512 is not None and s64:
            step.details.append(f"512 vs 64 CPUs (info): {s512 / s64:.2f}x")
        r64, _ = stat(64, "maxrss_mib")
        r512, _ = stat(512, "maxrss_mib")
        r1024, wr = stat(1024, "maxrss_mib")
        rss = Row("bench-drain peak RSS at 1024 CPUs", goal="<= 80 MiB")
        rss.ref = "80 MiB"
        if r1024 is not None:
            rss.new = f"{r1024:.1f} MiB"
            rss.ratio = r1024 / 80
            rss.met = r1024 <= 80
        else:
            rss.new = wr.split(":")[0] if wr.startswith("refused") else "-"
            rss.why = rss.new if wr.startswith("refused") else wr
        for n, r in ((64, r64), (512, r512)):
            if r is not None:
                rss.details.append(f"{n} CPUs: {r:.1f} MiB peak RSS (whole child process)")
        st = self.startup()
        for k, v in st.items():
            if v.get("maxrss_mib") is not None:
                rss.details.append(
                    f'{k}: python -c "import pcptrio": {v["maxrss_mib"]:.1f} MiB, '
                    f"{v['wall_s']:.3f}s"
                )
        step.data = {"runs": res, "errors": errs}
        rss.data = {"maxrss_mib": {"64": r64, "512": r512, "1024": r1024}, "startup": st}
        return [step, rss]

    def t_matrix(self) -> list[Row]:
        goal = "<= 0.5x baseline"
        if self.a.quick and "matrix" not in (self.a.only or ""):
            return [_na("matrix wall", goal, "skipped by --quick")]
        # The target is over the wave-1 matrix: later rows are work v0.1.0 never did.
        cmd = [
            sys.executable,
            "-m",
            "pcptrio",
            "matrix",
            "--hazards",
            WAVE1_HAZARDS,
            "--designs",
            WAVE1_DESIGNS,
            "--json",
        ]

        def side(tree: Path) -> Callable[[], dict[str, Any]]:
            def go() -> dict[str, Any]:
                self.log(f"{tree}: pcptrio matrix --json")
                pr = self.r.proc(tree, cmd, timeout_s=self.a.matrix_timeout)
                if pr.rc not in (0, 1, 3):
                    raise MeasureError(f"matrix exited {pr.rc}: {_tail(pr.stderr)}")
                try:
                    j = json.loads(pr.stdout)
                except json.JSONDecodeError:
                    raise MeasureError("matrix output is not JSON") from None
                cells = len(j.get("cells") or [])
                return {"wall_s": pr.wall_s, "cpu_s": pr.cpu_s, "rc": pr.rc, "cells": cells}

            return go

        res, errs = interleaved(
            self.a.matrix_reps, {k: side(t) for k, t in self.trees().items()}, self.log
        )
        wall = {k: med([x["wall_s"] for x in v]) for k, v in res.items()}
        cpu = {k: med([x["cpu_s"] for x in v]) for k, v in res.items()}
        row = _ratio_row(
            "matrix wall",
            wall["new"],
            wall.get("baseline"),
            goal,
            0.5,
            higher_is_better=False,
            fmt=lambda x: "-" if x is None else f"{x:.1f} s",
            new_errs=errs["new"],
            ref_errs=errs.get("baseline", ["no --baseline"]),
        )
        for k, v in res.items():
            if v:
                row.details.append(
                    f"{k}: {v[0]['cells']} cells, exit {v[0]['rc']}, {len(v)} run(s)"
                )
        row.details.append(_cpu_note(cpu.get("new"), cpu.get("baseline"), "CPU s (with workers)"))
        row.data = {"runs": res, "errors": errs}
        return [row]

    def run(self, names: Sequence[str]) -> list[tuple[str, list[Row], float]]:
        table: dict[str, Callable[[], list[Row]]] = {
            "steady": self.t_steady,
            "wq-fanout": self.t_wq_fanout,
            "switch": self.t_switch,
            "handover": self.t_handover,
            "spawn": self.t_spawn,
            "explore": self.t_explore,
            "bench-drain": self.t_bench_drain,
            "matrix": self.t_matrix,
        }
        out = []
        for name in names:
            t0 = time.perf_counter()
            self.log(f"target {name}")
            try:
                rows = table[name]()
            except Exception as exc:
                msg = f"{type(exc).__name__}: {exc}"
                print(f"bench_targets: {name} failed: {msg}", file=sys.stderr)
                rows = [_na(name, "", f"error: {msg}")]
            out.append((name, rows, time.perf_counter() - t0))
        return out


# ------------------------------------------------------------------------------------ output


def render(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()

    sep = "-+-".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def report_text(
    results: list[tuple[str, list[Row], float]], args: argparse.Namespace, total_s: float
) -> str:
    out = [
        f"pcptrio Engine 2 targets: new {args.tree} vs baseline {args.baseline or '(none)'}",
        f"(median of {args.reps} interleaved repetition(s); matrix {args.matrix_reps}; "
        f"design {args.design}; {total_s:.0f}s total)",
        "",
    ]
    for name, rows, secs in results:
        out.append(f"{name} ({secs:.1f}s):")
        for r in rows:
            ratio = _x(r.ratio)
            out.append(f"  {r.target}: {r.new} vs {r.ref} = {ratio}  goal {r.goal}: {r.met_text()}")
            out.extend(f"      {d}" for d in r.details)
    out.append("")
    table = [
        [
            r.target,
            r.new,
            r.ref,
            _x(r.ratio),
            r.goal,
            r.met_text(),
        ]
        for _, rows, _ in results
        for r in rows
    ]
    out.append(render(["target", "new", "baseline/reference", "ratio", "goal", "met"], table))
    return "\n".join(out)


# -------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tree", type=Path, default=SCRIPTS_DIR.parent, help="code tree under test")
    ap.add_argument("--baseline", type=Path, help="baseline tree (a worktree of v0.1.0)")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions (median)")
    ap.add_argument("--matrix-reps", type=int, default=1, help="repetitions of the matrix")
    ap.add_argument("--only", help=f"comma-separated targets: {','.join(TARGETS)}")
    ap.add_argument("--quick", action="store_true", help="1 rep, smaller loops, no matrix")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--verbose", "-v", action="store_true", help="log each child to stderr")
    ap.add_argument("--design", default="wq-4.11", help="design for steady and bench-drain")
    ap.add_argument("--ops", type=int, default=5000, help="steady: ops per CPU")
    ap.add_argument("--schedules", type=int, default=500, help="explore: schedules")
    ap.add_argument("--n", type=int, default=200_000, help="engine loops: points per run")
    ap.add_argument("--wq-cpus", default="64,512", help="wq-fanout CPU counts")
    ap.add_argument("--items", type=int, default=8192, help="wq-fanout: works per measurement")
    ap.add_argument("--bare-cpus", type=int, default=8, help=argparse.SUPPRESS)
    ap.add_argument("--bare-cycles", type=int, default=48, help=argparse.SUPPRESS)
    ap.add_argument("--which", default="", help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=300, help="seconds per child process")
    ap.add_argument("--matrix-timeout", type=float, default=600, help="seconds per matrix run")
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # child mode
    ap.add_argument("cli_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.cli_args and args.cli_args[0] == "--":
        args.cli_args = args.cli_args[1:]
    if args.measure is None:
        if args.cli_args:
            ap.error(f"unexpected arguments: {' '.join(args.cli_args)}")
        if args.quick:
            args.reps = 1
            args.matrix_reps = 1
            args.n = min(args.n, 50_000)
        args.tree = args.tree.resolve()
        if args.baseline is not None:
            args.baseline = args.baseline.resolve()
        for p in (args.tree, args.baseline):
            if p is not None and not (p / "pcptrio" / "__init__.py").is_file():
                ap.error(f"{p} is not a pcptrio tree (no pcptrio/__init__.py)")
        if args.reps < 1 or args.matrix_reps < 1:
            ap.error("--reps and --matrix-reps must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.measure is not None:
        child_main(args)
        return 0
    names = list(TARGETS)
    if args.only:
        names = [x.strip() for x in args.only.split(",") if x.strip()]
        unknown = [x for x in names if x not in TARGETS]
        if unknown:
            print(f"bench_targets: unknown target(s) {unknown}; known: {TARGETS}", file=sys.stderr)
            names = [x for x in names if x in TARGETS]
    runner = Runner(args.timeout, args.verbose)
    t0 = time.perf_counter()
    try:
        results = Bench(args, runner).run(names)
    finally:
        runner.close()
    total = time.perf_counter() - t0
    if args.json:
        data = {
            "tree": str(args.tree),
            "baseline": str(args.baseline) if args.baseline else None,
            "reps": args.reps,
            "matrix_reps": args.matrix_reps,
            "total_s": total,
            "targets": {
                name: {
                    "seconds": secs,
                    "rows": [asdict(r) | {"met_text": r.met_text()} for r in rows],
                }
                for name, rows, secs in results
            },
        }
        print(json.dumps(data, indent=2, default=str))
    else:
        print(report_text(results, args, total))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
