"""User scenarios from TOML files (same schema as the built-ins, see ``_scenario.py``).

Example ``my-storm.toml``::

    name = "my-storm"
    description = "eight reclaimers on four CPUs"
    oracles = ["disturbance-bound"]
    min_cpus = 3

    [params]
    cpus = 4
    reclaimers = 8

    [machine]
    zones = [{ name = "Normal", pages = 16384, high = 42, batch = 7 }]

    [[phases]]
    actors = [{ kind = "fill", cpus = "all", pages = 20 }]

    [[phases]]
    actors = [{ kind = "drainers", count = "$reclaimers" }]

Errors name the file and the key: ``my-storm.toml: phases[1].actors[0].kind: unknown actor
kind 'drainer' (did you mean 'drainers'?)``.
"""

from __future__ import annotations

import pathlib
import tomllib

from .._core import BadInput
from ._scenario import ScenarioDef, parse_scenario

__all__ = ["load_toml_scenario", "parse_toml_scenario"]


def parse_toml_scenario(text: str, source: str) -> ScenarioDef:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{source}: malformed TOML: {exc}") from None
    return parse_scenario(data, source)


def load_toml_scenario(path: str | pathlib.Path) -> ScenarioDef:
    p = pathlib.Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{p}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{p}: cannot read scenario file: {exc}") from None
    return parse_toml_scenario(text, str(p))
