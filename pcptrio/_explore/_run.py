"""One run: a scenario × a design × parameters × a scheduler → a result with its token.

:class:`RunSpec` is everything but the scheduler; it turns into the replay token's spec (with
the scenario by name, or whole when it came from a TOML file), so a token is self-contained.
:func:`replay` rebuilds the run from a token and feeds back its decisions (strict by default:
"replay drift at step N" if the code no longer takes the same decisions).

The run guard (``run_timeout_s``, the engine's wall-clock guard against a run that stops
taking steps) is not part of a spec or a token: it changes no decision and no trace.  A run
takes it from its ``run_timeout_s`` argument, else from :func:`run_timeout` around the call,
else runs unguarded.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import trio

from .._check import attach_oracles, attach_probes
from .._core import (
    BadInput,
    Decision,
    ReplayScheduler,
    RunResult,
    Scheduler,
    TokenError,
    decode_token,
    encode_token,
    quiet_gc,
)
from .._drain import DrainDesign, design_ref, install_design, resolve_design
from .._kernel import Machine, Protection
from .._scenarios import (
    NotApplicable,
    ScenarioDef,
    parse_scenario,
    resolve_scenario,
    run_actor,
)
from .._version import __version__
from ._code import code_fingerprint

__all__ = [
    "RunSpec",
    "make_run_spec",
    "replay",
    "replay_token",
    "run_spec",
    "run_spec_async",
    "run_timeout",
    "run_timeout_here",
    "spec_from_token",
    "token_of",
]


@attrs.frozen
class RunSpec:
    """Scenario, design, resolved parameters, era and oracle mode of a run."""

    scenario: ScenarioDef
    design: DrainDesign
    params: dict[str, Any]
    era: Protection
    strict: bool = False
    #: From a token: the run's choice-set digests, which a strict replay of it must meet
    #: (see the engine's _runqueue).  Not part of what the run is (``to_json`` leaves it out).
    choices: tuple[int, ...] = attrs.field(default=(), eq=False)

    def to_json(self) -> dict[str, Any]:
        scen: Any = self.scenario.name if self.scenario.builtin else {"def": self.scenario.data}
        return {
            "pcptrio": __version__,
            "scenario": scen,
            "design": design_ref(self.design),
            "params": dict(self.params),
            "strict": self.strict,
            # which code made it: ``replay`` says when this one differs
            "code": code_fingerprint(design_ref(self.design)),
        }

    @property
    def label(self) -> str:
        return f"{self.scenario.name} × {self.design.name}"


def make_run_spec(
    scenario: str | os.PathLike[str] | ScenarioDef,
    design: str | DrainDesign,
    params: dict[str, Any] | None = None,
    *,
    strict: bool = False,
) -> RunSpec:
    """Resolve names and parameters; raises NotApplicable when the era rules the pair out."""
    s = resolve_scenario(scenario)
    d = resolve_design(design)
    p = s.resolve_params(params)
    era = s.era_for(d.eras, p)
    s.check(p, era)  # every value a run reads, before any run
    return RunSpec(s, d, p, era, strict)


def spec_from_json(
    spec: dict[str, Any], *, allow_import: bool = False, trusted: bool = False
) -> RunSpec:
    """The inverse of :meth:`RunSpec.to_json` (raises TokenError on foreign content).

    A spec from a token is not trusted: its design reference resolves only to a design this
    process already knows (a built-in, a registered one, one the user named) or to a module
    already imported — never by importing a module (unless ``allow_import``) and never by
    calling a factory.  ``trusted`` is for specs this process's parent made (worker
    processes of a campaign the user started)."""
    if not isinstance(spec, dict):
        raise TokenError("replay token has a malformed run spec (not a table)")
    known = {"pcptrio", "code", "scenario", "design", "params", "strict", "choices"}
    extra = sorted(set(spec) - known)
    if extra:
        raise TokenError(f"replay token's run spec has unknown fields: {', '.join(extra)}")
    try:
        scen = spec["scenario"]
        if isinstance(scen, dict):
            if not isinstance(scen.get("def"), dict):
                raise TokenError("replay token has a malformed scenario (no 'def' table)")
            scenario = parse_scenario(scen["def"], "scenario carried by the token")
        elif isinstance(scen, str):
            scenario = resolve_scenario(scen)
        else:
            raise TokenError("replay token has a malformed run spec (scenario)")
        params = spec["params"]
        if not isinstance(params, dict):
            raise TokenError("replay token has a malformed run spec (params is not a table)")
        design = spec["design"]
        strict = spec.get("strict", False)
        if not isinstance(design, str):
            raise TokenError("replay token has a malformed run spec (design is not a name)")
        if not isinstance(strict, bool):
            raise TokenError("replay token has a malformed run spec (strict is not a boolean)")
        if not isinstance(spec.get("code", ""), str):
            raise TokenError("replay token has a malformed run spec (code is not a string)")
        choices = spec.get("choices", [])
        if not (
            isinstance(choices, list)
            and all(type(x) is int and 0 <= x <= 0xFFFFFFFF for x in choices)
        ):
            raise TokenError("replay token has malformed choice-set digests")
        d = (
            resolve_design(design)
            if trusted
            else resolve_design(design, allow_import=allow_import, call_factories=False)
        )
        return attrs.evolve(
            make_run_spec(scenario, d, params, strict=strict), choices=tuple(choices)
        )
    except KeyError as exc:
        raise TokenError(f"replay token has an incomplete run spec (missing {exc})") from None
    except NotApplicable as exc:
        raise TokenError(f"replay token's design and scenario do not fit: {exc}") from None


_RUN_TIMEOUT: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "pcptrio_run_timeout", default=None
)


@contextlib.contextmanager
def run_timeout(seconds: float | None) -> Iterator[None]:
    """Guard every run made inside the block that does not name its own ``run_timeout_s``:
    a run with no scheduling point for ``seconds`` ends as ``error`` (None or 0: unguarded).

    Example::

        with run_timeout(60):
            failure = shrink_failure(res)  # no replay can hang for good
    """
    token = _RUN_TIMEOUT.set(seconds)
    try:
        yield
    finally:
        _RUN_TIMEOUT.reset(token)


def run_timeout_here(run_timeout_s: float | None = None) -> float | None:
    """The guard a run started here gets: ``run_timeout_s``, else the :func:`run_timeout`
    around the call; None when unguarded (what a worker process must be told).  Raises
    BadInput for a value that is not a number of seconds >= 0."""
    t = run_timeout_s if run_timeout_s is not None else _RUN_TIMEOUT.get()
    if t is not None and not (t >= 0 and math.isfinite(t)):
        raise BadInput(f"run_timeout_s must be a number of seconds >= 0 (0: no guard), got {t}")
    return t or None


async def run_spec_async(
    spec: RunSpec,
    scheduler: Scheduler,
    *,
    logger: Any = None,
    record_trace: bool = True,
    observer: Callable[[Machine], None] | None = None,
    run_timeout_s: float | None = None,
) -> RunResult:
    """Run ``spec`` once under ``scheduler`` (inside a trio run / pytest-trio test).

    ``observer(m)`` is called with the machine before the run starts (after the design and
    the oracles are attached): reports use it to add step hooks that sample machine state.
    ``run_timeout_s`` guards the run against a hang (module docstring; None: the value of
    :func:`run_timeout` around the call; 0: unguarded).
    """
    s = spec.scenario
    p = spec.params
    mp, faults = s.machine_params(p, spec.era)
    max_steps, max_time_ns = s.budget(p)
    m = Machine(
        mp,
        scheduler=scheduler,
        max_steps=max_steps,
        max_time_ns=max_time_ns,
        logger=logger,
        record_trace=record_trace,
    )
    m.engine.run_timeout_s = run_timeout_here(run_timeout_s)
    if spec.choices and isinstance(scheduler, ReplayScheduler) and scheduler.strict:
        m.engine.expect_choices = spec.choices  # the token's run, or a drift
    m.fail_page_alloc = faults["fail_page_alloc"]
    m.percpu.atomic_fail_p = faults["pcpu_atomic_fail"]
    install_design(m, spec.design)
    opts = s.oracle_options(p)
    oracles = list(s.oracles)
    if spec.strict:
        oracles.append("drain-completeness")
        opts.setdefault("drain-completeness", {})["strict"] = True
    attach_oracles(m, oracles, opts)
    probes = attach_probes(m, s.probes)
    if observer is not None:
        observer(m)
    phases = s.iter_phases(p)  # lazily: make_run_spec checked them

    async def workload(m: Machine) -> None:
        for i, actors in enumerate(phases):
            async with m.engine.open_nursery() as n:
                for j, a in enumerate(actors):
                    where = f"{s.source}: phase {i} actor {j}"
                    n.start_soon(run_actor, m, a, where, name=str(a["kind"]), cpu=0)

    result = await m.run(workload)
    result.extra.update(
        {
            "scenario": s.name,
            "hazard": s.hazard,
            "design": spec.design.name,
            "params": dict(p),
            "era": str(spec.era),
            "drain_calls": [c.to_json() for c in m.drain_calls],
            "page_ops": result.stats.counters.get("page_allocs", 0)
            + result.stats.counters.get("page_frees", 0),
            "spec": spec.to_json(),
            "probes": list(probes.names),
            "probes_reached": probes.reached_names(),
        }
    )
    return result


def token_of(result: RunResult) -> str:
    """The replay token of a result made by :func:`run_spec` (encoded on demand: a campaign
    only needs the tokens of the runs it reports)."""
    tok = result.extra.get("token")
    if tok is None:
        spec = {**result.extra["spec"], "choices": list(result.choices)}
        tok = result.extra["token"] = encode_token(spec, result.decisions)
    return str(tok)


def run_spec(spec: RunSpec, scheduler: Scheduler, **kw: Any) -> RunResult:
    """:func:`run_spec_async` in a fresh ``trio.run`` (with the collector's young-generation
    threshold raised meanwhile, as campaigns do: a long run makes a trace record per step,
    and the default threshold costs a fifth of a ``steady`` run in collections)."""
    with quiet_gc():
        return trio.run(lambda: run_spec_async(spec, scheduler, **kw))


def spec_from_token(token: str, *, allow_import: bool = False) -> tuple[RunSpec, list[Decision]]:
    """The run spec and decisions of ``token`` (see :func:`spec_from_json` for what a
    token's design may and may not make this process do)."""
    raw, decisions = decode_token(token)
    version = raw.get("pcptrio")
    if not isinstance(version, str):
        if "demo" in raw:
            raise TokenError("this is a token of `pcptrio demo`: replay it with pcptrio replay")
        raise TokenError("replay token carries no pcptrio version")
    return spec_from_json(raw, allow_import=allow_import), decisions


async def replay_token(
    token: str, *, strict: bool = True, allow_import: bool = False, **kw: Any
) -> RunResult:
    """Rerun a token's run with its decisions (inside a trio run)."""
    spec, decisions = spec_from_token(token, allow_import=allow_import)
    return await run_spec_async(spec, ReplayScheduler(decisions, strict=strict), **kw)


def replay(token: str, *, strict: bool = True, allow_import: bool = False, **kw: Any) -> RunResult:
    """Rerun a token's run with its decisions; the trace is byte-identical.  A token whose
    design lives in a module not imported yet needs ``allow_import=True``."""
    with quiet_gc():  # as run_spec
        return trio.run(lambda: replay_token(token, strict=strict, allow_import=allow_import, **kw))
