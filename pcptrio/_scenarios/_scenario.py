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
    mm_percpu_wq = true
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
from typing import Any

import attrs

from .._check import ORACLES, PROBES
from .._core import MSEC, BadInput
from .._kernel import Costs, MachineParams, Protection, ZoneSpec
from ._actors import ACTOR_KINDS

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
    "pcp_batch_scale_max",
}
_BUDGET_KEYS = {"max_steps", "max_time_ms", "schedules"}


class NotApplicable(Exception):
    """The scenario cannot run with this design (its protection era rules it out)."""


def _coerce(scenario: str, k: str, default: Any, v: Any) -> Any:
    """A parameter override converted to the type of its default (or a clear BadInput)."""
    what = f"parameter {k!r} of {scenario!r}"
    if isinstance(default, bool):
        if not isinstance(v, bool):
            raise BadInput(f"{what} must be true or false, got {v!r}")
        return v
    if isinstance(default, int):
        try:
            return int(v)
        except (TypeError, ValueError):
            raise BadInput(f"{what} must be an integer, got {v!r}") from None
    if isinstance(default, float):
        try:
            return float(v)
        except (TypeError, ValueError):
            raise BadInput(f"{what} must be a number, got {v!r}") from None
    return v


def _err(src: str, key: str, msg: str) -> BadInput:
    return BadInput(f"{src}: {key}: {msg}")


def _check_keys(
    src: str, where: str, got: dict[str, Any], allowed: set[str] | frozenset[str]
) -> None:
    for k in got:
        if k not in allowed:
            close = difflib.get_close_matches(k, sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _err(src, f"{where}{k}", f"unknown key{hint}; expected one of {sorted(allowed)}")


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
        if isinstance(value, str) and value.startswith("$"):
            key = value[1:]
            if key not in p:
                raise _err(self.source, where, f"refers to unknown parameter {value!r}")
            return p[key]
        if isinstance(value, list):
            return [self._subst(v, p, f"{where}[{j}]") for j, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self._subst(v, p, f"{where}.{k}") for k, v in value.items()}
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
        zones = []
        for i, z in enumerate(
            mach.get("zones", [{"name": "Normal", "pages": 16384, "high": 42, "batch": 7}])
        ):
            where = f"machine.zones[{i}]"
            try:
                zones.append(
                    ZoneSpec(
                        str(z["name"]),
                        int(z["pages"]),
                        None if z.get("high") is None else int(z["high"]),
                        None if z.get("batch") is None else int(z["batch"]),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise _err(
                    self.source, where, f"expected {{name, pages, high?, batch?}} ({exc})"
                ) from None
        try:
            params = MachineParams(
                cpus=int(p["cpus"]),
                zones=tuple(zones),
                protection=era,
                costs=Costs(),
                mm_percpu_wq=bool(mach.get("mm_percpu_wq", True)),
                watchdog_thresh_ns=int(mach.get("watchdog_thresh_ms", 30000)) * MSEC,
                pcp_batch_scale_max=int(mach.get("pcp_batch_scale_max", 5)),
                percpu_populated=int(mach.get("percpu_populated", 64)),
            )
            faults = {
                "fail_page_alloc": float(mach.get("fail_page_alloc", 0.0)),
                "pcpu_atomic_fail": float(mach.get("pcpu_atomic_fail", 0.0)),
            }
        except (TypeError, ValueError) as exc:
            raise _err(self.source, "machine", f"expected numbers ({exc})") from None
        try:
            params.validate()
        except BadInput as exc:
            where = "machine"
            for i, z in enumerate(zones):
                if str(exc).startswith(f"zone {z.name}:"):
                    where = f"machine.zones[{i}]"
            raise _err(self.source, where, str(exc)) from None
        for k, v in faults.items():
            if not 0.0 <= v <= 1.0:
                raise _err(self.source, f"machine.{k}", f"must be a probability in [0, 1], got {v}")
        return params, faults

    def budget(self, p: dict[str, Any]) -> tuple[int, int]:
        """Per-run budgets: (max steps, max virtual time in ns)."""
        b = self._subst(self.data.get("budget", {}), p, "budget")
        return int(b.get("max_steps", 300_000)), int(b.get("max_time_ms", 120_000)) * MSEC

    @property
    def schedules(self) -> int:
        """The default campaign budget (schedules) for this scenario."""
        return int(self.data.get("budget", {}).get("schedules", 50))

    def phases(self, p: dict[str, Any]) -> list[list[dict[str, Any]]]:
        """The phases in run order, groups and repeats expanded: each a list of actors."""
        out: list[list[dict[str, Any]]] = []

        def walk(phases: list[Any], where: str) -> None:
            for i, raw in enumerate(phases):
                w = f"{where}[{i}]"
                ph = self._subst(raw, p, w)
                repeat = ph.get("repeat", 1)
                if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 0:
                    raise _err(self.source, f"{w}.repeat", f"expected a count >= 0, got {repeat!r}")
                for _ in range(repeat):
                    if "phases" in ph:
                        walk(ph["phases"], f"{w}.phases")
                    else:
                        out.append(
                            [
                                self._checked_actor(a, f"{w}.actors[{j}]")
                                for j, a in enumerate(ph["actors"])
                            ]
                        )

        walk(self.data.get("phases", []), "phases")
        return out

    def _checked_actor(self, a: dict[str, Any], where: str) -> dict[str, Any]:
        """An actor after parameter substitution: counts, sizes and times are never negative."""
        for k, v in a.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
                raise _err(self.source, f"{where}.{k}", f"expected a value >= 0, got {v}")
        return dict(a)

    def oracle_options(self, p: dict[str, Any]) -> dict[str, dict[str, Any]]:
        opts = self._subst(self.data.get("oracle_options", {}), p, "oracle_options")
        out: dict[str, dict[str, Any]] = {}
        for name, given in opts.items():
            o = dict(given)
            if "bound_ms" in o:
                o["bound_ns"] = int(o.pop("bound_ms")) * MSEC
            out[name] = o
        return out

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
            if kind not in ACTOR_KINDS:
                close = difflib.get_close_matches(str(kind), list(ACTOR_KINDS), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise _err(source, f"{aw}.kind", f"unknown actor kind {kind!r}{hint}")
            args = {k: v for k, v in a.items() if k != "kind"}
            _check_keys(source, f"{aw}.", args, ACTOR_KINDS[kind][1])


def parse_scenario(data: dict[str, Any], source: str, *, builtin: bool = False) -> ScenarioDef:
    """Validate a scenario dict (from a built-in or a TOML file) and return it."""
    if not isinstance(data, dict):
        raise BadInput(f"{source}: a scenario must be a table")
    data = copy.deepcopy(data)
    _check_keys(source, "", data, _TOP_KEYS)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _err(source, "name", "expected a non-empty string")
    oracles = data.get("oracles", [])
    if not isinstance(oracles, list) or not all(isinstance(o, str) for o in oracles):
        raise _err(source, "oracles", "expected a list of oracle names")
    for o in oracles:
        if o not in ORACLES:
            close = difflib.get_close_matches(o, list(ORACLES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _err(source, "oracles", f"unknown oracle {o!r}{hint}")
    probes = data.get("probes", [])
    if not isinstance(probes, list) or not all(isinstance(x, str) for x in probes):
        raise _err(source, "probes", "expected a list of stage probe names")
    for x in probes:
        if x not in PROBES:
            close = difflib.get_close_matches(x, list(PROBES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _err(source, "probes", f"unknown stage probe {x!r}{hint}")
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
    if not isinstance(min_cpus, int) or isinstance(min_cpus, bool) or min_cpus < 1:
        raise _err(source, "min_cpus", f"expected a positive integer, got {min_cpus!r}")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise _err(source, "params", "expected a table of name = default value")
    for k, v in params.items():
        if not isinstance(v, (int, float, str, bool)):
            raise _err(source, f"params.{k}", f"expected a number, string or boolean, got {v!r}")
    defaults = {**COMMON_PARAMS, **params}
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
    s.budget(p)
    s.phases(p)
    s.oracle_options(p)
    s.machine_params(p, s.protection or Protection.IRQ)
    return s
