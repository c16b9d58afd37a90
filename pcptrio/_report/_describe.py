"""``pcptrio describe``: a design's control flow and history, or a hazard's trigger, failure,
fix and scenario.  Which rows a design is found in, and which designs a hazard is found in,
come only from a matrix result the user passes (``pcptrio matrix --out m.json``): this module
holds no verdict."""

from __future__ import annotations

import inspect
import sys
import textwrap
from typing import Any

from .._check import ORACLES, PROBES
from .._core import BadInput
from .._drain import DrainDesign, design_ref
from .._scenarios import HAZARDS, ScenarioDef

__all__ = ["check_matrix_json", "describe_design", "describe_hazard"]

_WIDTH = 92


def check_matrix_json(data: Any, source: str) -> list[dict[str, Any]]:
    """The cells of a ``pcptrio matrix --json`` / ``--out`` file, or BadInput."""
    cells = data.get("cells") if isinstance(data, dict) else None
    ok = isinstance(cells, list) and all(
        isinstance(c, dict) and {"hazard", "scenario", "design", "verdict"} <= set(c) for c in cells
    )
    if not ok:
        raise BadInput(f"{source}: not a matrix result (expected the JSON of `pcptrio matrix`)")
    assert isinstance(cells, list)
    return cells


def _wrap(text: str, indent: str = "  ") -> str:
    paras = [" ".join(p.split()) for p in text.strip().split("\n\n") if p.strip()]
    return "\n".join(
        textwrap.fill(p, _WIDTH, initial_indent=indent, subsequent_indent=indent) for p in paras
    )


def _control_flow(d: DrainDesign) -> str:
    """The design's kernel pseudo-code: its module's docstring (a built-in's), else the
    drain function's."""
    fn = d.drain_all_pages
    mod = sys.modules.get(getattr(fn, "__module__", ""), None)
    doc = inspect.getdoc(mod) if mod is not None and mod.__name__.startswith("pcptrio.") else None
    return doc or inspect.getdoc(fn) or "(no docstring)"


def _verdict_lines(cells: list[dict[str, Any]], label: str) -> list[str]:
    def name(c: dict[str, Any]) -> str:
        return f"{c['hazard']} {c['scenario']}" if label == "rows" else str(c["design"])

    found = [name(c) for c in cells if c["verdict"] == "found"]
    out = [f"found in ({label}): " + (", ".join(found) or "none")]
    rest: dict[str, list[str]] = {}
    for c in cells:
        if c["verdict"] != "found":
            rest.setdefault(str(c["verdict"]), []).append(name(c))
    for verdict, names in sorted(rest.items()):
        out.append(f"{verdict}: " + ", ".join(names))
    return out


def _from_matrix(
    mine: list[dict[str, Any]], source: str | None, absent: str, label: str
) -> list[str]:
    if not mine:
        return [f"from {source}: {absent} in this matrix"]
    return [f"from {source}:", *("  " + x for x in _verdict_lines(mine, label))]


def describe_design(
    d: DrainDesign, cells: list[dict[str, Any]] | None, source: str | None
) -> tuple[dict[str, Any], str]:
    data: dict[str, Any] = {
        "design": design_ref(d),
        "kernel": d.kernel,
        "summary": d.summary,
        "eras": [str(e) for e in d.eras],
        "commits": list(d.commits),
        "features": d.features.to_json(),
        "control_flow": _control_flow(d),
    }
    lines = [f"{design_ref(d)}: {d.kernel or '(no kernel given)'}", _wrap(d.summary or "")]
    lines += [
        "",
        "protection eras: " + ", ".join(data["eras"]),
        "commits: " + (", ".join(d.commits) or "-"),
        textwrap.fill(
            "kernel features: " + ", ".join(f"{k}={v}" for k, v in data["features"].items()),
            _WIDTH,
            subsequent_indent="  ",
            break_on_hyphens=False,
            break_long_words=False,
        ),
        "",
        "control flow:",
        textwrap.indent(data["control_flow"], "  "),
        "",
    ]
    if cells is None:
        lines.append(
            "rows: run `pcptrio matrix --out m.json` and pass `--matrix m.json` to see which "
            "hazards exploration finds in this design"
        )
    else:
        mine = [c for c in cells if c["design"] == d.name]
        data["rows"] = {f"{c['hazard']} {c['scenario']}": c["verdict"] for c in mine}
        lines += _from_matrix(mine, source, f"no column {d.name!r}", "rows")
    return data, "\n".join(lines).rstrip()


def describe_hazard(
    s: ScenarioDef, cells: list[dict[str, Any]] | None, source: str | None
) -> tuple[dict[str, Any], str]:
    h = HAZARDS.get(s.hazard or "")
    data: dict[str, Any] = {
        "hazard": s.hazard,
        "scenario": s.name,
        "title": s.title,
        "trigger": s.description,
        "failure": h.failure if h else None,
        "fixed_by": h.fixed_by if h else None,
        "min_cpus": s.min_cpus,
        "params": dict(s.defaults),
        "budget": s.data.get("budget", {}),
        "probes": {p: PROBES[p].description for p in s.probes},
        "oracles": {o: ORACLES[o].description for o in s.oracles},
    }
    head = f"{s.hazard} {s.name}" if s.hazard else s.name
    lines = [f"{head}: {s.title}", "", "trigger (the scenario):", _wrap(s.description)]
    if h is not None:
        lines += ["", "failure:", _wrap(h.failure), "", "fixed by:", _wrap(h.fixed_by)]
    lines += [
        "",
        f"scenario: {s.name}, min {s.min_cpus} CPUs, "
        + ", ".join(f"{k}={v}" for k, v in s.defaults.items()),
        "budget: " + (", ".join(f"{k}={v}" for k, v in data["budget"].items()) or "defaults"),
        "oracles judging the row (always-on ones run too):",
    ]
    lines += [f"  {o}: {desc}" for o, desc in data["oracles"].items()] or ["  (always-on only)"]
    lines.append("stage probes (a not-found cell must reach them):")
    lines += [f"  {p}: {desc}" for p, desc in data["probes"].items()] or ["  -"]
    lines.append("")
    if cells is None:
        lines.append(
            "designs: run `pcptrio matrix --out m.json` and pass `--matrix m.json` to see "
            "which designs exploration finds this hazard in"
        )
    else:
        mine = [c for c in cells if c["scenario"] == s.name]
        data["designs"] = {str(c["design"]): c["verdict"] for c in mine}
        lines += _from_matrix(mine, source, f"no row {s.name!r}", "designs")
    return data, "\n".join(lines).rstrip()
