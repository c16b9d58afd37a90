"""Scenarios by name (built-ins) or by TOML path."""

from __future__ import annotations

import difflib
import functools
import os

from .._core import BadInput
from ._builtin import BUILTIN_SCENARIOS
from ._scenario import ScenarioDef, parse_scenario
from ._toml import load_toml_scenario

__all__ = ["builtin_scenarios", "hazard_scenarios", "resolve_scenario", "scenario_names"]


@functools.cache
def builtin_scenarios() -> tuple[ScenarioDef, ...]:
    """The built-in scenarios, validated once per process (immutable values)."""
    return tuple(
        parse_scenario(d, f"built-in {d['name']}", builtin=True) for d in BUILTIN_SCENARIOS
    )


def hazard_scenarios() -> tuple[ScenarioDef, ...]:
    """The scenarios of the hazard matrix, in ``docs/hazards.md`` order."""
    return tuple(s for s in builtin_scenarios() if s.hazard)


def scenario_names() -> list[str]:
    return [s.name for s in builtin_scenarios()]


def resolve_scenario(spec: str | os.PathLike[str] | ScenarioDef) -> ScenarioDef:
    """A built-in by name, or a user scenario from a ``.toml`` file."""
    if isinstance(spec, ScenarioDef):
        return spec
    spec = os.fspath(spec)
    for s in builtin_scenarios():
        if s.name == spec:
            return s
    if spec.endswith(".toml"):
        return load_toml_scenario(spec)
    close = difflib.get_close_matches(spec, scenario_names(), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise BadInput(
        f"unknown scenario {spec!r}{hint} (built-ins: {', '.join(scenario_names())}; "
        "or a path to a .toml file)"
    )
