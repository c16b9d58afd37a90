"""Faults: Ctrl-C and ``kill -9`` lose nothing, a design stuck in a loop does not hang.

Signals need a real process: those tests start ``python -m pcptrio`` and signal it once it
is provably at work (a line on stderr, records in its JSONL file, a marker file its design
touches), and every wait is bounded.  They use ``/proc`` and POSIX signals: Linux only.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import pcptrio
from pcptrio._core import BadInput, RandomScheduler
from pcptrio._explore import CampaignConfig, explore, make_run_spec, run_matrix, run_spec
from pcptrio.cli import main, write_file

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="needs /proc and POSIX signals (Linux)"
)

ROOT = pathlib.Path(pcptrio.__file__).resolve().parent.parent

#: The documented most worker processes: the larger of 64 and four per CPU.
MAX_JOBS = max(64, 4 * (os.cpu_count() or 1))

#: Designs for these tests, imported by name (``faulty:...``) from a temporary directory.
FAULTY = '''\
"""Drains that misbehave on purpose (tests/test_faults.py)."""

import os
import pathlib


def _mark() -> None:
    marker = os.environ.get("PCPTRIO_TEST_MARKER")
    if marker:
        pathlib.Path(marker).touch()


async def spin(m, zone, force_all_cpus):
    """Never takes a scheduling point."""
    _mark()
    while True:
        pass


async def sometimes_spin(m, zone, force_all_cpus):
    """Spins in the schedules that say so; drains every CPU by IPI in the others."""
    if m.engine.chance("spin", 0.5):
        while True:
            pass

    async def drain_local(z):
        await m.drain_local_pages(z)

    await m.on_each_cpu_mask(m.online_cpus(), drain_local, zone, True)


async def interrupted(m, zone, force_all_cpus):
    """What Ctrl-C does to a design in the middle of a drain."""
    raise KeyboardInterrupt


async def exits(m, zone, force_all_cpus):
    raise SystemExit(4)
'''

#: A campaign of a few hundred ms per schedule: long enough to be interrupted midway.
CAMPAIGN = ["explore", "steady", "--design", "wq-4.11", "--param", "ops=1500"]
CAMPAIGN += ["--schedules", "12", "--json", "--quiet"]


@pytest.fixture(scope="module")
def designs(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    d = tmp_path_factory.mktemp("designs")
    (d / "faulty.py").write_text(FAULTY)
    return d


@pytest.fixture
def importable(designs: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(designs))
    yield
    sys.modules.pop("faulty", None)


def _env(designs: pathlib.Path | None = None, **extra: str) -> dict[str, str]:
    paths = [str(ROOT), *([str(designs)] if designs else []), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **extra}


@pytest.fixture(autouse=True)
def _sigint_as_a_terminal_has_it() -> Iterator[None]:
    """Children get Ctrl-C's default action, as under a terminal, even when the tests run in
    the background of a shell without job control: that starts them with SIGINT ignored,
    an ignored signal stays ignored across exec, and Python then installs no handler."""
    old = signal.getsignal(signal.SIGINT)
    if old == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if old == signal.SIG_IGN:
            signal.signal(signal.SIGINT, old)


def _start(args: list[str], env: dict[str, str], err: pathlib.Path) -> subprocess.Popen[bytes]:
    with err.open("wb") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "pcptrio", *args],
            stdout=subprocess.PIPE,
            stderr=fh,
            env=env,
        )


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pcptrio", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _wait(cond: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def _records(path: pathlib.Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines()[1:]:
        with contextlib.suppress(ValueError):  # a line being written
            out.append(json.loads(line))
    return out


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry))
    return kids


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _interrupt(p: subprocess.Popen[bytes], err: pathlib.Path) -> tuple[int, str, bytes]:
    p.send_signal(signal.SIGINT)
    try:
        out, _ = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()  # never leave a spinning process behind a failed test
        p.communicate()
        raise
    return p.returncode, err.read_text(), out


def _assert_interrupted(rc: int, err: str) -> None:
    assert rc == 130, err[-2000:]
    assert err.splitlines()[-1] == "pcptrio: interrupted", err[-2000:]
    assert "Traceback" not in err and "Warning" not in err, err[-2000:]


# ---------------------------------------------------------------------------- Ctrl-C


@linux_only
def test_sigint_during_run_prints_interrupted_and_exits_130(tmp_path: pathlib.Path) -> None:
    """Ctrl-C in the middle of a long run ends it at once: one line, exit 130, no traceback
    and no run reported as a model error."""
    err = tmp_path / "err"
    args = ["run", "steady", "--design", "wq-4.11", "--param", "ops=200000"]
    p = _start([*args, "--log-level", "debug"], _env(), err)
    _wait(lambda: err.stat().st_size > 10_000, "the run to log its steps")
    rc, text, out = _interrupt(p, err)
    _assert_interrupted(rc, text)
    assert out == b""


@linux_only
def test_sigint_stops_a_design_that_never_yields(
    tmp_path: pathlib.Path, designs: pathlib.Path
) -> None:
    """Ctrl-C reaches a design spinning in ``while True: pass`` (no run guard)."""
    err, marker = tmp_path / "err", tmp_path / "spinning"
    env = _env(designs, PCPTRIO_TEST_MARKER=str(marker))
    p = _start(["run", "steady", "--design", "faulty:spin", "--run-timeout", "0"], env, err)
    _wait(marker.exists, "the design to start spinning")
    time.sleep(0.2)
    _assert_interrupted(*_interrupt(p, err)[:2])


@pytest.fixture(scope="module")
def uninterrupted() -> str:
    p = _cli([*CAMPAIGN, "--jobs", "1"], _env())
    assert p.returncode == 0, p.stderr
    return p.stdout


@linux_only
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigint_during_explore_records_nothing_and_resume_finishes_it(
    tmp_path: pathlib.Path, uninterrupted: str, jobs: str
) -> None:
    """Ctrl-C mid-campaign: exit 130, the interrupted schedules are not in the file (no
    ``error`` records, no live workers), and ``--resume`` ends with exactly the answer of a
    campaign never interrupted."""
    out, err = tmp_path / "c.jsonl", tmp_path / "err"
    p = _start([*CAMPAIGN, "--jobs", jobs, "--out", str(out)], _env(), err)
    _wait(lambda: len(_records(out)) >= 3, "three records in the campaign file")
    workers = _children(p.pid)
    rc, text, _ = _interrupt(p, err)
    _assert_interrupted(rc, text)
    kept = _records(out)
    assert 3 <= len(kept) < 12
    assert {r["outcome"] for r in kept} == {"ok"}
    assert not [w for w in workers if _alive(w)]
    again = _cli([*CAMPAIGN, "--jobs", jobs, "--resume", str(out)], _env())
    assert again.returncode == 0, again.stderr
    assert again.stdout == uninterrupted


def test_interrupt_in_model_code_is_raised_not_recorded(
    importable: None, tmp_path: pathlib.Path
) -> None:
    """A KeyboardInterrupt or SystemExit out of a design ends the run by propagating, bare;
    a campaign stops on it and keeps no record of the schedule it interrupted."""
    spec = make_run_spec("steady", "faulty:interrupted")
    with pytest.raises(KeyboardInterrupt):
        run_spec(spec, RandomScheduler(0))
    with pytest.raises(SystemExit) as info:
        run_spec(make_run_spec("steady", "faulty:exits"), RandomScheduler(0))
    assert info.value.code == 4
    out = tmp_path / "c.jsonl"
    with pytest.raises(KeyboardInterrupt):
        explore(CampaignConfig(spec, scheduler="random", schedules=3), out=out)
    assert out.read_text().count("\n") == 1  # the header only


# ---------------------------------------------------------------------------- kill -9


@linux_only
@pytest.mark.parametrize(
    "args",
    [
        [*CAMPAIGN, "--jobs", "2", "--param", "ops=3000", "--schedules", "200"],
        ["matrix", "--jobs", "2", "--budget", "50", "--json", "--quiet"],
    ],
    ids=["explore", "matrix"],
)
def test_kill_9_takes_the_workers_along(tmp_path: pathlib.Path, args: list[str]) -> None:
    """``kill -9`` of the parent: its workers die within seconds, so a reader of its output
    sees end-of-file instead of waiting forever."""
    out, err = tmp_path / "c.jsonl", tmp_path / "err"
    extra = ["--out", str(out)] if args[0] == "explore" else []
    p = _start([*args, *extra], _env(), err)
    _wait(lambda: len(_children(p.pid)) >= 2, "two workers")
    if extra:
        _wait(lambda: len(_records(out)) >= 1, "a record in the campaign file")
    else:
        time.sleep(0.5)
    workers = _children(p.pid)
    p.kill()
    p.wait(timeout=10)
    _wait(lambda: not [w for w in workers if _alive(w)], "the workers to die", timeout=5)
    assert p.stdout is not None
    assert isinstance(p.stdout.read(), bytes)  # end-of-file: nobody holds the pipe open


def test_jobs_are_bounded_and_capped_at_the_work(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    """More workers than MAX_JOBS is refused as bad input; a pool never gets more workers
    than there are tasks for it."""
    spec = make_run_spec("steady", "wq-4.11")
    with pytest.raises(BadInput, match=f"at most {MAX_JOBS} worker processes"):
        CampaignConfig(spec, jobs=MAX_JOBS + 1).validate()
    with pytest.raises(BadInput, match=f"at most {MAX_JOBS} worker processes"):
        run_matrix(["ipi"], ["shared-mask-race"], jobs=MAX_JOBS + 1)
    import concurrent.futures as cf

    sizes: list[int | None] = []

    class Spy(cf.ProcessPoolExecutor):
        def __init__(self, max_workers: int | None = None, **kw: Any) -> None:
            sizes.append(max_workers)
            super().__init__(max_workers, **kw)

    monkeypatch.setattr(cf, "ProcessPoolExecutor", Spy)
    res = explore(CampaignConfig(spec, scheduler="random", schedules=3, jobs=8))
    assert res.schedules_run == 3
    cells = run_matrix(["ipi", "wq-4.11"], ["shared-mask-race"], budget=1, jobs=8)
    assert len(cells.cells) == 2
    assert sizes == [3, 2]


# ---------------------------------------------------------------------------- the run guard


@linux_only
def test_run_timeout_makes_a_spinning_schedule_an_error_and_goes_on(
    designs: pathlib.Path,
) -> None:
    """A schedule stuck in ``while True: pass`` ends as ``error`` after ``--run-timeout``,
    the next schedule runs normally, the campaign is inconclusive, the same in worker
    processes, and the error's token replays to the same error."""
    env = _env(designs)
    args = ["explore", "steady", "--design", "faulty:sometimes_spin", "--param", "drains=1"]
    args += ["--scheduler", "random", "--seed", "3", "--schedules", "4", "--all"]
    args += ["--run-timeout", "1", "--json", "--quiet"]
    one = _cli([*args, "--jobs", "1"], env)
    assert one.returncode == 3, one.stderr
    res = json.loads(one.stdout)
    assert res["verdict"] == "inconclusive"
    # Seed 3: schedule 0 spins, the three after it drain and end ok.
    assert (res["outcomes"]["error"], res["outcomes"]["ok"]) == (1, 3), res["outcomes"]
    first = res["first_error"]
    assert first["index"] == 0
    assert first["error"].startswith("no scheduling point for 1 s in drainer"), first
    two = _cli([*args, "--jobs", "2"], env)
    assert (two.returncode, two.stdout) == (3, one.stdout)
    again = _cli(["replay", first["token"], "--allow-import", "--run-timeout", "1", "--json"], env)
    assert again.returncode == 3, again.stderr
    assert json.loads(again.stdout)["error"].splitlines()[0] == first["error"]


@linux_only
def test_run_guard_changes_no_decision_and_no_trace() -> None:
    """A run guarded by run_timeout_s is the run unguarded, bit for bit."""
    spec = make_run_spec("shared-mask-race", "wq-rfc")
    before = signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGINT)
    plain = run_spec(spec, RandomScheduler(3))
    guarded = run_spec(spec, RandomScheduler(3), run_timeout_s=30)
    assert guarded.trace_sha256 == plain.trace_sha256
    assert guarded.decision_list == plain.decision_list
    # Everything the guard armed is disarmed and handed back.
    assert (signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGINT)) == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@linux_only
def test_run_guard_stands_aside_off_the_main_thread() -> None:
    """Signals reach the main thread only: a run made in another thread is simply unguarded
    (and Ctrl-C is left to the main thread), never an error."""
    spec = make_run_spec("shared-mask-race", "wq-rfc")
    before = signal.getsignal(signal.SIGALRM)
    results: list[Any] = []
    t = threading.Thread(
        target=lambda: results.append(run_spec(spec, RandomScheduler(3), run_timeout_s=5))
    )
    t.start()
    t.join(timeout=60)
    assert [r.trace_sha256 for r in results] == [run_spec(spec, RandomScheduler(3)).trace_sha256]
    assert signal.getsignal(signal.SIGALRM) == before


def test_run_timeout_is_validated(capsys: pytest.CaptureFixture[str]) -> None:
    """A negative timeout is bad input, in the library and on the command line."""
    spec = make_run_spec("steady", "wq-4.11")
    with pytest.raises(BadInput, match="run_timeout_s"):
        CampaignConfig(spec, run_timeout_s=-1).validate()
    assert main(["run", "steady", "--design", "wq-4.11", "--run-timeout", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--run-timeout" in err and ">= 0" in err


# ---------------------------------------------------------------------------- write_file

TEMP = re.compile(r"\.out\.json\.pcptrio-(\d+)-\w+\.tmp")


def test_write_file_removes_stale_temp_files_and_keeps_live_ones(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer killed mid-write leaves ``.NAME.pcptrio-<pid>-XXXX.tmp``; the next write of
    that target removes it (its pid is gone) but keeps a live writer's and other targets'."""
    target = tmp_path / "out.json"
    crash = (
        "import os, sys; from pcptrio.cli import write_file; "
        "os.replace = lambda *a: os._exit(9); write_file(sys.argv[1], 'half', False)"
    )
    with subprocess.Popen([sys.executable, "-c", crash, str(target)], env=_env()) as dead:
        assert dead.wait(timeout=60) == 9
    (stale,) = os.listdir(tmp_path)
    m = TEMP.fullmatch(stale)
    assert m is not None and m.group(1) == str(dead.pid), stale
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        try:
            mine = f".out.json.pcptrio-{live.pid}-abcd1234.tmp"
            other = f".other.json.pcptrio-{dead.pid}-abcd1234.tmp"
            for name in (mine, other):
                (tmp_path / name).write_text("in progress")
            synced: list[bool] = []
            real_fsync = os.fsync

            def fsync(fd: int) -> None:
                synced.append(os.path.isdir(f"/proc/self/fd/{fd}"))
                real_fsync(fd)

            monkeypatch.setattr(os, "fsync", fsync)
            write_file(str(target), "whole", force=False)
            assert target.read_text() == "whole"
            assert sorted(os.listdir(tmp_path)) == sorted([mine, other, "out.json"])
            if sys.platform.startswith("linux"):
                assert synced == [False, True]  # the file, then its directory
        finally:
            live.kill()
