"""Campaigns on a Dask cluster (the optional ``pcptrio[dask]`` extra).

``cluster`` is ``local:N`` (a ``LocalCluster`` of N single-threaded worker processes, started
for the run and stopped after it) or a scheduler address (``tcp://HOST:8786``) of a cluster
someone started.  Either way the campaign gets a ``concurrent.futures`` executor
(``client.get_executor()``), the same interface as the local process pool, so one loop
drives both: chunks of schedules are submitted, the records come back to the driver (whose
JSONL file is the only state: workers keep none, a retried chunk is harmless, records dedup
by index), and what is queued past the lowest failing index is cancelled.

Every chunk checks that the worker runs the driver's pcptrio code (``code_fingerprint()``):
results from other code are refused, never mixed.  A user design (``module:attr``) must be
importable on the workers (install its package there, or ``client.upload_file``); a worker
that cannot import it fails the campaign with that message.

A Dask scheduler port accepts code from anyone who can reach it: outside a trusted network,
use TLS (``tls://``) or an SSH tunnel.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import importlib
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from .._core import BadInput
from ._code import code_fingerprint

__all__ = ["check_cluster", "checked_submit", "cluster_executor", "run_checked"]

_LOCAL = re.compile(r"local:(\d+)")


def check_cluster(cluster: str) -> None:
    """Refuse a malformed ``--cluster`` before any work."""
    m = _LOCAL.fullmatch(cluster)
    if m is not None:
        if not 1 <= int(m.group(1)) <= 256:
            raise BadInput(f"--cluster local:N needs 1 <= N <= 256, got {cluster!r}")
        return
    if "://" not in cluster:
        raise BadInput(
            f"--cluster expects local:N or a scheduler address like tcp://HOST:8786, "
            f"got {cluster!r}"
        )


@contextlib.contextmanager
def cluster_executor(cluster: str) -> Iterator[tuple[cf.Executor, int]]:
    """``(executor, workers)`` of ``cluster`` (see the module docstring)."""
    check_cluster(cluster)
    try:
        dist: Any = importlib.import_module("distributed")  # the optional extra
    except ImportError:
        raise BadInput("--cluster needs dask.distributed: pip install 'pcptrio[dask]'") from None
    Client, LocalCluster = dist.Client, dist.LocalCluster
    m = _LOCAL.fullmatch(cluster)
    local: Any = None
    try:
        if m is not None:
            # The workers' statistical profiler samples the task thread's stack every 10 ms
            # (for the dashboard, which a run's own cluster does not serve): ~5% of a
            # campaign's time here.  The nannies pass this config on to their workers.
            dask: Any = importlib.import_module("dask")
            with dask.config.set({"distributed.worker.profile.enabled": False}):
                local = LocalCluster(
                    n_workers=int(m.group(1)),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            client = Client(local)
        else:
            client = Client(cluster, timeout="10s")
    except (OSError, TimeoutError) as exc:
        if local is not None:
            local.close()
        raise BadInput(f"cannot reach the Dask scheduler at {cluster}: {exc}") from None
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        yield client.get_executor(), workers
    finally:
        client.close()
        if local is not None:
            local.close()


def run_checked(fingerprint: str, design: str | None, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on a worker, after checking that it runs ``fingerprint``'s code (with
    ``design``'s module, for a user design)."""
    mine = code_fingerprint(design)
    if mine != fingerprint:
        raise RuntimeError(
            f"pcptrio code mismatch: this worker runs {mine}, the driver {fingerprint}"
        )
    return fn(*args)


def checked_submit(ex: cf.Executor) -> Callable[..., cf.Future[Any]]:
    """``submit(fn, spec_json, *args)`` on the cluster's executor ``ex``, each task checked
    by :func:`run_checked` against this process's code for its spec's design."""
    prints: dict[str, str] = {}

    def submit(fn: Callable[..., Any], spec: dict[str, Any], *args: Any) -> cf.Future[Any]:
        ref = spec["design"]
        if ref not in prints:
            prints[ref] = code_fingerprint(ref)
        return ex.submit(run_checked, prints[ref], ref, fn, spec, *args)

    return submit
