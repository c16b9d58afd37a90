"""Hostile input never escapes: fuzzed TOML scenarios and ``--param`` values are either
accepted or refused with one ``BadInput`` — never another exception, never found mid-run.

Each example mutates a real scenario (a built-in, as a user would copy it into a TOML file):
one leaf replaced by a value of another type, an absurd number, ``inf``/``nan``, a deep
nest, or a key dropped.  An accepted scenario must also survive a short run.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from pcptrio import BadInput, RandomScheduler
from pcptrio._explore import make_run_spec, run_spec
from pcptrio._scenarios import NotApplicable, builtin_scenarios, parse_scenario
from pcptrio.cli import _params

BUILTINS = [s.data for s in builtin_scenarios()]

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.sampled_from([math.inf, -math.inf, math.nan, 1e300, 2.7, -0.0, 10**30]),
    st.text(max_size=8),
    st.sampled_from(["$cpus", "$nope", "all", "last", "four", "down:last", ""]),
    st.lists(st.integers(min_value=-3, max_value=5), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.builds(lambda: [[[[[[[[]]]]]]]]),
)


def _paths(v: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a leaf or container inside ``v``."""
    out = [prefix]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _paths(x, (*prefix, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += _paths(x, (*prefix, i))
    return out


@st.composite
def mutated_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(BUILTINS)))
    data["name"] = "fuzzed"
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent: Any = data
        for k in path[:-1]:
            parent = parent[k]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(ODD_VALUES)
    return data


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_scenarios(), st.sampled_from(["ipi", "wq-4.11", "remote-6.11"]))
def test_a_fuzzed_scenario_is_accepted_or_refused_cleanly(
    data: dict[str, Any], design: str
) -> None:
    """Loading and preparing a mutated scenario raises nothing but BadInput; one that is
    accepted runs (a few hundred steps) without a crash of pcptrio itself."""
    try:
        s = parse_scenario(data, "fuzzed.toml")
        spec = make_run_spec(s, design, {"cpus": max(2, s.min_cpus)})
    except (BadInput, NotApplicable):
        return
    r = run_spec(spec, RandomScheduler(0), record_trace=False)
    # A run may end any way (a design, the model or a budget), but never as a pcptrio crash
    # that escaped as an exception; errors of the model name an actor.
    assert str(r.outcome) in ("ok", "violation", "deadlock", "budget-exhausted", "error")
    if str(r.outcome) == "error":
        assert "raised" in (r.error or "") or "drift" in (r.error or ""), r.error


def test_a_deeply_nested_scenario_is_refused_before_copying() -> None:
    """Nesting 10,000 levels deep is refused with one message (no RecursionError)."""
    deep: Any = []
    for _ in range(10_000):
        deep = [deep]
    data = copy.deepcopy(BUILTINS[0])
    data["phases"][0]["actors"][0]["cpus"] = deep
    with pytest.raises(BadInput, match="nested more than"):
        parse_scenario(data, "deep.toml")


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        ({"budget": {"max_steps": {}}}, "budget.max_steps: expected an integer"),
        ({"budget": {"schedules": "many"}}, "budget.schedules: expected an integer"),
        ({"budget": {"max_time_ms": math.inf}}, "budget.max_time_ms: expected an integer"),
        ({"oracle_options": {"liveness": 3}}, "oracle_options.liveness: expected a table"),
        ({"oracle_options": {"liveness": {"bound": 3}}}, "unknown key"),
        ({"params": {"cpus": "four"}}, "must be an integer"),
    ],
)
def test_reproducers_from_review_are_bad_input(change: dict[str, Any], expect: str) -> None:
    """The TOML values that gave tracebacks in review are refused at load, naming the key."""
    data = copy.deepcopy(BUILTINS[0])
    data["name"] = "x"
    for k, v in change.items():
        data[k] = {**data.get(k, {}), **v} if isinstance(data.get(k), dict) else v
    with pytest.raises(BadInput, match=expect):
        parse_scenario(data, "x.toml")


def test_an_actor_kind_that_is_not_a_string_is_bad_input() -> None:
    """``kind = []`` is refused, not a TypeError."""
    data = copy.deepcopy(BUILTINS[0])
    data["phases"][0]["actors"][0]["kind"] = []
    with pytest.raises(BadInput, match="kind"):
        parse_scenario(data, "x.toml")


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["ops", "cpus", "pages", "drains", "high", "batch", "protection", "nope"]),
    st.one_of(
        st.text(max_size=12),
        st.sampled_from(["inf", "-inf", "nan", "1e300", "1000000000000", "2.7", "true", "-1"]),
        st.integers(min_value=-(10**20), max_value=10**20).map(str),
    ),
)
def test_fuzzed_param_values_are_accepted_or_refused_cleanly(name: str, value: str) -> None:
    """``--param NAME=VALUE`` is parsed and checked before any run: BadInput or a valid
    run spec, nothing else."""
    try:
        params = _params([f"{name}={value}"], None)
        spec = make_run_spec("steady", "ipi", params)
    except BadInput:
        return
    p = spec.params
    assert isinstance(p["ops"], int) and 0 <= p["ops"] <= 10_000_000
    assert isinstance(p["cpus"], int) and 1 <= p["cpus"] <= 1024


# ------------------------------------------------------------------------- forged tokens


def _forged(design: str) -> str:
    from pcptrio import encode_token
    from pcptrio._version import __version__

    spec = {"pcptrio": __version__, "scenario": "steady", "design": design, "params": {}}
    return encode_token(spec, [])


@pytest.mark.parametrize(
    ("design", "says"),
    [
        ("sys:exit", "not a design"),
        ("os:abort", "not a design"),
        ("builtins:input", "not a design"),
        ("builtins:open", "not a design"),
        ("this:s", "not imported"),
        ("json.tool:main", "not imported"),
        ("sys:exit()", "factory"),
        (":x", "not 'package.module:attribute'"),
    ],
)
def test_a_forged_token_runs_no_code(
    design: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A token naming ``sys:exit``, ``os:abort``, ``this:s``... is refused with one line and
    exit 2: nothing is imported and nothing but a design is ever called."""
    import sys

    from pcptrio.cli import main

    before = set(sys.modules)
    rc = main(["replay", _forged(design)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and says in err, err
    assert set(sys.modules) - before <= {"pcptrio._explore._workers"}


def test_allow_import_lets_a_trusted_token_import_its_design(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A token of a design in a module not imported yet is refused, naming the module, and
    replays with --allow-import (or --design naming it)."""
    from pcptrio.cli import main

    (tmp_path / "forged_ok_design.py").write_text(
        "async def drain(m, zone, force_all_cpus):\n    await m.drain_local_pages(zone)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    token = _forged("forged_ok_design:drain")
    assert main(["replay", token]) == 2
    assert "module 'forged_ok_design'" in capsys.readouterr().err
    assert main(["replay", token, "--allow-import", "--lenient"]) in (0, 1, 3)
    assert "Traceback" not in capsys.readouterr().err


def test_spawning_counts_against_the_budget() -> None:
    """A run that spawns actors without taking steps ends as budget-exhausted ('actors')."""
    import trio

    from pcptrio import Engine, Outcome

    e = Engine(cpus=2, scheduler=RandomScheduler(0), max_steps=50)

    async def noop() -> None:
        await e.point("x")

    async def main() -> None:
        async with e.open_nursery() as n:
            for _ in range(1000):
                n.start_soon(noop, name="t", cpu=0)

    r = trio.run(e.run, main)
    assert r.outcome is Outcome.BUDGET_EXHAUSTED and r.budget == "actors"
    assert r.stats.actors == 50
