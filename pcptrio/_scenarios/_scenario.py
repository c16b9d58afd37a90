"""A scenario: machine parameters + phases of workload actors + oracles + budgets.

Scenarios are data, with one schema for the built-ins and for user TOML files::

    name = "shared-mask-race"           hazard = "H3"        title = "..."
    description = "..."
    oracles = ["drain-completeness"]    # plus the always-on ones
    probes = ["concurrent-zone-drains"] # stage probes: what a "not found" needs reached
    min_cpus = 2
    protection = "preempt"              # optional: the era the scenario needs
    [params]                            # overridable values, referenced as "$name" below
    cpus = 4      rounds = 3
    [machine]
    zones = [{name = "DMA32", pages = 16384, high = 42, batch = 7}, ...]
    percpu_populated = 64   fail_page_alloc = 0.0   watchdog_thresh_ms = 30000
    mm_percpu_wq = true     boot_initcalls = false  # true: the workload runs the initcalls
    [budget]
    max_steps = 200000      max_time_ms = 120000
    [[phases]]                          # run in order; the actors of a phase run concurrently
    repeat = "$rounds"
    actors = [{kind = "fill", cpus = [1], zone = "DMA32", pages = 20}, ...]

The scenario only sets the stage: it never states what should happen.  Validation errors
name the file, the key, and what was expected.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Iterator
from typing import Any

import attrs

from .._check import ORACLES, PROBES
from .._core import MSEC, USEC, BadInput
from .._kernel import MAX_CPUS, MAX_PAGES, Costs, MachineParams, Protection, ZoneSpec
from ._actors import ACTOR_KINDS, check_actor

__all__ = ["COMMON_PARAMS", "NotApplicable", "ScenarioDef", "parse_scenario"]

#: Parameters every scenario accepts.
COMMON_PARAMS: dict[str, Any] = {"cpus": 4, "protection": "default"}

_TOP_KEYS = {
    "name",
    "title",
    "hazard",
    "description",
    "oracles",
    "oracle_options",
    "probes",
    "min_cpus",
    "protection",
    "params",
    "machine",
    "budget",
    "phases",
}
_MACHINE_KEYS = {
    "zones",
    "percpu_populated",
    "fail_page_alloc",
    "pcpu_atomic_fail",
    "watchdog_thresh_ms",
    "mm_percpu_wq",
    "boot_initcalls",
    "pcp_batch_scale_max",
}
_BUDGET_KEYS = {"max_steps", "max_time_ms", "schedules"}


class NotApplicable(Exception):
    """The scenario cannot run with this design (its protection era rules it out)."""


#: The range every numeric parameter must lie in (checked before any run): ``cpus`` by the
#: engine's limit, every other integer within [0, MAX_PARAM] and every float finite within
#: [0, MAX_PARAM].  Values that size things further (zone pages, actor counts, repeats) have
#: their own limits where they are used (``MachineParams.validate``, the phase checks).
MAX_PARAM = 10_000_000


def _coerce(scenario: str, k: str, default: Any, v: Any) -> Any:
    """A parameter override converted to the type of its default, in range (or BadInput)."""
    what = f"parameter {k!r} of {scenario!r}"
    if isinstance(default, bool):
        if not isinstance(v, bool):
            raise BadInput(f"{what} must be true or false, got {v!r}")
        return v
    if isinstance(default, int):
        n: int | None = None
        if isinstance(v, int) and not isinstance(v, bool):
            n = v
        elif (isinstance(v, float) and math.isfinite(v) and v.is_integer()) or (
            isinstance(v, str) and v.strip().lstrip("-").isdigit() and len(v) <= 20
        ):
            n = int(v)
        if n is None:
            raise BadInput(f"{what} must be an integer, got {v!r}")
        _check_range(what, k, n, v)
        return n
    if isinstance(default, float):
        try:
            x = float(v) if not isinstance(v, bool) else math.nan
        except (TypeError, ValueError):
            x = math.nan
        if not math.isfinite(x) or not 0.0 <= x <= MAX_PARAM:
            raise BadInput(f"{what} must be a finite number within [0, {MAX_PARAM}], got {v!r}")
        return x
    if isinstance(default, str) and not isinstance(v, str):
        raise BadInput(f"{what} must be a string, got {v!r}")
    return v


def _check_range(what: str, k: str, n: int, given: Any) -> None:
    lo, hi = (1, MAX_CPUS) if k == "cpus" else (0, MAX_PARAM)
    if not lo <= n <= hi:
        raise BadInput(f"{what} must be within [{lo}, {hi}], got {given!r}")


def _err(src: str, key: str, msg: str) -> BadInput:
    return BadInput(f"{src}: {key}: {msg}")


#: Limits of what a scenario may ask for (checked at load and for every parameter set).
MAX_STEPS = 100_000_000
MAX_TIME_MS = 1_000_000_000
MAX_PHASES = 1_000_000
#: Options each oracle takes (``oracle_options`` in a scenario), with their type.
ORACLE_OPTIONS: dict[str, dict[str, type]] = {
    "drain-completeness": {"strict": bool},
    "liveness": {"bound_ms": int},
    "irq-off-bound": {"bound_us": int},
}


def _int(src: str, key: str, v: Any, lo: int = 0, hi: int = MAX_PARAM) -> int:
    """``v`` as an integer within [lo, hi], or BadInput naming the key."""
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and math.isfinite(v) and v.is_integer():
            v = int(v)
        else:
            raise _err(src, key, f"expected an integer, got {v!r}")
    if not lo <= v <= hi:
        raise _err(src, key, f"expected a value within [{lo}, {hi}], got {v}")
    return int(v)


def _prob(src: str, key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
        raise _err(src, key, f"expected a probability in [0, 1], got {v!r}")
    return float(v)


def _check_keys(
    src: str, where: str, got: dict[str, Any], allowed: set[str] | frozenset[str]
) -> None:
    for k in got:
        if k not in allowed:
            close = difflib.get_close_matches(k, sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _err(src, f"{where}{k}", f"unknown key{hint}; expected one of {sorted(allowed)}")


def _subst_quick(value: Any, p: dict[str, Any]) -> Any:
    """:meth:`ScenarioDef._subst` without the error's paths (KeyError: an unknown name)."""
    if isinstance(value, str):
        return p[value[1:]] if value.startswith("$") else value
    if isinstance(value, list):
        return [_subst_quick(v, p) for v in value]
    if isinstance(value, dict):
        return {k: _subst_quick(v, p) for k, v in value.items()}
    return value


@attrs.frozen
class ScenarioDef:
    """A validated scenario.  ``data`` is the canonical dict (what a token carries)."""

    name: str
    title: str
    hazard: str | None
    description: str
    oracles: tuple[str, ...]
    min_cpus: int
    protection: Protection | None
    defaults: dict[str, Any]
    data: dict[str, Any]
    source: str
    builtin: bool = False
    #: Stage probes (``pcptrio._check``): what the scenario must have done for a campaign's
    #: ``not-found`` to mean anything.
    probes: tuple[str, ...] = ()

    # ------------------------------------------------------------------ parameters

    def resolve_params(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults merged with ``overrides`` (unknown names and bad values are BadInput)."""
        p = dict(self.defaults)
        for k, raw in (overrides or {}).items():
            if k not in p:
                close = difflib.get_close_matches(k, list(p), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise BadInput(
                    f"scenario {self.name!r} has no parameter {k!r}{hint} "
                    f"(parameters: {', '.join(sorted(p))})"
                )
            p[k] = _coerce(self.name, k, p[k], raw)
        cpus = p["cpus"]
        if not isinstance(cpus, int) or cpus < 1:
            raise BadInput(f"cpus must be a positive integer, got {cpus!r}")
        if cpus < self.min_cpus:
            raise BadInput(
                f"scenario {self.name!r} needs at least {self.min_cpus} CPUs, got {cpus}"
            )
        if p["protection"] not in ("default", "irq", "preempt", "spinlock"):
            raise BadInput(
                "protection must be 'default', 'irq', 'preempt' or 'spinlock', "
                f"got {p['protection']!r}"
            )
        return p

    def _subst(self, value: Any, p: dict[str, Any], where: str) -> Any:
        """``value`` with every ``"$name"`` replaced by parameter ``name`` (every run does
        this: paths for the error are built only when a name is unknown)."""
        try:
            return _subst_quick(value, p)
        except KeyError:
            return self._subst_where(value, p, where)  # raises, naming the place

    def _subst_where(self, value: Any, p: dict[str, Any], where: str) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            key = value[1:]
            if key not in p:
                raise _err(self.source, where, f"refers to unknown parameter {value!r}")
            return p[key]
        if isinstance(value, list):
            return [self._subst_where(v, p, f"{where}[{j}]") for j, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self._subst_where(v, p, f"{where}.{k}") for k, v in value.items()}
        return value

    # ------------------------------------------------------------------ building a run

    def era_for(self, design_eras: tuple[Protection, ...], p: dict[str, Any]) -> Protection:
        """The protection era of a run: the scenario's requirement, an explicit override, or
        the design's own; NotApplicable if the design cannot run in it."""
        want = self.protection
        if p["protection"] != "default":
            asked = Protection(p["protection"])
            if want is not None and asked is not want:
                raise BadInput(
                    f"scenario {self.name!r} runs in the {want} era; protection={asked} conflicts"
                )
            want = asked
        if want is None:
            return design_eras[0]
        if want not in design_eras:
            raise NotApplicable(
                f"the design runs in the {'/'.join(map(str, design_eras))} era(s); "
                f"{self.name} needs {want}"
            )
        return want

    def machine_params(
        self, p: dict[str, Any], era: Protection
    ) -> tuple[MachineParams, dict[str, Any]]:
        """The machine of a run, and the fault knobs applied after it is built."""
        mach = self._subst(self.data.get("machine", {}), p, "machine")
        src = self.source
        zones = []
        raw_zones = mach.get("zones", [{"name": "Normal", "pages": 16384, "high": 42, "batch": 7}])
        if not isinstance(raw_zones, list) or not raw_zones:
            raise _err(src, "machine.zones", f"expected a list of zone tables, got {raw_zones!r}")
        for i, z in enumerate(raw_zones):
            where = f"machine.zones[{i}]"
            if not isinstance(z, dict) or "name" not in z or "pages" not in z:
                raise _err(src, where, "expected a table {name, pages, high?, batch?}")
            _check_keys(src, f"{where}.", z, {"name", "pages", "high", "batch"})
            if not isinstance(z["name"], str) or not z["name"]:
                raise _err(src, f"{where}.name", f"expected a zone name, got {z['name']!r}")
            zones.append(
                ZoneSpec(
                    z["name"],
                    _int(src, f"{where}.pages", z["pages"], 1, MAX_PAGES),
                    None if z.get("high") is None else _int(src, f"{where}.high", z["high"]),
                    None if z.get("batch") is None else _int(src, f"{where}.batch", z["batch"]),
                )
            )
        mm_wq = mach.get("mm_percpu_wq", True)
        if not isinstance(mm_wq, bool):
            raise _err(src, "machine.mm_percpu_wq", f"expected true or false, got {mm_wq!r}")
        staged = mach.get("boot_initcalls", False)
        if not isinstance(staged, bool):
            raise _err(src, "machine.boot_initcalls", f"expected true or false, got {staged!r}")
        params = MachineParams(
            cpus=int(p["cpus"]),
            zones=tuple(zones),
            protection=era,
            costs=Costs(),
            mm_percpu_wq=mm_wq,
            boot_initcalls=staged,
            watchdog_thresh_ns=_int(
                src, "machine.watchdog_thresh_ms", mach.get("watchdog_thresh_ms", 30000)
            )
            * MSEC,
            pcp_batch_scale_max=_int(
                src, "machine.pcp_batch_scale_max", mach.get("pcp_batch_scale_max", 5), 0, 16
            ),
            percpu_populated=_int(
                src, "machine.percpu_populated", mach.get("percpu_populated", 64)
            ),
        )
        faults = {
            k: _prob(src, f"machine.{k}", mach.get(k, 0.0))
            for k in ("fail_page_alloc", "pcpu_atomic_fail")
        }
        try:
            params.validate()
        except BadInput as exc:
            where = "machine"
            for i, z in enumerate(zones):
                if str(exc).startswith(f"zone {z.name}:"):
                    where = f"machine.zones[{i}]"
            raise _err(src, where, str(exc)) from None
        return params, faults

    def budget(self, p: dict[str, Any]) -> tuple[int, int]:
        """Per-run budgets: (max steps, max virtual time in ns)."""
        b = self._subst(self.data.get("budget", {}), p, "budget")
        steps = _int(self.source, "budget.max_steps", b.get("max_steps", 300_000), 1, MAX_STEPS)
        ms = _int(self.source, "budget.max_time_ms", b.get("max_time_ms", 120_000), 1, MAX_TIME_MS)
        return steps, ms * MSEC

    @property
    def schedules(self) -> int:
        """The default campaign budget (schedules) for this scenario."""
        v = self.data.get("budget", {}).get("schedules", 50)
        return _int(self.source, "budget.schedules", v, 1, MAX_PARAM)

    def iter_phases(self, p: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """The phases in run order, groups and repeats expanded lazily: each a list of
        actors.  (:meth:`check_phases` validated them; a repeat is never materialised.)"""

        def walk(phases: list[Any], where: str) -> Iterator[list[dict[str, Any]]]:
            for i, raw in enumerate(phases):
                w = f"{where}[{i}]"
                ph = self._subst(raw, p, w)
                for _ in range(ph.get("repeat", 1)):
                    if "phases" in ph:
                        yield from walk(ph["phases"], f"{w}.phases")
                    else:
                        yield [dict(a) for a in ph["actors"]]

        return walk(self.data.get("phases", []), "phases")

    def phases(self, p: dict[str, Any]) -> list[list[dict[str, Any]]]:
        """:meth:`iter_phases` as a list (after :meth:`check_phases`)."""
        self.check_phases(p)
        return list(self.iter_phases(p))

    def check_phases(self, p: dict[str, Any]) -> int:
        """Validate every phase and actor once with parameters ``p`` (types and ranges of
        every argument, repeats) and return how many phases a run expands them to (at most
        :data:`MAX_PHASES`)."""

        staged = self._subst(self.data.get("machine", {}), p, "machine").get(
            "boot_initcalls", False
        )

        def walk(phases: list[Any], where: str) -> int:
            total = 0
            for i, raw in enumerate(phases):
                w = f"{where}[{i}]"
                ph = self._subst(raw, p, w)
                repeat = _int(self.source, f"{w}.repeat", ph.get("repeat", 1), 0, MAX_PHASES)
                if "phases" in ph:
                    inner = walk(ph["phases"], f"{w}.phases")
                else:
                    for j, a in enumerate(ph["actors"]):
                        check_actor(self.source, f"{w}.actors[{j}]", a, int(p["cpus"]))
                        if isinstance(a, dict) and a.get("kind") == "initcall" and not staged:
                            raise _err(
                                self.source,
                                f"{w}.actors[{j}]",
                                "an initcall actor needs machine.boot_initcalls = true",
                            )
                    inner = 1
                total += repeat * inner
                if total > MAX_PHASES:
                    raise _err(self.source, w, f"expands to more than {MAX_PHASES} phases in a run")
            return total

        return walk(self.data.get("phases", []), "phases")

    def oracle_options(self, p: dict[str, Any]) -> dict[str, dict[str, Any]]:
        opts = self._subst(self.data.get("oracle_options", {}), p, "oracle_options")
        out: dict[str, dict[str, Any]] = {}
        for name, given in opts.items():
            where = f"oracle_options.{name}"
            if not isinstance(given, dict):
                raise _err(self.source, where, "expected a table of options")
            allowed = ORACLE_OPTIONS.get(name, {})
            _check_keys(self.source, f"{where}.", given, set(allowed))
            o: dict[str, Any] = {}
            for k, v in given.items():
                if allowed[k] is bool:
                    if not isinstance(v, bool):
                        raise _err(
                            self.source, f"{where}.{k}", f"expected true or false, got {v!r}"
                        )
                    o[k] = v
                else:
                    o[k] = _int(self.source, f"{where}.{k}", v, 1, MAX_TIME_MS)
            if "bound_ms" in o:
                o["bound_ns"] = o.pop("bound_ms") * MSEC
            if "bound_us" in o:
                o["bound_ns"] = o.pop("bound_us") * USEC
            out[name] = o
        return out

    def check(self, p: dict[str, Any], era: Protection) -> None:
        """Everything a run with parameters ``p`` in ``era`` will read, validated now: a bad
        value is bad input before any run, never a failure mid-campaign."""
        self.budget(p)
        self.machine_params(p, era)
        self.oracle_options(p)
        self.check_phases(p)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "hazard": self.hazard,
            "description": self.description,
            "oracles": list(self.oracles),
            "probes": list(self.probes),
            "min_cpus": self.min_cpus,
            "protection": str(self.protection) if self.protection else None,
            "params": dict(self.defaults),
        }


def _check_phases(source: str, where: str, phases: Any) -> None:
    if not isinstance(phases, list) or not phases:
        raise _err(source, where, "expected a non-empty list of phases (tables with 'actors')")
    for i, ph in enumerate(phases):
        w = f"{where}[{i}]"
        if not isinstance(ph, dict):
            raise _err(
                source, w, "expected a table with 'actors' or 'phases' (and optional 'repeat')"
            )
        _check_keys(source, f"{w}.", ph, {"actors", "phases", "repeat"})
        if ("actors" in ph) == ("phases" in ph):
            raise _err(source, w, "expected exactly one of 'actors' or 'phases'")
        if "phases" in ph:
            _check_phases(source, f"{w}.phases", ph["phases"])
            continue
        actors = ph["actors"]
        if not isinstance(actors, list) or not actors:
            raise _err(source, f"{w}.actors", "expected a non-empty list of actors")
        for j, a in enumerate(actors):
            aw = f"{w}.actors[{j}]"
            if not isinstance(a, dict) or "kind" not in a:
                raise _err(
                    source, aw, f"expected a table with a 'kind' (one of {sorted(ACTOR_KINDS)})"
                )
            kind = a["kind"]
            if not isinstance(kind, str) or kind not in ACTOR_KINDS:
                close = difflib.get_close_matches(str(kind), list(ACTOR_KINDS), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise _err(source, f"{aw}.kind", f"unknown actor kind {kind!r}{hint}")
            args = {k: v for k, v in a.items() if k != "kind"}
            _check_keys(source, f"{aw}.", args, ACTOR_KINDS[kind][1])


def _names(source: str, key: str, given: Any, known: list[str], what: str) -> list[str]:
    """A list of known names (``oracles``, ``probes``), with a suggestion for a typo."""
    if not isinstance(given, list) or not all(isinstance(x, str) for x in given):
        raise _err(source, key, f"expected a list of {what} names")
    for x in given:
        if x not in known:
            close = difflib.get_close_matches(x, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _err(source, key, f"unknown {what} {x!r}{hint}")
    return given


#: How deeply a scenario's tables and lists may nest (the built-ins need 6).
MAX_DEPTH = 32


def _check_depth(source: str, data: Any) -> None:
    """Refuse absurd nesting before anything recursive touches the data."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        v, d = stack.pop()
        if d > MAX_DEPTH:
            raise BadInput(f"{source}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)


def parse_scenario(data: dict[str, Any], source: str, *, builtin: bool = False) -> ScenarioDef:
    """Validate a scenario dict (from a built-in or a TOML file) and return it."""
    if not isinstance(data, dict):
        raise BadInput(f"{source}: a scenario must be a table")
    _check_depth(source, data)
    data = copy.deepcopy(data)
    _check_keys(source, "", data, _TOP_KEYS)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _err(source, "name", "expected a non-empty string")
    oracles = _names(source, "oracles", data.get("oracles", []), list(ORACLES), "oracle")
    probes = _names(source, "probes", data.get("probes", []), list(PROBES), "stage probe")
    oo = data.get("oracle_options", {})
    if not isinstance(oo, dict):
        raise _err(source, "oracle_options", "expected a table of oracle name -> options")
    for o in oo:
        if o not in ORACLES:
            raise _err(source, f"oracle_options.{o}", "unknown oracle")
    prot = data.get("protection")
    if prot is not None and prot not in ("irq", "preempt", "spinlock"):
        raise _err(source, "protection", f"expected 'irq', 'preempt' or 'spinlock', got {prot!r}")
    min_cpus = data.get("min_cpus", 1)
    if not isinstance(min_cpus, int) or isinstance(min_cpus, bool) or not 1 <= min_cpus <= MAX_CPUS:
        raise _err(
            source, "min_cpus", f"expected an integer within [1, {MAX_CPUS}], got {min_cpus!r}"
        )
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise _err(source, "params", "expected a table of name = default value")
    for k, v in params.items():
        if not isinstance(v, (int, float, str, bool)):
            raise _err(source, f"params.{k}", f"expected a number, string or boolean, got {v!r}")
    defaults = {**COMMON_PARAMS, **params}
    for k, v in defaults.items():
        # A default must have its common parameter's type (``cpus`` an integer) and, like
        # any value, lie in range: the same check an override gets.
        try:
            defaults[k] = _coerce(name, k, COMMON_PARAMS.get(k, v), v)
        except BadInput as exc:
            raise _err(source, f"params.{k}", str(exc)) from None
    for key in ("title", "description", "hazard"):
        if key in data and not isinstance(data[key], str):
            raise _err(source, key, f"expected a string, got {data[key]!r}")
    machine = data.get("machine", {})
    if not isinstance(machine, dict):
        raise _err(source, "machine", "expected a table")
    _check_keys(source, "machine.", machine, _MACHINE_KEYS)
    zones = machine.get("zones")
    if zones is not None and (not isinstance(zones, list) or not zones):
        raise _err(
            source, "machine.zones", "expected a non-empty list of {name, pages, high?, batch?}"
        )
    budget = data.get("budget", {})
    if not isinstance(budget, dict):
        raise _err(source, "budget", "expected a table")
    _check_keys(source, "budget.", budget, _BUDGET_KEYS)
    phases = data.get("phases")
    _check_phases(source, "phases", phases)
    s = ScenarioDef(
        name=name,
        title=str(data.get("title", name)),
        hazard=data.get("hazard"),
        description=str(data.get("description", "")),
        oracles=tuple(oracles),
        min_cpus=min_cpus,
        protection=Protection(prot) if prot else None,
        defaults=defaults,
        data=data,
        source=source,
        builtin=builtin,
        probes=tuple(dict.fromkeys(probes)),
    )
    # Resolve the defaults once, so a broken scenario fails when loaded, not mid-campaign.
    p = s.resolve_params({"cpus": max(defaults["cpus"], min_cpus)})
    s.check(p, s.protection or Protection.IRQ)
    _ = s.schedules
    return s
