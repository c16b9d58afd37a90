"""``pcptrio describe``: every design and hazard, and rows only from a matrix result."""

from __future__ import annotations

import inspect
import json
import pathlib
import sys

import pytest

from pcptrio._drain import BUILTIN_DESIGNS
from pcptrio._scenarios import HAZARDS, hazard_scenarios
from tests.test_cli import assert_bad_input, cli, cli_json


@pytest.mark.parametrize("design", [d.name for d in BUILTIN_DESIGNS])
def test_describe_every_design(capsys: pytest.CaptureFixture[str], design: str) -> None:
    d = next(d for d in BUILTIN_DESIGNS if d.name == design)
    rc, out, err = cli(capsys, "describe", design)
    assert rc == 0 and err == ""
    assert out.startswith(f"{design}: {d.kernel}\n")
    doc = inspect.getdoc(sys.modules[d.drain_all_pages.__module__])
    assert doc and "control flow:\n  " + doc.splitlines()[0] in out
    for c in d.commits:
        assert c in out
    assert "protection eras: " + ", ".join(str(e) for e in d.eras) in out
    assert "pass `--matrix m.json`" in out  # no rows without a matrix result
    rc, data = cli_json(capsys, "describe", design, "--json")
    assert rc == 0 and data["features"] == d.features.to_json() and "rows" not in data


@pytest.mark.parametrize("hazard", [s.hazard for s in hazard_scenarios()])
def test_describe_every_hazard(capsys: pytest.CaptureFixture[str], hazard: str) -> None:
    s = next(s for s in hazard_scenarios() if s.hazard == hazard)
    rc, out, err = cli(capsys, "describe", hazard.lower())
    assert rc == 0 and err == ""
    assert out.startswith(f"{hazard} {s.name}: {s.title}\n")
    assert HAZARDS[hazard].fixed_by.split()[0] in out and "failure:" in out
    for p in s.probes:
        assert f"  {p}: " in out
    for o in s.oracles:
        assert f"  {o}: " in out
    rc2, out2, _ = cli(capsys, "describe", s.name)  # the scenario name says the same
    assert rc2 == 0 and out2 == out


def test_every_hazard_row_has_a_catalogue_entry() -> None:
    assert sorted(str(s.hazard) for s in hazard_scenarios()) == sorted(HAZARDS)


def test_describe_reads_rows_from_a_matrix_result(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """The rows and designs come from the matrix file: an edited file says what it says."""
    m = tmp_path / "m.json"
    rc, _, _ = cli(
        capsys, "matrix", "--hazards", "H7", "--designs", "wq-rfc,wq-4.11", "--no-shrink",
        "--quiet", "--out", str(m),
    )  # fmt: skip
    assert rc == 1
    rc, out, _ = cli(capsys, "describe", "H7", "--matrix", str(m))
    assert "found in (designs): wq-rfc\n" in out and "not-found: wq-4.11" in out
    rc, data = cli_json(capsys, "describe", "wq-rfc", "--matrix", str(m), "--json")
    assert data["rows"] == {"H7 no-rescuer-under-pressure": "found"}
    raw = json.loads(m.read_text())
    for c in raw["cells"]:
        c["verdict"] = "not-found"
    m.write_text(json.dumps(raw))
    rc, out, _ = cli(capsys, "describe", "H7", "--matrix", str(m))
    assert "found in (designs): none" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["describe", "H99"], "'H99' is not a hazard, scenario or design"),
        (["describe", "H7", "--matrix", "/nonexistent.json"], "cannot read a JSON file"),
    ],
)
def test_describe_bad_input(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert message in assert_bad_input(*cli(capsys, *argv))


def test_describe_refuses_a_file_that_is_not_a_matrix(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    f = tmp_path / "x.json"
    f.write_text('{"designs": []}')
    line = assert_bad_input(*cli(capsys, "describe", "wq-4.11", "--matrix", str(f)))
    assert "not a matrix result" in line


def test_describe_h4_and_h16_alone_and_names_missing_from_the_matrix(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    for name in ("H4", "h16", "H4/H16", "count-race"):
        rc, out, _ = cli(capsys, "describe", name)
        assert rc == 0 and out.startswith("H4/H16 count-race: ")
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"cells": []}))
    rc, out, _ = cli(capsys, "describe", "ipi", "--matrix", str(m))
    assert rc == 0 and f"from {m}: no column 'ipi' in this matrix" in out
