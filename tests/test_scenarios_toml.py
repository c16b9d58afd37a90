"""User scenarios from TOML files, and the scenario schema's errors.

A TOML scenario has the schema of the built-ins (``pcptrio/_scenarios/_scenario.py``).  Every
schema error is a :class:`pcptrio.BadInput` whose message names the file, the key, and what
was expected, e.g. ``my.toml: phases[1].actors[0].kind: unknown actor kind 'drainer' (did you
mean 'drainers'?)``.
"""

from __future__ import annotations

import pathlib
import re

import pytest

from pcptrio import BadInput
from pcptrio._core import Outcome, RandomScheduler
from pcptrio._explore import make_run_spec, replay, run_spec, token_of
from pcptrio._kernel import Protection
from pcptrio._scenarios import (
    NotApplicable,
    ScenarioDef,
    builtin_scenarios,
    load_toml_scenario,
    parse_scenario,
    parse_toml_scenario,
    resolve_scenario,
)

HOT_REMOVE = """\
name = "my-hot-remove"
title = "memory hot-remove from a kworker"
description = "the CPUs hold pages of one zone; a kworker drains that zone"
oracles = ["drain-completeness"]
min_cpus = 1

[params]
cpus = 2
fill = 20
high = 42
batch = 7
ratio = 0.5
verbose = false
zone = "Normal"

[machine]
zones = [{ name = "$zone", pages = 16384, high = "$high", batch = "$batch" }]

[budget]
schedules = 7

[[phases]]
actors = [{ kind = "fill", cpus = "all", pages = "$fill" }]

[[phases]]
actors = [{ kind = "kworker-drain", cpu = 0, zone = "$zone" }]
"""

FILL = '[[phases]]\nactors = [{ kind = "fill", cpus = "all", pages = 4 }]\n'


def write(tmp_path: pathlib.Path, text: str, name: str = "my.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def bad(text: str, source: str = "my.toml") -> str:
    """The message of the BadInput that parsing ``text`` raises."""
    with pytest.raises(BadInput) as exc:
        parse_toml_scenario(text, source)
    msg = str(exc.value)
    assert msg.startswith(f"{source}: "), msg
    return msg


# ---------------------------------------------------------------------------- valid scenarios


def test_load_valid_scenario(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, HOT_REMOVE)
    s = load_toml_scenario(path)
    assert isinstance(s, ScenarioDef)
    assert s.name == "my-hot-remove" and s.title == "memory hot-remove from a kworker"
    assert s.hazard is None and not s.builtin
    assert s.source == path
    assert load_toml_scenario(pathlib.Path(path)).data == s.data
    assert s.oracles == ("drain-completeness",)
    assert s.min_cpus == 1 and s.protection is None
    assert s.schedules == 7
    assert s.defaults == {
        "cpus": 2,
        "protection": "default",
        "fill": 20,
        "high": 42,
        "batch": 7,
        "ratio": 0.5,
        "verbose": False,
        "zone": "Normal",
    }
    # a .toml path resolves like a built-in name
    assert resolve_scenario(str(path)).data == s.data
    assert s.to_json()["params"] == s.defaults


@pytest.mark.parametrize(
    ("design", "outcome"),
    [("wq-4.11", Outcome.VIOLATION), ("wq-5.0", Outcome.OK), ("remote-6.11", Outcome.OK)],
)
def test_user_scenario_runs(tmp_path: pathlib.Path, design: str, outcome: Outcome) -> None:
    """The kworker-drain stage: wq-4.11 returns early from a kworker (PF_WQ_WORKER) and
    leaves the pages; wq-5.0 drains them."""
    spec = make_run_spec(write(tmp_path, HOT_REMOVE), design, {"cpus": 2})
    assert spec.params["cpus"] == 2
    r = run_spec(spec, RandomScheduler(0))
    assert r.outcome is outcome, r.headline
    assert r.extra["scenario"] == "my-hot-remove"
    if outcome is Outcome.VIOLATION:
        assert r.violation is not None
        assert r.violation.oracle == "drain-completeness"
        assert "drain_all_pages(Normal)" in r.violation.message
    else:
        assert r.violation is None
    assert len(r.extra["drain_calls"]) == 1


def test_user_scenario_token_carries_the_scenario(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, HOT_REMOVE)
    r = run_spec(make_run_spec(path, "wq-4.11", {"cpus": 2}), RandomScheduler(3))
    token = token_of(r)
    pathlib.Path(path).unlink()  # the file is gone; the token still has the whole definition
    again = replay(token)
    assert again.trace_sha256 == r.trace_sha256
    assert again.extra["scenario"] == "my-hot-remove"


def test_make_run_spec_accepts_a_path(tmp_path: pathlib.Path) -> None:
    path = pathlib.Path(write(tmp_path, HOT_REMOVE))
    assert make_run_spec(path, "wq-4.11", {"cpus": 2}).scenario.name == "my-hot-remove"


def test_protection_era_and_not_applicable(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, 'protection = "preempt"\n' + HOT_REMOVE)
    s = load_toml_scenario(path)
    assert s.protection is Protection.PREEMPT
    assert make_run_spec(s, "wq-4.11").era is Protection.PREEMPT
    with pytest.raises(NotApplicable, match="needs preempt"):
        make_run_spec(s, "remote-6.11")


# ---------------------------------------------------------------------------- parameters


def test_param_references_are_substituted() -> None:
    s = parse_toml_scenario(HOT_REMOVE, "my.toml")
    p = s.resolve_params({"fill": 5, "high": 30, "batch": 3, "cpus": 3})
    phases = s.phases(p)
    assert phases[0] == [{"kind": "fill", "cpus": "all", "pages": 5}]
    assert phases[1] == [{"kind": "kworker-drain", "cpu": 0, "zone": "Normal"}]
    mp, faults = s.machine_params(p, Protection.IRQ)
    assert mp.cpus == 3
    assert [(z.name, z.pages, z.high, z.batch) for z in mp.zones] == [("Normal", 16384, 30, 3)]
    assert faults == {"fail_page_alloc": 0.0, "pcpu_atomic_fail": 0.0}
    # the defaults are untouched
    assert s.phases(s.resolve_params())[0][0]["pages"] == 20


def test_param_overrides_are_coerced() -> None:
    s = parse_toml_scenario(HOT_REMOVE, "my.toml")
    p = s.resolve_params({"fill": "12", "ratio": "0.25", "verbose": True, "zone": "Normal"})
    assert p["fill"] == 12 and isinstance(p["fill"], int)
    assert p["ratio"] == 0.25
    assert p["verbose"] is True
    assert p["cpus"] == 2 and p["protection"] == "default"


def test_unknown_param_suggests() -> None:
    s = parse_toml_scenario(HOT_REMOVE, "my.toml")
    with pytest.raises(BadInput) as exc:
        s.resolve_params({"fil": 3})
    msg = str(exc.value)
    assert "'my-hot-remove' has no parameter 'fil'" in msg
    assert "did you mean 'fill'?" in msg
    assert "parameters: batch, cpus, fill" in msg
    with pytest.raises(BadInput, match="no parameter 'nosuch'"):
        make_run_spec(s, "wq-4.11", {"nosuch": 1})


@pytest.mark.parametrize(
    ("override", "expect"),
    [
        ({"fill": "abc"}, "parameter 'fill' of 'my-hot-remove' must be an integer, got 'abc'"),
        ({"fill": None}, "parameter 'fill' of 'my-hot-remove' must be an integer"),
        ({"ratio": "half"}, "parameter 'ratio' of 'my-hot-remove' must be a finite number"),
        ({"verbose": "yes"}, "parameter 'verbose' of 'my-hot-remove' must be true or false"),
        ({"cpus": "two"}, "parameter 'cpus' of 'my-hot-remove' must be an integer"),
        ({"cpus": 0}, "parameter 'cpus' of 'my-hot-remove' must be within [1, 1024], got 0"),
        ({"protection": "none"}, "protection must be 'default', 'irq', 'preempt' or 'spinlock'"),
    ],
)
def test_bad_param_values(override: dict[str, object], expect: str) -> None:
    s = parse_toml_scenario(HOT_REMOVE, "my.toml")
    with pytest.raises(BadInput) as exc:
        s.resolve_params(override)
    assert expect in str(exc.value)


def test_min_cpus_is_enforced() -> None:
    s = parse_toml_scenario(HOT_REMOVE.replace("min_cpus = 1", "min_cpus = 3"), "my.toml")
    assert s.resolve_params({"cpus": 3})["cpus"] == 3
    with pytest.raises(BadInput, match="'my-hot-remove' needs at least 3 CPUs, got 2"):
        s.resolve_params({"cpus": 2})


# ---------------------------------------------------------------------------- schema errors


def test_malformed_toml_names_the_file(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, 'name = "x"\nphases = [ { actors = [ { kind = "fill" } ]\n', "bad.toml")
    with pytest.raises(BadInput) as exc:
        load_toml_scenario(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: malformed TOML: ")
    assert "line 2" in msg
    assert bad("[params\ncpus = 2\n", "x.toml").startswith("x.toml: malformed TOML")


def test_missing_and_unreadable_files(tmp_path: pathlib.Path) -> None:
    with pytest.raises(BadInput, match=r"nowhere\.toml: no such scenario file"):
        load_toml_scenario(tmp_path / "nowhere.toml")
    latin = tmp_path / "latin1.toml"
    latin.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(BadInput, match=r"latin1\.toml: cannot read scenario file"):
        load_toml_scenario(latin)
    with pytest.raises(BadInput, match=r"did you mean 'count-race'"):
        resolve_scenario("count-rac")


def _key_error(msg: str, key: str, *expected: str) -> None:
    """``msg`` is ``my.toml: <key>: ...`` and says what was expected."""
    assert msg.startswith(f"my.toml: {key}: "), msg
    for text in expected:
        assert text in msg, (text, msg)


SCHEMA_ERRORS: list[tuple[str, str, list[str]]] = [
    # unknown keys, with a suggestion and the allowed ones
    (
        'name = "x"\n[[phase]]\nactors = [{ kind = "fill" }]\n',
        "phase",
        ["unknown key (did you mean 'phases'?)", "expected one of ['budget',"],
    ),
    (
        'name = "x"\n[machine]\nzone = []\n' + FILL,
        "machine.zone",
        ["did you mean 'zones'?", "'percpu_populated'"],
    ),
    (
        'name = "x"\n[budget]\nschedule = 3\n' + FILL,
        "budget.schedule",
        ["did you mean 'schedules'?", "'max_steps'"],
    ),
    # actors
    (
        'name = "x"\n' + FILL + '[[phases]]\nactors = [{ kind = "drainer", count = 2 }]\n',
        "phases[1].actors[0].kind",
        ["unknown actor kind 'drainer' (did you mean 'drainers'?)"],
    ),
    (
        'name = "x"\n[[phases]]\nactors = [{ kind = "fill", page = 3 }]\n',
        "phases[0].actors[0].page",
        ["unknown key (did you mean 'pages'?)", "expected one of ['cpus', 'pages', 'zone']"],
    ),
    (
        'name = "x"\n[[phases]]\nactors = [{ kind = "drain", count = 3 }]\n',
        "phases[0].actors[0].count",
        ["unknown key", "'times'"],
    ),
    (
        'name = "x"\n[[phases]]\nactors = [{ cpus = 1 }]\n',
        "phases[0].actors[0]",
        ["expected a table with a 'kind'", "'kworker-drain'"],
    ),
    (
        'name = "x"\n[[phases]]\nactors = []\n',
        "phases[0].actors",
        ["expected a non-empty list of actors"],
    ),
    # oracles
    (
        'name = "x"\noracles = ["drain-complete"]\n' + FILL,
        "oracles",
        ["unknown oracle 'drain-complete' (did you mean 'drain-completeness'?)"],
    ),
    ('name = "x"\noracles = "deadlock"\n' + FILL, "oracles", ["expected a list"]),
    (
        'name = "x"\n[oracle_options.nosuch]\nbound_ms = 1\n' + FILL,
        "oracle_options.nosuch",
        ["unknown oracle"],
    ),
    # phases
    ('name = "x"\n', "phases", ["expected a non-empty list of phases"]),
    ('name = "x"\nphases = []\n', "phases", ["expected a non-empty list of phases"]),
    ('name = "x"\nphases = "all"\n', "phases", ["expected a non-empty list of phases"]),
    (
        'name = "x"\n[[phases]]\nrepeat = 2\n',
        "phases[0]",
        ["expected exactly one of 'actors' or 'phases'"],
    ),
    (
        'name = "x"\n[[phases]]\nrepeat = 2\nactor = []\n',
        "phases[0].actor",
        ["did you mean 'actors'?"],
    ),
    (
        'name = "x"\n[[phases]]\nrepeat = -1\nactors = [{ kind = "fill" }]\n',
        "phases[0].repeat",
        ["expected a value within [0, 1000000], got -1"],
    ),
    (
        'name = "x"\n[params]\nr = -2\n[[phases]]\nrepeat = "$r"\nactors = [{ kind = "fill" }]\n',
        "params.r",
        ["must be within [0, 10000000], got -2"],
    ),
    (
        'name = "x"\n[[phases]]\nrepeat = "twice"\nactors = [{ kind = "fill" }]\n',
        "phases[0].repeat",
        ["expected an integer, got 'twice'"],
    ),
    # parameter references
    (
        'name = "x"\n[[phases]]\nactors = [{ kind = "fill", pages = "$undefined" }]\n',
        "phases[0].actors[0].pages",
        ["refers to unknown parameter '$undefined'"],
    ),
    # protection, min_cpus, name, params
    (
        'name = "x"\nprotection = "none"\n' + FILL,
        "protection",
        ["expected 'irq', 'preempt' or 'spinlock', got 'none'"],
    ),
    (
        'name = "x"\nmin_cpus = 0\n' + FILL,
        "min_cpus",
        ["expected an integer within [1, 1024], got 0"],
    ),
    ('name = "x"\nmin_cpus = -3\n' + FILL, "min_cpus", ["expected an integer within [1, 1024]"]),
    ('name = "x"\nmin_cpus = "2"\n' + FILL, "min_cpus", ["expected an integer within [1, 1024]"]),
    ('name = "x"\nmin_cpus = 1.5\n' + FILL, "min_cpus", ["expected an integer within [1, 1024]"]),
    ('name = "x"\nmin_cpus = true\n' + FILL, "min_cpus", ["expected an integer within [1, 1024]"]),
    ('name = "x"\nmin_cpus = 2000\n' + FILL, "min_cpus", ["within [1, 1024], got 2000"]),
    (FILL, "name", ["expected a non-empty string"]),
    ('name = "  "\n' + FILL, "name", ["expected a non-empty string"]),
    (
        'name = "x"\n[params]\nl = [1]\n' + FILL,
        "params.l",
        ["expected a number, string or boolean"],
    ),
    ('name = "x"\nmachine = 3\n' + FILL, "machine", ["expected a table"]),
    ('name = "x"\n[machine]\nzones = []\n' + FILL, "machine.zones", ["non-empty list"]),
]


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    SCHEMA_ERRORS,
    ids=[f"{i:02d}-{key}" for i, (_, key, _) in enumerate(SCHEMA_ERRORS)],
)
def test_schema_errors_name_file_key_and_expectation(
    text: str, key: str, expected: list[str]
) -> None:
    _key_error(bad(text), key, *expected)


def test_undefined_reference_in_machine(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path, 'name = "x"\n[machine]\nzones = [{ name = "N", pages = "$zp" }]\n' + FILL
    )
    with pytest.raises(BadInput) as exc:
        load_toml_scenario(path)  # a broken [machine] fails when loaded
    msg = str(exc.value)
    assert msg.startswith(f"{path}: machine.zones[0].pages")
    assert "refers to unknown parameter '$zp'" in msg


def test_bad_zone_and_fault_values_name_file_and_key() -> None:
    with pytest.raises(BadInput) as exc:
        parse_toml_scenario('name = "x"\n[machine]\nzones = [{ name = "N" }]\n' + FILL, "my.toml")
    _key_error(str(exc.value), "machine.zones[0]", "expected a table {name, pages, high?, batch?}")
    with pytest.raises(BadInput) as exc:
        parse_toml_scenario('name = "x"\n[machine]\nfail_page_alloc = 2.0\n' + FILL, "my.toml")
    _key_error(str(exc.value), "machine.fail_page_alloc", "probability in [0, 1], got 2.0")


SMALL_ZONE = 'name = "x"\n[machine]\nzones = [{ name = "Normal", pages = 100 }]\n' + FILL
BATCH_HIGH = (
    'name = "x"\n[machine]\nzones = [{ name = "Normal", pages = 16384, high = 5, batch = 7 }]\n'
    + FILL
)


def _machine_error(text: str) -> str:
    with pytest.raises(BadInput) as exc:
        parse_toml_scenario(text, "my.toml")
    return str(exc.value)


def test_zone_too_small() -> None:
    msg = _machine_error(SMALL_ZONE)
    assert "100 pages is too small" in msg and "1024" in msg


def test_batch_above_high(tmp_path: pathlib.Path) -> None:
    msg = _machine_error(BATCH_HIGH)
    assert re.search(r"batch \(7\) must not exceed high \(5\)", msg), msg
    # the same through the run path and through a parameter override of a valid scenario
    with pytest.raises(BadInput, match=r"batch \(7\) must not exceed high \(5\)"):
        make_run_spec(write(tmp_path, BATCH_HIGH), "wq-4.11")
    s = parse_toml_scenario(HOT_REMOVE, "my.toml")
    with pytest.raises(BadInput, match=r"batch \(9\) must not exceed high \(8\)"):
        s.machine_params(s.resolve_params({"high": 8, "batch": 9}), Protection.IRQ)


@pytest.mark.parametrize("text", [SMALL_ZONE, BATCH_HIGH], ids=["too-small", "batch-gt-high"])
def test_machine_validation_errors_name_file_and_key(text: str) -> None:
    msg = _machine_error(text)
    assert msg.startswith("my.toml: machine.zones"), msg


@pytest.mark.parametrize("text", [SMALL_ZONE, BATCH_HIGH], ids=["too-small", "batch-gt-high"])
def test_broken_machine_fails_when_loaded(text: str) -> None:
    with pytest.raises(BadInput):
        parse_toml_scenario(text, "my.toml")


def test_not_a_table() -> None:
    with pytest.raises(BadInput, match=r"^x: a scenario must be a table$"):
        parse_scenario([], "x")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- built-ins


def test_builtins_revalidate() -> None:
    """Every built-in's canonical data passes the schema again, unchanged."""
    scenarios = builtin_scenarios()
    assert len(scenarios) >= 13
    for s in scenarios:
        again = parse_scenario(s.data, "x")
        assert again.data == s.data
        assert again.to_json() == s.to_json()
        assert again.defaults == s.defaults and again.min_cpus == s.min_cpus
        p = again.resolve_params()
        assert again.phases(p) == s.phases(s.resolve_params())
        mp, _ = again.machine_params(p, again.protection or Protection.IRQ)
        assert mp.cpus == p["cpus"]


def test_builtins_round_trip_through_toml() -> None:
    tomlkit = pytest.importorskip("tomlkit")
    for s in builtin_scenarios():
        text = tomlkit.dumps(s.data)
        again = parse_toml_scenario(text, f"{s.name}.toml")
        assert again.data == s.data, s.name
        assert again.to_json() == s.to_json()
        assert again.source == f"{s.name}.toml" and not again.builtin
