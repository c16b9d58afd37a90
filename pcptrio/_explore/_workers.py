"""Worker processes: the one pool campaigns and the matrix run in, tied to its parent's life.

Why
---
A ``ProcessPoolExecutor`` worker waits for work on a pipe that every sibling also holds open,
so when the parent is killed (``kill -9``, the OOM killer) no worker ever sees end-of-file:
each one waits forever, holding the campaign's JSONL file and the caller's stdout open (a
wrapper reading the output to EOF hangs with them).  So each worker asks the kernel for a
parent-death signal (``prctl(2)``, ``PR_SET_PDEATHSIG``): SIGKILL when its parent dies, so
they go together::

    pcptrio explore --jobs 2          kill -9 ──▶ parent gone
     ├── worker 1  (PDEATHSIG=KILL)   ◀── SIGKILL from the kernel
     └── worker 2  (PDEATHSIG=KILL)   ◀── SIGKILL from the kernel

Ctrl-C belongs to the parent: workers ignore SIGINT (a terminal sends it to the whole process
group), and a parent leaving the pool by an exception (a ``KeyboardInterrupt``) kills its
workers instead of waiting for their chunks; whatever they were running is never recorded.

Limits
------
* Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` fires when the *thread* that forked the worker
  ends, not only its process.  The pool forks at its first ``submit``, from the submitting
  thread, and :func:`worker_pool` is a ``with`` block inside one call, so that thread
  outlives the pool.  A parent gone before the request took effect is caught by the
  ``os.getppid()`` check right after it.
* Elsewhere a daemon thread in each worker polls ``os.getppid()`` every half second and ends
  the worker once it changed (it was re-parented): up to that delay late, blind where an
  orphan keeps its parent's pid (Windows, where the pool uses ``spawn``), and held up by a
  worker stuck in C code that keeps the GIL.
* Killing the workers of a pool left by an exception uses ``kill_workers()`` on Python 3.14
  and the executor's private ``_processes`` before it.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

from .._core import BadInput

__all__ = ["MAX_JOBS", "check_jobs", "worker_count", "worker_pool"]

#: The most worker processes a campaign or the matrix may ask for: the larger of 64 and four
#: per CPU.  More only costs memory and fork time; it cannot make a campaign faster.
MAX_JOBS = max(64, 4 * (os.cpu_count() or 1))

#: ``<sys/prctl.h>``: deliver a signal to this process when its parent thread dies.
_PR_SET_PDEATHSIG = 1

#: How often the watcher thread (where prctl is missing) looks for a new parent, seconds.
_WATCH_S = 0.5


def check_jobs(jobs: int, what: str = "jobs") -> None:
    """Refuse a worker count outside ``1..MAX_JOBS`` (BadInput, named ``what``)."""
    if jobs < 1:
        raise BadInput(f"{what} must be at least 1, got {jobs}")
    if jobs > MAX_JOBS:
        raise BadInput(
            f"{what} must be at most {MAX_JOBS} worker processes (the larger of 64 and 4 per "
            f"CPU of this machine), got {jobs}"
        )


def worker_count(jobs: int, tasks: int) -> int:
    """Workers worth forking for ``tasks`` independent tasks: never more than the tasks."""
    return max(1, min(jobs, tasks))


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[cf.ProcessPoolExecutor]:
    """A process pool of ``workers`` workers (``fork`` where there is one, as the campaign
    needs user designs imported in the parent) that die with this process (module
    docstring).  Left by an exception, the pool kills its workers and cancels what is left
    rather than waiting for it.

    Example::

        with worker_pool(worker_count(jobs, len(tasks))) as pool:
            results = list(pool.map(run_task, tasks))
    """
    ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    pool = cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(),)
    )
    try:
        yield pool
    except BaseException:
        _kill_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _kill_workers(pool: cf.ProcessPoolExecutor) -> None:
    kill = getattr(pool, "kill_workers", None)  # Python 3.14
    if callable(kill):
        kill()
        return
    # Before 3.14 the pool keeps its processes, by pid, in this private mapping.
    procs = getattr(pool, "_processes", None) or {}
    for proc in list(procs.values()):
        with contextlib.suppress(Exception):  # already gone, or never started
            proc.kill()


def _init_worker(parent: int) -> None:
    """In each worker, before any task: leave Ctrl-C to the parent; die with the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not _set_pdeathsig():
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _set_pdeathsig() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where that is missing."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    prctl.restype = ctypes.c_int
    return bool(prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0)


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(_WATCH_S)
        if os.getppid() != parent:
            os._exit(1)
