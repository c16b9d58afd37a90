"""Campaigns: one scenario × one design over many schedules.

Every schedule seed derives from the campaign seed (``sha256("<seed>:<index>")``), so a
campaign is reproducible: the same seed and budget give the same verdict, the same failing
schedule and the same token, whether it ran on one process or several.  With several worker
processes, schedules run in chunks out of order; the campaign's answer is the *lowest* failing
index, and every lower index is run before it is reported — so the result never depends on
timing.

Results stream to a JSON Lines file as they come (one header line with the configuration,
then one line per schedule), so an interrupted campaign keeps what it did; ``resume`` reads
the file back, skips the schedules it already holds, and ends with the same result as an
uninterrupted campaign.

Schedulers: ``random`` (seeded random walk), ``pct`` (depth d; its step estimate comes from a
calibration run of schedule 0, so it does not depend on execution order), and ``dfs`` (bounded
exhaustive search with a preemption bound; sequential by nature).  A campaign reports what it
searched — "200 pct-3 schedules, 0 failures", "all 1,204 schedules with <= 2 preemptions" —
never that a design is proved correct.
"""

from __future__ import annotations

import array
import concurrent.futures as cf
import contextlib
import hashlib
import itertools
import json
import os
import pathlib
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import attrs
import trio

from .._core import (
    BadInput,
    Decision,
    DFSScheduler,
    Outcome,
    PCTScheduler,
    RandomScheduler,
    RunResult,
    Scheduler,
    collect_run_garbage,
    encode_token,
    pack_decisions,
    quiet_gc,
    unpack_decisions,
)
from .._drain import design_ref
from ._cluster import check_cluster, cluster_executor, run_checked
from ._code import code_fingerprint
from ._jsonl import JsonlWriter, rewrite
from ._run import RunSpec, run_spec_async, run_timeout_here, spec_from_json
from ._verdict import OUTCOMES, campaign_verdict
from ._workers import check_jobs, worker_count, worker_pool

__all__ = [
    "SCHEDULERS",
    "CampaignConfig",
    "CampaignResult",
    "Failure",
    "ScheduleError",
    "code_fingerprint",
    "explore",
    "merge_shards",
    "schedule_seed",
]

SCHEDULERS = ("random", "pct", "portfolio", "dfs")

T = TypeVar("T")


def schedule_seed(campaign_seed: int, index: int) -> int:
    """The seed of schedule ``index`` of a campaign (independent of PYTHONHASHSEED)."""
    h = hashlib.sha256(f"pcptrio:{campaign_seed}:{index}".encode()).digest()
    return int.from_bytes(h[:8], "big")


@attrs.frozen
class CampaignConfig:
    """What a campaign searches.  ``schedules`` is the budget (runs), ``jobs`` processes
    (at most ``MAX_JOBS``; never more than there are chunks of schedules to run).

    ``run_timeout_s`` guards each schedule against a hang: one with no scheduling point for
    that long ends as ``error`` (0: unguarded; None: the ``run_timeout()`` around the call,
    if any).  Like ``jobs`` it is not part of what the campaign searches, so a campaign file
    resumes under another value."""

    spec: RunSpec
    scheduler: str = "pct"
    depth: int = 3
    switch_p: float = 0.2
    max_preemptions: int = 2
    schedules: int = 100
    seed: int = 0
    jobs: int = 1
    stop_at_first: bool = True
    run_timeout_s: float | None = None
    #: ``(K, N)``: run only the schedule indices ``i`` with ``i % N == K`` (a static shard;
    #: ``merge_shards`` combines the N files into the unsharded campaign's answer).
    shard: tuple[int, int] | None = None
    #: Wall seconds after which no new schedule starts (the result says what was searched).
    time_budget_s: float | None = None
    #: ``local:N`` or a Dask scheduler address: run the chunks there (``_cluster``).
    cluster: str | None = None

    def validate(self) -> CampaignConfig:
        if self.scheduler not in SCHEDULERS:
            raise BadInput(
                f"unknown scheduler {self.scheduler!r} (choose from {', '.join(SCHEDULERS)})"
            )
        if self.schedules < 1:
            raise BadInput(f"the budget must be at least 1 schedule, got {self.schedules}")
        check_jobs(self.jobs)
        run_timeout_here(self.run_timeout_s)
        if self.depth < 1:
            raise BadInput(f"PCT depth must be at least 1, got {self.depth}")
        if not 0.0 <= self.switch_p <= 1.0:
            raise BadInput(f"switch_p must be within [0, 1], got {self.switch_p}")
        if self.max_preemptions < 0:
            raise BadInput("max_preemptions must be >= 0")
        if self.cluster is not None:
            check_cluster(self.cluster)
            if self.scheduler == "dfs":
                raise BadInput("the dfs scheduler searches in one process: no --cluster")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise BadInput(f"the time budget must be positive, got {self.time_budget_s}")
        if self.shard is not None:
            k, n = self.shard
            if not (n >= 1 and 0 <= k < n):
                raise BadInput(f"a shard is K/N with 0 <= K < N, got {k}/{n}")
            if self.scheduler == "dfs":
                raise BadInput("the dfs scheduler searches in one process: it cannot be sharded")
        return self

    @property
    def scheduler_label(self) -> str:
        if self.scheduler == "pct":
            return f"pct-{self.depth}"
        if self.scheduler == "portfolio":
            return f"random+pct-{self.depth}"
        if self.scheduler == "dfs":
            return f"dfs(<= {self.max_preemptions} preemptions)"
        return "random"

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_json(),
            "scheduler": self.scheduler,
            "depth": self.depth,
            "switch_p": self.switch_p,
            "max_preemptions": self.max_preemptions,
            "schedules": self.schedules,
            "seed": self.seed,
            **({"shard": list(self.shard)} if self.shard is not None else {}),
            "stop_at_first": self.stop_at_first,
            "code": code_fingerprint(design_ref(self.spec.design)),
        }


@attrs.frozen
class Failure:
    """The failing schedule a campaign reports (before shrinking)."""

    index: int
    seed: int
    signature: str
    oracle: str
    kind: str
    message: str
    steps: int
    preemptions: int
    decisions: tuple[Decision, ...]
    spec: dict[str, Any]
    #: Set on a shrunk failure (``shrink_failure``): a ``ShrinkResult`` with the final run.
    shrink: Any = attrs.field(default=None, eq=False, repr=False)

    @property
    def token(self) -> str:
        return encode_token(self.spec, list(self.decisions))

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.spec.get("params", {}))

    def to_json(self) -> dict[str, Any]:
        out = {
            "index": self.index,
            "seed": self.seed,
            "signature": self.signature,
            "oracle": self.oracle,
            "kind": self.kind,
            "message": self.message,
            "steps": self.steps,
            "preemptions": self.preemptions,
            "params": self.params,
            "token": self.token,
        }
        if self.shrink is not None:
            out["shrink"] = self.shrink.to_json()
        return out


@attrs.frozen
class ScheduleError:
    """The first schedule of a campaign that ended in ``error`` (the design, the scenario or
    the model raised, or a raw trio primitive was awaited): its exception and its token."""

    index: int
    message: str
    decisions: tuple[Decision, ...]
    spec: dict[str, Any]

    @property
    def headline(self) -> str:
        return self.message.splitlines()[0] if self.message else "unknown error"

    @property
    def token(self) -> str:
        return encode_token(self.spec, list(self.decisions))

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "error": self.headline,
            "detail": self.message,
            "token": self.token,
        }


@attrs.frozen
class CampaignResult:
    """What a campaign searched and found.  ``outcomes`` counts every schedule considered by
    outcome class; ``probes`` counts, per stage probe of the scenario, the schedules that
    reached it.  ``verdict`` is ``found``, ``not-found`` or ``inconclusive`` (``reason``)."""

    config: CampaignConfig
    verdict: str
    schedules_run: int
    failure: Failure | None
    outcomes: dict[str, int]
    exhausted: bool = False
    probes: dict[str, int] = attrs.field(factory=dict)
    first_error: ScheduleError | None = None
    reason: str | None = None
    #: How many of ``schedules_run`` were loaded from a resumed file (not run this time).
    resumed: int = 0
    #: What resuming had to say (a torn line dropped, a budget changed).
    notes: tuple[str, ...] = ()
    #: Wall seconds the search took (shrinking not included); never in the JSON.
    search_s: float | None = attrs.field(default=None, eq=False)
    #: The time budget ran out before the schedule budget did.
    timed_out: bool = False

    @property
    def found(self) -> bool:
        return self.failure is not None

    @property
    def inconclusive(self) -> bool:
        return self.verdict == "inconclusive"

    def outcome_text(self) -> str:
        """``ok 58, violation 0, deadlock 0, error 2, budget-exhausted 0``."""
        return ", ".join(f"{k} {self.outcomes.get(k, 0)}" for k in OUTCOMES)

    def probes_text(self) -> str:
        n = self.schedules_run
        return ", ".join(f"{p} {k}/{n}" for p, k in self.probes.items())

    def summary(self) -> str:
        c = self.config
        d = c.spec.label
        if c.shard is not None:
            d += f" [shard {c.shard[0]}/{c.shard[1]}]"
        if self.failure is not None:
            f = self.failure
            caveat = ""
            if self.timed_out:
                caveat = (
                    " [the time budget ran out before every lower schedule ran: a lower "
                    "failing schedule may exist]"
                )
            return (
                f"{d}: FOUND [{f.oracle}] after {self.schedules_run} {c.scheduler_label} "
                f"schedule(s) (schedule #{f.index}){caveat}: {f.message}"
            )
        if c.scheduler == "dfs" and self.exhausted:
            searched = f"all {self.schedules_run} schedules with <= {c.max_preemptions} preemptions"
        elif c.scheduler == "dfs":
            searched = (
                f"{self.schedules_run} of the schedules with <= {c.max_preemptions} "
                f"preemptions (search not finished: the budget of {c.schedules} ran out)"
            )
        else:
            searched = f"{self.schedules_run} {c.scheduler_label} schedules"
        if self.timed_out:
            searched += f" (of {c.schedules}: the time budget ran out)"
        if self.verdict == "inconclusive":
            return f"{d}: INCONCLUSIVE: {searched}, 0 failures, but {self.reason}"
        return f"{d}: not found: {searched}, 0 failures"

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.config.spec.scenario.name,
            "design": self.config.spec.design.name,
            "scheduler": self.config.scheduler_label,
            "seed": self.config.seed,
            "budget": self.config.schedules,
            "verdict": self.verdict,
            "reason": self.reason,
            "schedules_run": self.schedules_run,
            "exhausted": self.exhausted,
            "outcomes": {k: self.outcomes.get(k, 0) for k in OUTCOMES},
            "probes": dict(self.probes),
            "first_error": self.first_error.to_json() if self.first_error else None,
            "failure": self.failure.to_json() if self.failure else None,
            "summary": self.summary(),
            "timed_out": self.timed_out,
        }


# ------------------------------------------------------------------------- one schedule


def _make_scheduler(cfg: dict[str, Any], index: int, k: int) -> Scheduler:
    """Schedule ``index``'s scheduler.  ``portfolio`` alternates random (even indices) and
    PCT (odd), as Coyote's default portfolio mixes strategies."""
    seed = schedule_seed(cfg["seed"], index)
    kind = cfg["scheduler"]
    if kind == "portfolio":
        kind = "random" if index % 2 == 0 else "pct"
    if kind == "random":
        return RandomScheduler(seed, switch_p=cfg["switch_p"])
    return PCTScheduler(seed, depth=cfg["depth"], steps_estimate=k)


def _record(index: int, seed: int, r: RunResult) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "index": index,
        "seed": seed,
        "outcome": str(r.outcome),
        "steps": r.stats.steps,
        "preemptions": r.stats.preemptions,
        "probes": list(r.extra.get("probes_reached", ())),
    }
    if r.outcome is Outcome.ERROR:
        rec["error"] = r.error or "unknown error"
        rec["decisions"] = pack_decisions(r.decisions)
    if r.failed and r.violation is not None:
        v = r.violation
        rec.update(
            {
                "signature": v.signature,
                "oracle": v.oracle,
                "kind": v.kind,
                "message": v.message,
                "decisions": pack_decisions(r.decisions),
            }
        )
    return rec


def _run_chunk(
    spec_json: dict[str, Any],
    cfg: dict[str, Any],
    indices: Iterable[int],
    k: int,
    emit: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run schedules ``indices`` (in a worker process or inline), many to a ``trio.run``
    (:func:`_run_many`); ``emit(rec)`` is called with each record as its schedule ends."""
    out: list[dict[str, Any]] = []
    if not indices:
        return out
    spec = spec_from_json(spec_json, trusted=True)  # made by this campaign's own process
    guard = cfg["run_timeout_s"]
    stop = cfg["stop_at_first"]
    deadline = cfg.get("deadline")

    def jobs() -> Iterator[Callable[[], Awaitable[bool]]]:
        for i in indices:

            async def job(i: int = i) -> bool:
                if deadline is not None and time.monotonic() > deadline:
                    return False  # the time budget: start no more schedules
                r = await _run_one_async(spec, _make_scheduler(cfg, i, k), guard)
                rec = _record(i, schedule_seed(cfg["seed"], i), r)
                out.append(rec)
                if emit is not None:
                    emit(rec)
                return not (r.failed and stop)

            yield job

    with quiet_gc():
        _run_many(jobs())
    return out


async def _run_one_async(spec: RunSpec, sched: Scheduler, run_timeout_s: float | None) -> RunResult:
    return await run_spec_async(spec, sched, record_trace=False, run_timeout_s=run_timeout_s or 0)


def _run_one(spec: RunSpec, sched: Scheduler, run_timeout_s: float | None) -> RunResult:
    return trio.run(_run_one_async, spec, sched, run_timeout_s)


#: A run a phase asks :func:`drive_runs` for: called inside ``trio.run``, it makes the run.
RunRequest = Callable[[], Awaitable[RunResult]]


def drive_runs(phase: Generator[RunRequest, RunResult, T]) -> T:
    """Run ``phase``, a generator that yields the runs it needs and is sent each one's
    result (a search that picks its next run from the last, such as shrinking), making its
    runs many to a ``trio.run`` as :func:`_run_many` does; returns what ``phase`` returns."""
    answer: list[T] = []
    try:
        request = next(phase)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]

    async def job() -> bool:
        nonlocal request
        r = await request()
        try:
            request = phase.send(r)
        except StopIteration as stop:
            answer.append(stop.value)
            return False
        return True

    _run_many(itertools.repeat(job))
    return answer[0]


def _run_many(jobs: Iterable[Callable[[], Awaitable[bool]]]) -> None:
    """Await each of ``jobs`` in turn, as many as possible inside one ``trio.run`` (a
    ``trio.run`` costs about as much as a short schedule), until one returns False.

    Every run still gets a fresh engine and machine and its own run guard (each run arms and
    disarms it; nothing runs guarded between runs).  What the runs share is trio's run loop,
    and a run leaves nothing in it: the engine's nursery closes over every task of the run.
    Should a run leave a task alive all the same (a system task the model started), the
    next run gets a fresh ``trio.run``, as every run used to.  An exception (an interrupt
    included) ends the loop and leaves ``trio.run`` as it would have left a run of its own.
    """
    it = iter(jobs)
    more = True

    async def batch() -> None:
        nonlocal more
        living = trio.lowlevel.current_statistics().tasks_living
        for job in it:
            go_on = await job()
            collect_run_garbage()
            if not go_on:
                more = False
                return
            if trio.lowlevel.current_statistics().tasks_living != living:
                return  # something outlived its run: the rest start afresh
        more = False

    while more:
        trio.run(batch)


# ------------------------------------------------------------------------- the campaign


_CODE = {name: k + 1 for k, name in enumerate(OUTCOMES)}
#: Seconds of work per chunk sent to a Dask cluster.
CLUSTER_CHUNK_S = 1.0
#: Schedule indices a campaign file may hold (a larger one is a damaged line).
MAX_INDEX = 1 << 32


class _Done:
    """The schedules a campaign has finished, in memory: one byte (the outcome class) and a
    probe bit mask per index, and the whole record only for failures and errors — what the
    verdict, the counts, the first error and the failure need.  The masks are as wide as the
    probes seen need (one byte for up to 8, the scenarios' case), so a million ``ok``
    schedules cost about 2 MB here, not the ~690 MB of their records (the JSONL file has
    those)."""

    def __init__(self) -> None:
        self.codes = bytearray()
        self.masks = array.array("B")
        self.full: dict[int, dict[str, Any]] = {}
        self.n = 0
        self._bits: dict[str, int] = {}
        self._names: list[str] = []

    def add(self, rec: dict[str, Any]) -> bool:
        """Keep ``rec``; False if its index is already there."""
        i = rec["index"]
        if i < len(self.codes) and self.codes[i]:
            return False
        if i >= len(self.codes):
            grow = i + 1 - len(self.codes)
            self.codes.extend(bytes(grow))
            self.masks.extend([0] * grow)
        mask = 0
        for name in rec.get("probes", ()):
            bit = self._bits.get(name)
            if bit is None:
                if len(self._names) >= 64:
                    continue  # more distinct probes than a mask holds: not counted
                bit = self._bits[name] = len(self._names)
                self._names.append(name)
                if bit >= 8 * self.masks.itemsize:  # widen every mask (rare: >8 probes)
                    wider = next(t for t in "BHLQ" if 8 * array.array(t).itemsize > bit)
                    self.masks = array.array(wider, self.masks)
            mask |= 1 << bit
        self.codes[i] = _CODE[rec["outcome"]]
        self.masks[i] = mask
        if rec["outcome"] in ("violation", "deadlock", "error"):
            self.full[i] = rec
        self.n += 1
        return True

    def __contains__(self, i: object) -> bool:
        return isinstance(i, int) and 0 <= i < len(self.codes) and self.codes[i] != 0

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        return (i for i, c in enumerate(self.codes) if c)

    def outcome(self, i: int) -> str:
        return OUTCOMES[self.codes[i] - 1]

    def probes_of(self, i: int) -> list[str]:
        m = self.masks[i]
        return [n for b, n in enumerate(self._names) if m >> b & 1]

    def lowest_failure(self, below: int | None = None) -> int | None:
        fails = [i for i, r in self.full.items() if "signature" in r]
        if below is not None:
            fails = [i for i in fails if i < below]
        return min(fails) if fails else None


class _Sink:
    """The JSONL stream: header + one line per schedule, flushed as it goes (``_jsonl``).

    Resuming keeps every complete record and drops only what an interruption can leave
    behind: a torn last line.  A campaign may resume with another budget (the header is
    updated); any other setting that differs is named and refused.
    """

    def __init__(
        self, path: pathlib.Path | None, header: dict[str, Any], resume: bool, replace: bool
    ) -> None:
        self.done = _Done()
        #: What resuming had to say (a dropped torn line, an extended budget), one line each.
        self.notes: list[str] = []
        self._out: JsonlWriter | None = None
        self.on_failure: Callable[[int], None] | None = None
        if path is None:
            return
        if resume and path.exists():
            self._resume(path, header)
            self._out = JsonlWriter(path, None)
            return
        if path.exists() and not (resume or replace):
            raise BadInput(f"{path} exists; use --resume to continue it or --force to replace it")
        # A replacement takes over once this campaign has something to keep (its first
        # record, or its end): one that fails before that (a cluster out of reach, a crash)
        # leaves the old file as it was.
        self._out = JsonlWriter(path, {"campaign": header})

    def _resume(self, path: pathlib.Path, header: dict[str, Any]) -> None:
        below = MAX_INDEX

        def header_for(old: dict[str, Any]) -> dict[str, Any]:
            nonlocal below
            self._check_header(path, old, header)
            below = _budget_of(path, old)
            return header

        self.notes += rewrite(
            path,
            "campaign",
            "a pcptrio campaign file",
            header_for,
            lambda ln: _parse_record(ln, below),
            self.done.add,
            "that schedule runs again",
        )

    def _check_header(
        self, path: pathlib.Path, old: dict[str, Any], header: dict[str, Any]
    ) -> None:
        differ = sorted(k for k in set(old) | set(header) if k != "schedules"
                        and old.get(k) != header.get(k))  # fmt: skip
        if differ:
            what = "; ".join(_differs(k, old.get(k), header.get(k)) for k in differ)
            raise BadInput(f"{path} was written by a different campaign ({what}); "
                           "refusing to mix results")  # fmt: skip
        if old.get("schedules") != header.get("schedules"):
            self.notes.append(
                f"resuming {path} with a budget of {header.get('schedules')} schedules "
                f"(it was {old.get('schedules')})"
            )

    def add(self, rec: dict[str, Any]) -> None:
        if self.done.add(rec):
            if self._out is not None:
                self._out.write(rec)
                self._out.take_over()
            if self.on_failure is not None and "signature" in rec:
                self.on_failure(rec["index"])

    def close(self, completed: bool) -> None:
        """Close the file; a replacement that recorded nothing takes over only if the
        campaign ``completed``."""
        if self._out is None:
            return
        if completed:
            self._out.take_over()
        self._out.close()
        self._out = None


def _differs(key: str, old: Any, new: Any) -> str:
    if key == "spec" and isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return "; ".join(f"{k}: file {old.get(k)!r}, now {new.get(k)!r}" for k in keys)
    return f"{key}: file {old!r}, now {new!r}"


def _budget_of(path: pathlib.Path, header: dict[str, Any]) -> int:
    """The schedule budget a campaign file's header names: no record of it may have an
    index at or past it."""
    n = header.get("schedules")
    if type(n) is not int or not 1 <= n <= MAX_INDEX:
        raise BadInput(f"{path} has a damaged header (schedules: {n!r})")
    return n


def _parse_record(line: bytes, below: int = MAX_INDEX) -> dict[str, Any] | None:
    """A schedule record with an index below ``below``, or None for anything else (a torn
    or foreign line, an index no campaign of that budget ran)."""
    try:
        rec = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return rec if valid_record(rec, below) else None


def valid_record(rec: Any, below: int = MAX_INDEX) -> bool:
    """Whether ``rec`` (read back from a file) is a whole schedule record with an index
    below ``below``."""
    return bool(
        isinstance(rec, dict)
        and type(rec.get("index")) is int
        and 0 <= rec["index"] < min(below, MAX_INDEX)
        and type(rec.get("seed")) is int
        and rec.get("outcome") in OUTCOMES
        and type(rec.get("steps")) is int
        and isinstance(rec.get("probes", []), list)
        and all(isinstance(x, str) for x in rec.get("probes", []))
        and _consistent(rec)
    )


def _consistent(rec: dict[str, Any]) -> bool:
    """A failure record carries what its report and token need; an error record, its
    decisions; no other record claims a failure."""
    failing = rec["outcome"] in ("violation", "deadlock")
    if failing != ("signature" in rec):
        return False
    if failing:
        return all(isinstance(rec.get(k), str) for k in ("signature", "oracle")) and isinstance(
            rec.get("decisions"), dict
        )
    if rec["outcome"] == "error":
        return isinstance(rec.get("decisions"), dict)
    return True


def chunk_config(cfg: CampaignConfig, deadline: float | None) -> dict[str, Any]:
    """What a chunk of ``cfg``'s schedules needs in a worker (plain data; the spec travels
    as its JSON).  ``deadline``: a ``time.monotonic()`` after which no schedule starts."""
    return {
        "scheduler": cfg.scheduler,
        "seed": cfg.seed,
        "depth": cfg.depth,
        "switch_p": cfg.switch_p,
        "stop_at_first": cfg.stop_at_first,
        # Resolved here: a worker process does not see this one's run_timeout() context.
        "run_timeout_s": run_timeout_here(cfg.run_timeout_s),
        "deadline": deadline,
    }


def _calibrate(cfg: CampaignConfig) -> int:
    return calibrate(cfg.spec, chunk_config(cfg, None))


def calibrate(spec: RunSpec, cdict: dict[str, Any]) -> int:
    """PCT's ``k``: the scheduling decisions of schedule 0 under the random scheduler."""
    if cdict["scheduler"] not in ("pct", "portfolio"):
        return 1
    sched = RandomScheduler(schedule_seed(cdict["seed"], 0), switch_p=cdict["switch_p"])
    with quiet_gc():
        r = _run_one(spec, sched, cdict["run_timeout_s"])
    return max(10, sum(1 for d in r.decisions if d[0] == "sched"))


def _failure_from(rec: dict[str, Any], spec_json: dict[str, Any]) -> Failure:
    return Failure(
        rec["index"],
        rec["seed"],
        rec["signature"],
        rec["oracle"],
        rec.get("kind", ""),
        rec.get("message", ""),
        rec["steps"],
        rec.get("preemptions", 0),
        tuple(unpack_decisions(rec["decisions"])),
        spec_json,
    )


def _chunks(indices: Iterator[int], size: int) -> Iterator[list[int]]:
    while chunk := list(itertools.islice(indices, size)):
        yield chunk


class _Todo:
    """The indices of ``want`` not in ``done`` (at the start), iterated as they go, and
    how many there are."""

    def __init__(self, want: range, done: _Done) -> None:
        self._want = want
        self._done = done
        self.count = len(want) - sum(1 for i in want if i in done) if len(done) else len(want)

    def __iter__(self) -> Iterator[int]:
        return (i for i in self._want if i not in self._done)


def explore(
    cfg: CampaignConfig,
    *,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
    on_failure: Callable[[int], None] | None = None,
) -> CampaignResult:
    """Run a campaign (see the module docstring).  ``progress(done, total)`` is called as
    schedules finish, ``on_failure(index)`` as a failing one comes in (this run's, not a
    resumed file's).  An existing ``out`` is refused unless ``resume`` (continue it) or
    ``replace`` (start it afresh, once the settings are known to be valid)."""
    cfg = cfg.validate()
    if cfg.scheduler == "dfs":
        if out is not None or resume or cfg.jobs > 1:
            raise BadInput(
                "the dfs scheduler runs its search in one process and keeps no schedule file: "
                "out=, resume= and jobs > 1 are not supported with it"
            )
        return _explore_dfs(cfg, progress)
    spec_json = cfg.spec.to_json()
    header = cfg.to_json()
    sink = _Sink(pathlib.Path(out) if out is not None else None, header, resume, replace)
    sink.on_failure = on_failure
    completed = False
    try:
        stop_at = time.monotonic() + cfg.time_budget_s if cfg.time_budget_s is not None else None
        k = _calibrate(cfg)
        # CLOCK_MONOTONIC is one clock for the processes of this machine, so local workers
        # check the deadline per schedule; a cluster's hosts have their own clocks, so there
        # the driver alone stops submitting (chunks of about 1 s).
        cdict = chunk_config(cfg, stop_at if cfg.cluster is None else None)
        loaded = bytes(sink.done.codes)  # what the file had: one byte per index
        first_fail = sink.done.lowest_failure() if cfg.stop_at_first else None
        want = range(*_index_range(cfg))
        total = len(want)
        if first_fail is not None:
            want = range(want.start, min(want.stop, first_fail), want.step)
        # The indices still to run, produced as they are submitted, never listed: a list
        # of a million indices (and of their chunks) would cost the driver ~50 MiB.
        todo = _Todo(want, sink.done)
        if progress is not None:
            progress(len(sink.done), total)
        if not todo.count:
            pass  # everything is in the file already
        elif cfg.cluster is None and (cfg.jobs == 1 or todo.count <= 1):
            # One chunk, in order: it stops at the first failure itself (todo holds no index
            # past a failure already recorded), and each record reaches the sink as its
            # schedule ends, so an interrupted campaign keeps every schedule it finished.

            def emit(rec: dict[str, Any]) -> None:
                sink.add(rec)
                if progress is not None:
                    progress(len(sink.done), total)

            _run_chunk(spec_json, cdict, iter(todo), k, emit)
        else:
            first_fail = _parallel(
                cfg, spec_json, cdict, todo, k, sink, first_fail, progress, stop_at
            )
        res = _result(cfg, sink.done, spec_json)
        if stop_at is not None and time.monotonic() > stop_at:
            upto = res.failure.index if res.failure is not None and cfg.stop_at_first else None
            r = range(*_index_range(cfg))
            if upto is not None:
                r = range(r.start, min(r.stop, upto + 1), r.step)
            if any(i not in sink.done for i in r):
                res = attrs.evolve(res, timed_out=True)
        first = res.failure.index if res.failure is not None and cfg.stop_at_first else None
        upto = cfg.schedules if first is None else min(cfg.schedules, first + 1)
        resumed = len(loaded[:upto]) - loaded[:upto].count(0)
        completed = True
        return attrs.evolve(res, resumed=resumed, notes=tuple(sink.notes))
    finally:
        sink.close(completed)


def _index_range(cfg: CampaignConfig) -> tuple[int, int, int]:
    """``range()`` arguments of the schedule indices a campaign (or its shard) runs."""
    if cfg.shard is None:
        return 0, cfg.schedules, 1
    k, n = cfg.shard
    return k, cfg.schedules, n


def _parallel(
    cfg: CampaignConfig,
    spec_json: dict[str, Any],
    cdict: dict[str, Any],
    todo: _Todo,
    k: int,
    sink: _Sink,
    first_fail: int | None,
    progress: Callable[[int, int], None] | None,
    stop_at: float | None,
) -> int | None:
    total = len(range(*_index_range(cfg)))  # computed once: a budget may be millions
    with _executor(cfg, todo.count) as (pool, workers):
        size = max(1, min(8, todo.count // (workers * 4) or 1))
        if cfg.cluster is not None:
            # A Dask task costs milliseconds of scheduling and cannot be cancelled once it
            # runs: chunks of about a second of work (one schedule timed here, on the
            # driver), but never so few that a worker idles.
            t0 = time.perf_counter()
            _run_chunk(spec_json, {**cdict, "deadline": None}, [next(iter(todo))], k)
            per = max(time.perf_counter() - t0, 1e-4)
            size = max(1, min(round(CLUSTER_CHUNK_S / per), todo.count // (workers * 2) or 1))
        pending: dict[cf.Future[list[dict[str, Any]]], list[int]] = {}
        it = _chunks(iter(todo), size)
        ref = spec_json["design"]
        fp = code_fingerprint(ref)

        def submit() -> bool:
            if stop_at is not None and time.monotonic() > stop_at:
                return False
            for chunk in it:
                if first_fail is not None and chunk[0] > first_fail:
                    continue
                if cfg.cluster is None:
                    fut = pool.submit(_run_chunk, spec_json, cdict, chunk, k)
                else:
                    fut = pool.submit(run_checked, fp, ref, _run_chunk, spec_json, cdict, chunk, k)
                pending[fut] = chunk
                return True
            return False

        for _ in range(workers * 2):
            if not submit():
                break
        while pending:
            done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            for fut in done:
                pending.pop(fut)
                try:
                    recs = fut.result()
                except Exception as exc:
                    if cfg.cluster is None:
                        raise
                    raise BadInput(f"a chunk failed on the cluster {cfg.cluster}: {exc}") from None
                for rec in recs:
                    sink.add(rec)
                    if "signature" in rec and cfg.stop_at_first:
                        i = rec["index"]
                        first_fail = i if first_fail is None else min(first_fail, i)
                if progress is not None:
                    progress(len(sink.done), total)
                submit()
            if first_fail is not None:
                for fut, chunk in list(pending.items()):
                    if chunk[0] > first_fail and fut.cancel():
                        pending.pop(fut)
    return first_fail


@contextlib.contextmanager
def _executor(cfg: CampaignConfig, tasks: int) -> Iterator[tuple[cf.Executor, int]]:
    """The local process pool (left by an exception, it kills its workers: a chunk is
    recorded whole or not at all) or the Dask cluster's executor, and its worker count."""
    if cfg.cluster is not None:
        with cluster_executor(cfg.cluster) as (ex, n):
            yield ex, n
        return
    with worker_pool(worker_count(cfg.jobs, tasks)) as pool:
        yield pool, cfg.jobs


def _result(cfg: CampaignConfig, done: _Done, spec_json: dict[str, Any]) -> CampaignResult:
    fails = done.lowest_failure(below=cfg.schedules)  # a resume may lower the budget
    first = fails if cfg.stop_at_first else None
    upto = cfg.schedules - 1 if first is None else first
    failure = _failure_from(done.full[fails], spec_json) if fails is not None else None
    return _summarise(cfg, done, upto, failure, spec_json)


def _summarise(
    cfg: CampaignConfig,
    done: _Done,
    upto: int,
    failure: Failure | None,
    spec_json: dict[str, Any],
    *,
    exhausted: bool = False,
) -> CampaignResult:
    """Outcome counts, probe counts, the first error and the verdict of the schedules of
    ``done`` up to index ``upto``."""
    outcomes = dict.fromkeys(OUTCOMES, 0)
    probes = dict.fromkeys(cfg.spec.scenario.probes, 0)
    first_error = None
    n = 0
    for i in done:
        if i > upto:
            break
        n += 1
        outcome = done.outcome(i)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        for name in done.probes_of(i):
            if name in probes:
                probes[name] += 1
        if first_error is None and outcome == "error":
            r = done.full[i]
            first_error = ScheduleError(
                i,
                str(r.get("error", "")),
                tuple(unpack_decisions(r.get("decisions", {"labels": [], "d": []}))),
                spec_json,
            )
    verdict, reason = campaign_verdict(failure is not None, outcomes, probes)
    return CampaignResult(
        cfg,
        verdict,
        n,
        failure,
        outcomes,
        exhausted=exhausted,
        probes=probes,
        first_error=first_error,
        reason=reason,
    )


def _explore_dfs(
    cfg: CampaignConfig, progress: Callable[[int, int], None] | None
) -> CampaignResult:
    spec_json = cfg.spec.to_json()
    sched = DFSScheduler(max_preemptions=cfg.max_preemptions)
    records = _Done()
    failure = None
    guard = run_timeout_here(cfg.run_timeout_s)

    async def step() -> bool:
        nonlocal failure
        r = await _run_one_async(cfg.spec, sched, guard)
        rec = _record(len(records), 0, r)
        records.add(rec)
        if progress is not None:
            progress(len(records), cfg.schedules)
        if r.failed and failure is None:
            failure = _failure_from(rec, spec_json)
            if cfg.stop_at_first:
                return False
        return len(records) < cfg.schedules and not sched.exhausted

    with quiet_gc():
        if cfg.schedules > 0 and not sched.exhausted:
            _run_many(itertools.repeat(step))
    upto = failure.index if failure is not None and cfg.stop_at_first else len(records) - 1
    return _summarise(cfg, records, upto, failure, spec_json, exhausted=sched.exhausted)


def merge_shards(
    paths: Sequence[str | os.PathLike[str]], *, allow_import: bool = False
) -> CampaignResult:
    """Combine the JSONL files of the N shards of one campaign into the answer the unsharded
    campaign gives: the lowest failing index, its failure, and the outcome and probe counts
    of the schedules up to it (every shard ran every index below its own first failure, so
    those are complete).  Refuses files of different campaigns, or a set that is not the N
    shards of one campaign."""
    headers: list[dict[str, Any]] = []
    done = _Done()
    for p in paths:
        path = pathlib.Path(p)
        try:
            with path.open("rb") as fh:  # streamed: a shard file is never read whole
                first = json.loads(fh.readline().decode("utf-8"))
                if not isinstance(first, dict) or not isinstance(first.get("campaign"), dict):
                    raise BadInput(f"{path} is not a pcptrio campaign file (no header line)")
                headers.append(first["campaign"])
                below = _budget_of(path, first["campaign"])
                for ln in fh:
                    rec = _parse_record(ln, below) if ln.strip() else None
                    if rec is not None:
                        done.add(rec)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise BadInput(f"{path}: not a readable pcptrio campaign file ({exc})") from None
    base = {k: v for k, v in headers[0].items() if k != "shard"}
    for src, h in zip(paths, headers, strict=True):
        mine = {k: v for k, v in h.items() if k != "shard"}
        differ = sorted(k for k in set(mine) | set(base) if mine.get(k) != base.get(k))
        if differ:
            what = "; ".join(_differs(k, base.get(k), mine.get(k)) for k in differ)
            raise BadInput(f"{src} is a shard of a different campaign ({what}); not merging")
    shards = [tuple(h.get("shard") or ()) for h in headers]
    if any(len(sh) != 2 for sh in shards):
        raise BadInput("merge takes the files of `explore --shard K/N` runs; one has no shard")
    ns = {sh[1] for sh in shards}
    if len(ns) != 1:
        raise BadInput(f"the files are shards of different splits: {sorted(ns)}")
    (n,) = ns
    ks = sorted(sh[0] for sh in shards)
    missing = sorted(set(range(n)) - set(ks))
    if missing or len(ks) != len(set(ks)):
        raise BadInput(
            f"merge needs each of the {n} shards once: "
            + (f"missing {', '.join(f'{k}/{n}' for k in missing)}" if missing else "a shard twice")
        )
    spec = spec_from_json(base["spec"], allow_import=allow_import)
    cfg = CampaignConfig(
        spec,
        scheduler=base["scheduler"],
        depth=base["depth"],
        switch_p=base["switch_p"],
        max_preemptions=base["max_preemptions"],
        schedules=base["schedules"],
        seed=base["seed"],
        stop_at_first=bool(base.get("stop_at_first", True)),
    )
    # A shard that stopped at its own failure ran every lower index of its share; one that
    # did not fail ran its whole share.  Below the lowest failure, every index is there.
    first = done.lowest_failure(below=cfg.schedules) if cfg.stop_at_first else None
    upto = first if first is not None else cfg.schedules - 1
    absent = [i for i in range(upto + 1) if i not in done]
    if absent:
        raise BadInput(
            f"the shards lack {len(absent)} schedule(s) below the answer (first: index "
            f"{absent[0]}); a shard run was interrupted: --resume it, then merge"
        )
    return _result(cfg, done, base["spec"])
