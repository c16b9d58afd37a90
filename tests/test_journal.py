"""The matrix journal: a matrix run streams what it did, and resumes from it."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from pcptrio import BadInput
from pcptrio._explore import Cell, run_matrix
from tests.test_cli import assert_bad_input, cli

HAZARDS = ["H3", "H13"]
DESIGNS = ["wq-rfc", "wq-4.11", "remote-6.11"]


class Stop(Exception):
    pass


def _run(path: pathlib.Path | None, jobs: int, **kw: object) -> dict[str, object]:
    res = run_matrix(DESIGNS, _scenarios(), jobs=jobs, journal=path, **kw)  # type: ignore[arg-type]
    return res.to_json()


def _scenarios() -> list[str]:
    from pcptrio._scenarios import hazard_scenarios

    by_id = {s.hazard: s.name for s in hazard_scenarios() if s.hazard}
    return [by_id[h] for h in HAZARDS]


def _entries(path: pathlib.Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in path.read_text().splitlines()[1:]]


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_interrupted_matrix_resumes_to_the_same_answer(
    tmp_path: pathlib.Path, jobs: int
) -> None:
    whole = _run(None, jobs)
    path = tmp_path / "m.jsonl"

    def stop_after_two(cell: Cell, done: int, total: int) -> None:
        if done >= 2:
            raise Stop

    with pytest.raises(Stop):
        _run(path, jobs, progress=stop_after_two)
    before = _entries(path)
    finished = {e["cell"] for e in before if "result" in e}
    assert finished and len(finished) < 6
    ran: list[str] = []
    resumed = _run(path, jobs, resume=True, progress=lambda c, d, t: ran.append(c.design))
    assert resumed == whole
    after = _entries(path)
    assert after[: len(before)] == before  # kept as it was, then extended
    # nothing twice: one result per cell, one record per (cell, schedule)
    results = [e["cell"] for e in after if "result" in e]
    assert sorted(results) == list(range(6))
    keys = [(e["cell"], e["record"]["index"]) for e in after if "record" in e]
    assert len(keys) == len(set(keys))
    # the finished cells got no new schedule records
    assert not any(e["cell"] in finished for e in after[len(before) :])


def test_resume_refuses_another_run_and_drops_a_torn_line(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "m.jsonl"
    whole = _run(path, 1)
    text = path.read_text()
    with pytest.raises(BadInput, match=r"different matrix run \(seed differ"):
        _run(path, 1, resume=True, seed=1)
    with pytest.raises(BadInput, match="exists"):
        _run(path, 1)
    assert path.read_text() == text
    lines = text.splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:25])  # a write cut short
    res = run_matrix(DESIGNS, _scenarios(), jobs=1, journal=path, resume=True)
    assert res.to_json() == whole
    assert any("torn last line" in n for n in res.notes)
    assert path.read_text() == text  # the lost cell result came back the same


def test_journal_cli(capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path) -> None:
    j = tmp_path / "m.jsonl"
    base = ["matrix", "--hazards", ",".join(HAZARDS), "--designs", ",".join(DESIGNS), "--quiet"]
    rc, out, _ = cli(capsys, *base, "--journal", str(j))
    assert rc == 1
    line = assert_bad_input(*cli(capsys, *base, "--journal", str(j)))
    assert "--resume" in line and "--force" in line
    rc2, out2, _ = cli(capsys, *base, "--resume", str(j))
    assert rc2 == 1 and out2.splitlines()[:-1] == out.splitlines()[:-1]
    line = assert_bad_input(*cli(capsys, *base, "--journal", str(j), "--resume", str(j)))
    assert "give one" in line
    line = assert_bad_input(*cli(capsys, *base, "--seed", "3", "--resume", str(j)))
    assert "different matrix run" in line


def test_a_cell_cut_short_by_the_time_budget_is_finished_by_resume(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "m.jsonl"
    kw: dict[str, Any] = {"budget": 400, "jobs": 1, "shrink_failures": False}
    cut = run_matrix(["wq-4.11"], ["shared-mask-race"], journal=path, time_budget_s=0.3, **kw)
    assert cut.cells[0].verdict == "inconclusive" and "time budget" in (cut.cells[0].why or "")
    assert not any("result" in e for e in _entries(path))  # not journaled as finished
    done = run_matrix(["wq-4.11"], ["shared-mask-race"], journal=path, resume=True, **kw)
    whole = run_matrix(["wq-4.11"], ["shared-mask-race"], **kw)
    assert done.to_json() == whole.to_json() and done.cells[0].schedules == 400


def test_a_damaged_result_runs_again_and_the_new_one_is_kept(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "m.jsonl"
    whole = _run(path, 1)
    lines = path.read_text().splitlines()
    k = next(n for n, ln in enumerate(lines) if '"result"' in ln)
    lines[k] = lines[k].replace('"verdict":"', '"verdict":"bogus-')
    path.write_text("\n".join(lines) + "\n")
    res = run_matrix(DESIGNS, _scenarios(), jobs=1, journal=path, resume=True)
    assert res.to_json() == whole and any("damaged result" in n for n in res.notes)
    size = len(path.read_text().splitlines())
    again = run_matrix(DESIGNS, _scenarios(), jobs=1, journal=path, resume=True)
    assert again.to_json() == whole and not again.notes
    assert len(path.read_text().splitlines()) == size  # nothing ran the third time


def test_a_refused_run_leaves_no_journal(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "m.jsonl"
    with pytest.raises(BadInput, match="depth"):
        run_matrix(DESIGNS, _scenarios(), jobs=1, journal=path, depth=0)
    assert not path.exists()
