"""Many campaigns spread over one executor as chunk tasks (the matrix's cells).

Each campaign is cut into chunks of schedule indices, and the chunks of all campaigns share
the executor (the local process pool, a Dask cluster, or this process), so one slow campaign
does not straggle: near the end, its chunks fill the workers the finished ones left.

* A campaign's first task calibrates PCT's ``k`` and runs schedule 0 (both in the worker); it
  also times the schedule, and the campaign's next chunks grow from 8 schedules towards
  ``chunk_s`` seconds of work each (a found failure wastes little; a long clean campaign is
  not cut into crumbs).  Chunk boundaries never change a result: the schedule seeds come
  from the campaign seed and the index, and a campaign's answer is its lowest failing index
  with every lower index run (as in :func:`explore` with several processes).
* The next chunk goes to the open campaign with the fewest chunks in flight (then the
  earliest): campaigns start side by side, and only the last ones are split across workers.
* Once a campaign's lowest failure is known, its queued chunks past it are cancelled; when
  every index up to it (or the whole budget) is in, the campaign is complete.  A found
  failure is shrunk as one more task (in the worker, as a cell of the matrix has always
  been), and ``on_done`` gets the result.
* ``time_budget_s``: no chunk is submitted after it; what is running finishes, and a
  campaign that completes is still shrunk (its token must not depend on timing).  A
  campaign that got some schedules but not all is reported with ``timed_out`` set; one
  that got none is not reported (the caller says "not run").

Wall-clock times here only size the chunks; they never reach a result.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .._core import BadInput
from ._campaign import (
    CLUSTER_CHUNK_S,
    CampaignConfig,
    CampaignResult,
    _Done,
    _failure_from,
    _result,
    _run_chunk,
    calibrate,
    chunk_config,
)
from ._cluster import checked_submit, cluster_executor
from ._run import run_timeout, spec_from_json
from ._shrink import shrink_failure
from ._workers import worker_count, worker_pool

__all__ = ["POOL_CHUNK_S", "Submit", "run_campaigns", "spread", "submit_inline"]

#: Seconds of work per chunk on the local pool (a task costs well under a millisecond there).
POOL_CHUNK_S = 0.25

#: ``submit(fn, *args)``: the executor's ``submit`` (wrapped, on a cluster, by the code check).
Submit = Callable[..., "cf.Future[Any]"]
#: ``on_done(i, result, steps_before)``: campaign ``i`` is complete (``steps_before``: the
#: failure's steps before shrinking, when it was shrunk).
OnDone = Callable[[int, CampaignResult, "int | None"], None]

_FIRST_CHUNK = 8  # schedules in a campaign's second chunk; each next one is 4x, up to chunk_s
_GROWTH_BITS = 2


def submit_inline(fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
    """``fn(*args)`` run here, now, as a finished future (the one-process executor)."""
    fut: cf.Future[Any] = cf.Future()
    try:
        fut.set_result(fn(*args))
    except Exception as exc:
        fut.set_exception(exc)
    return fut


def _chunk_task(
    spec_json: dict[str, Any], cdict: dict[str, Any], indices: list[int], k: int | None
) -> tuple[int, list[dict[str, Any]], float]:
    """``(k, records, seconds)`` of schedules ``indices`` (in a worker); ``k`` None:
    calibrate it here first (not timed)."""
    spec = spec_from_json(spec_json, trusted=True)  # made by the driver's own process
    if k is None:
        k = calibrate(spec, cdict)
    t0 = time.perf_counter()
    recs = _run_chunk(spec_json, cdict, indices, k)
    return k, recs, time.perf_counter() - t0


def _shrink_task(
    spec_json: dict[str, Any], cfg_kw: dict[str, Any], rec: dict[str, Any], budget: int
) -> tuple[Any, int]:
    """The failure of record ``rec``, shrunk (in a worker): ``(failure, steps before)``."""
    spec = spec_from_json(spec_json, trusted=True)
    cfg = CampaignConfig(spec, **cfg_kw)
    found = CampaignResult(cfg, "found", 0, _failure_from(rec, spec_json), {})
    with run_timeout(cfg.run_timeout_s):  # every replay of the shrinking is guarded too
        f = shrink_failure(found, budget=budget)
    before = f.shrink.steps_before if f.shrink is not None else f.steps
    return attrs.evolve(f, shrink=None), before  # the final run stays in the worker


@attrs.define(eq=False)
class _Open:
    """One campaign while it runs."""

    i: int
    cfg: CampaignConfig
    spec_json: dict[str, Any]
    cdict: dict[str, Any]
    done: _Done = attrs.field(factory=_Done)
    k: int | None = None
    per_s: float | None = None  # seconds per schedule, from the latest chunk
    #: The lowest index neither submitted nor resumed (the budget when none is left): a
    #: cursor, not a list of every index, which a budget of millions would make huge.
    next: int = 0
    chunks: int = 0
    busy_s: float = 0.0  # the seconds its chunks ran (reported as ``search_s``)
    inflight: dict[cf.Future[Any], int] = attrs.field(factory=dict)  # future -> start
    first_fail: int | None = None
    shrinking: bool = False

    @property
    def limit(self) -> int:
        """The highest index the answer needs."""
        return self.cfg.schedules - 1 if self.first_fail is None else self.first_fail

    def wants(self) -> bool:
        if self.shrinking or self.next > self.limit:
            return False
        return not (self.k is None and self.inflight)  # wait for the calibration

    def complete(self) -> bool:
        return self.next > self.limit and all(s > self.limit for s in self.inflight.values())

    def add(self, rec: dict[str, Any]) -> bool:
        """Take record ``rec`` in (a failure moves ``first_fail`` down); False when its index
        was already in."""
        if not self.done.add(rec):
            return False
        if "signature" in rec:
            i = rec["index"]
            self.first_fail = i if self.first_fail is None else min(self.first_fail, i)
        return True

    def skip_done(self) -> None:
        """Move ``next`` past the indices already done (only resumed ones can be: nothing at
        or past ``next`` was submitted)."""
        while self.next < self.cfg.schedules and self.next in self.done:
            self.next += 1

    def take(self, n: int) -> list[int]:
        """The next ``n`` indices to submit (none past the limit)."""
        out: list[int] = []
        while len(out) < n and self.next <= self.limit:
            out.append(self.next)
            self.next += 1
            self.skip_done()
        return out

    def size(self, chunk_s: float) -> int:
        if self.k is None:
            return 1
        want = _FIRST_CHUNK << (_GROWTH_BITS * min(8, max(0, self.chunks - 1)))
        if self.per_s is not None:
            want = min(want, max(1, round(chunk_s / self.per_s)))
        return max(1, want)


def run_campaigns(
    cfgs: Sequence[CampaignConfig],
    submit: Submit,
    inflight: int,
    on_done: OnDone,
    *,
    chunk_s: float,
    shrink_budget: int,
    time_budget_s: float | None = None,
    on_error: str | None = None,
    resumed: Sequence[Sequence[dict[str, Any]]] | None = None,
    on_record: Callable[[int, dict[str, Any]], None] | None = None,
) -> None:
    """Run the campaigns ``cfgs`` (each ``stop_at_first``, one process per chunk) with at
    most ``inflight`` tasks submitted at a time; see the module docstring.  A task that
    raises ends the whole run (as ``BadInput(f"{on_error}: …")`` if ``on_error`` is given).
    ``resumed[i]``: records campaign ``i`` already has (only the others run);
    ``on_record(i, rec)``: each new record of campaign ``i``, as it comes in."""
    deadline = time.monotonic() + time_budget_s if time_budget_s is not None else None
    cells = []
    for i, cfg in enumerate(cfgs):
        c = _Open(i, cfg, cfg.spec.to_json(), chunk_config(cfg, None))
        for rec in resumed[i] if resumed is not None else ():
            if rec["index"] < cfg.schedules:
                c.add(rec)
        c.skip_done()
        cells.append(c)
    open_ = list(cells)
    owner: dict[cf.Future[Any], _Open] = {}

    def out_of_time() -> bool:
        return deadline is not None and time.monotonic() > deadline

    def result(c: _Open) -> CampaignResult:
        return attrs.evolve(_result(c.cfg, c.done, c.spec_json), search_s=c.busy_s)

    def finish(c: _Open) -> None:
        open_.remove(c)
        res = result(c)
        if res.failure is None or shrink_budget <= 0:
            on_done(c.i, res, None)
            return
        # Shrunk even past the time budget: a complete campaign's token must not depend on
        # when it completed (shrinking is bounded by ``shrink_budget`` replays).
        c.shrinking = True
        rec = c.done.full[res.failure.index]
        fut = submit(_shrink_task, c.spec_json, _config_kw(c.cfg), rec, shrink_budget)
        owner[fut] = c

    def submit_more() -> None:
        while len(owner) < inflight and not out_of_time():
            best = None
            for c in open_:
                if c.wants() and (best is None or len(c.inflight) < len(best.inflight)):
                    best = c
            if best is None:
                return
            chunk = best.take(best.size(chunk_s))
            fut = submit(_chunk_task, best.spec_json, best.cdict, chunk, best.k)
            best.inflight[fut] = chunk[0]
            best.chunks += 1
            owner[fut] = best

    for c in cells:  # everything it needs was resumed
        if c.complete() and c.k is None and len(c.done):
            finish(c)
    submit_more()
    while owner:
        done, _ = cf.wait(list(owner), return_when=cf.FIRST_COMPLETED)
        for fut in done:
            c = owner.pop(fut)
            try:
                value = fut.result()
            except Exception as exc:
                if on_error is None:
                    raise
                raise BadInput(f"{on_error}: {exc}") from None
            if fut not in c.inflight:  # the shrinking
                failure, before = value
                on_done(c.i, attrs.evolve(result(c), failure=failure), before)
                continue
            c.inflight.pop(fut)
            c.k, recs, secs = value
            c.busy_s += secs
            if recs:
                c.per_s = secs / len(recs)
            if c.shrinking or c not in open_:
                continue  # a chunk past the failure that could not be cancelled
            for rec in recs:
                # (a record already in came from a retried task)
                if c.add(rec) and on_record is not None:
                    on_record(c.i, rec)
            if c.first_fail is not None:
                for f2, s in list(c.inflight.items()):
                    if s > c.first_fail and f2.cancel():
                        c.inflight.pop(f2)
                        owner.pop(f2)
            if c.complete():
                finish(c)
        submit_more()
    for c in open_:  # the time budget ran out
        if len(c.done):
            on_done(c.i, attrs.evolve(result(c), timed_out=True), None)


def _config_kw(cfg: CampaignConfig) -> dict[str, Any]:
    """``cfg`` without its spec, as plain data for a worker."""
    return {
        "scheduler": cfg.scheduler,
        "depth": cfg.depth,
        "switch_p": cfg.switch_p,
        "schedules": cfg.schedules,
        "seed": cfg.seed,
        "jobs": 1,
        "run_timeout_s": cfg.run_timeout_s,
    }


def spread(
    cfgs: Sequence[CampaignConfig],
    on_done: OnDone,
    *,
    jobs: int,
    cluster: str | None,
    shrink_budget: int,
    time_budget_s: float | None = None,
    **kw: Any,
) -> None:
    """:func:`run_campaigns` on the executor ``jobs`` and ``cluster`` ask for: the Dask
    ``cluster`` (chunks of ~1 s, four tasks per worker in flight: a Dask task takes
    milliseconds to go out and come back), this process (``jobs == 1``), or a pool of
    ``jobs`` worker processes (chunks of ~0.25 s, two tasks per worker).  ``kw``:
    ``resumed``, ``on_record``."""
    if cluster is not None:
        with cluster_executor(cluster) as (ex, workers):
            run_campaigns(
                cfgs,
                checked_submit(ex),
                4 * workers,
                on_done,
                chunk_s=CLUSTER_CHUNK_S,
                shrink_budget=shrink_budget,
                time_budget_s=time_budget_s,
                on_error=f"a campaign failed on the cluster {cluster}",
                **kw,
            )
        return
    if jobs == 1:
        run_campaigns(
            cfgs,
            submit_inline,
            1,
            on_done,
            chunk_s=POOL_CHUNK_S,
            shrink_budget=shrink_budget,
            time_budget_s=time_budget_s,
            **kw,
        )
        return
    # no more workers than there are schedules to run (a chunk is at least one)
    jobs = worker_count(jobs, sum(c.schedules for c in cfgs))
    with worker_pool(jobs) as pool:
        run_campaigns(
            cfgs,
            pool.submit,
            2 * jobs,
            on_done,
            chunk_s=POOL_CHUNK_S,
            shrink_budget=shrink_budget,
            time_budget_s=time_budget_s,
            **kw,
        )
