"""Static shards (``explore --shard K/N``) and ``merge``: the merged answer is the unsharded
campaign's, and shards of different campaigns, or an incomplete set, are refused."""

from __future__ import annotations

import json
import pathlib

import pytest

from pcptrio import BadInput
from pcptrio._explore import (
    CampaignConfig,
    explore,
    make_run_spec,
    merge_campaign,
    merge_shards,
    run_campaign,
)
from tests.test_cli import assert_bad_input, cli


def _shards(tmp: pathlib.Path, cfg: CampaignConfig, n: int) -> list[pathlib.Path]:
    import attrs

    paths = []
    for k in range(n):
        p = tmp / f"shard{k}.jsonl"
        explore(attrs.evolve(cfg, shard=(k, n)), out=p)
        paths.append(p)
    return paths


@pytest.mark.parametrize(
    ("scenario", "design", "budget"),
    [("shared-mask-race", "wq-rfc", 40), ("shared-mask-race", "wq-4.11", 12)],
)
@pytest.mark.parametrize("n", [2, 3])
def test_merged_shards_equal_the_unsharded_campaign(
    tmp_path: pathlib.Path, scenario: str, design: str, budget: int, n: int
) -> None:
    cfg = CampaignConfig(make_run_spec(scenario, design), schedules=budget, seed=5)
    whole = run_campaign(cfg, shrink_budget=20)
    merged = merge_campaign(_shards(tmp_path, cfg, n), shrink_budget=20)
    assert merged.verdict == whole.verdict
    assert merged.outcomes == whole.outcomes and merged.probes == whole.probes
    assert merged.schedules_run == whole.schedules_run
    if whole.failure is None:
        assert merged.failure is None
    else:
        assert merged.failure is not None
        assert merged.failure.index == whole.failure.index  # the lowest failing index
        assert merged.failure.token == whole.failure.token  # shrunk the same way
        assert merged.failure.message == whole.failure.message


def test_merge_refuses_other_campaigns_and_incomplete_sets(tmp_path: pathlib.Path) -> None:
    import attrs

    cfg = CampaignConfig(make_run_spec("shared-mask-race", "wq-4.11"), schedules=6, seed=1)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _shards(tmp_path / "a", cfg, 2)
    b = _shards(tmp_path / "b", attrs.evolve(cfg, seed=2), 2)
    with pytest.raises(BadInput, match=r"shard of a different campaign.*seed"):
        merge_shards([a[0], b[1]])
    with pytest.raises(BadInput, match="missing 1/2"):
        merge_shards([a[0]])
    with pytest.raises(BadInput, match="a shard twice"):
        merge_shards([a[0], a[1], a[0]])
    # a shard cut short (a schedule below the answer is missing)
    lines = a[1].read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(BadInput, match="lack 1 schedule"):
        merge_shards([a[0], cut])
    # a file from other code
    head = json.loads(lines[0])
    head["campaign"]["code"] = "0.0.0+0000"
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text("\n".join([json.dumps(head), *lines[1:]]) + "\n")
    with pytest.raises(BadInput, match="code"):
        merge_shards([a[0], foreign])


def test_shard_cli(capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path) -> None:
    base = ["explore", "shared-mask-race", "--design", "wq-rfc", "--schedules", "20", "--quiet"]
    files = []
    for k in range(2):
        f = tmp_path / f"s{k}.jsonl"
        rc, out, _ = cli(capsys, *base, "--shard", f"{k}/2", "--out", str(f))
        assert rc in (0, 1) and f"[shard {k}/2]" in out
        files.append(str(f))
    rc, out, _ = cli(capsys, "merge", *files, "--quiet")
    rc_whole, whole, _ = cli(capsys, *base)
    assert rc == rc_whole == 1
    assert out.splitlines()[1] == whole.splitlines()[0]  # the same FOUND line
    assert "--out" in assert_bad_input(*cli(capsys, *base, "--shard", "0/2"))
    assert "K/N" in assert_bad_input(*cli(capsys, *base, "--shard", "2", "--out", "x"))
    line = assert_bad_input(*cli(capsys, *base, "--shard", "3/2", "--out", str(tmp_path / "y")))
    assert "0 <= K < N" in line


@pytest.mark.parametrize("jobs", [1, 2])
def test_time_budget_stops_launching_and_says_what_ran(jobs: int) -> None:
    cfg = CampaignConfig(
        make_run_spec("shared-mask-race", "wq-4.11", {"cpus": 2}),
        schedules=1_000_000,
        jobs=jobs,
        time_budget_s=1.0,
    )
    res = explore(cfg)
    # not-found, or inconclusive when so few schedules ran (a loaded machine) that the
    # stage was never set: either way, never found and never a whole budget
    assert res.timed_out and not res.found
    assert 0 < res.schedules_run < 1_000_000
    assert sum(res.outcomes.values()) == res.schedules_run
    assert f"{res.schedules_run} pct-3 schedules (of 1000000: the time budget ran out)" in (
        res.summary()
    )
    assert res.to_json()["timed_out"] is True


def test_a_budget_met_in_time_is_not_timed_out() -> None:
    cfg = CampaignConfig(
        make_run_spec("shared-mask-race", "wq-4.11", {"cpus": 2}), schedules=3, time_budget_s=600
    )
    res = explore(cfg)
    assert not res.timed_out and res.schedules_run == 3


def test_time_budget_cli(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["explore", "shared-mask-race", "--design", "wq-4.11", "--quiet"]
    for bad in ("0", "1x", "soon", "5d"):
        line = assert_bad_input(*cli(capsys, *base, "--time-budget", bad))
        assert "--time-budget expects a duration" in line
    rc, out, _ = cli(capsys, *base, "--schedules", "100000", "--time-budget", "1s")
    assert rc == 0 and "the time budget ran out" in out


def test_matrix_shards_merge_to_the_whole_matrix(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    base = ["matrix", "--hazards", "H3,H13", "--designs", "wq-rfc,wq-4.11", "--no-shrink"]
    files = []
    for k in range(3):
        f = tmp_path / f"m{k}.json"
        rc, _, _ = cli(capsys, *base, "--quiet", "--shard", f"{k}/3", "--out", str(f))
        files.append(str(f))
    whole = tmp_path / "whole.json"
    cli(capsys, *base, "--quiet", "--out", str(whole))
    merged = tmp_path / "merged.json"
    rc, out, _ = cli(capsys, "merge", *files, "--out", str(merged))
    assert rc == 1 and out.startswith("merged 3 matrix shards")
    a, b = json.loads(whole.read_text()), json.loads(merged.read_text())
    assert [(c["scenario"], c["design"], c["verdict"], c["token"]) for c in a["cells"]] == [
        (c["scenario"], c["design"], c["verdict"], c["token"]) for c in b["cells"]
    ]
    line = assert_bad_input(*cli(capsys, "merge", *files[:2]))
    assert "missing 2/3" in line
    other = tmp_path / "other.json"  # shard 2/3 searched with another budget
    cli(capsys, *base, "--quiet", "--budget", "7", "--shard", "2/3", "--out", str(other))
    line = assert_bad_input(*cli(capsys, "merge", *files[:2], str(other)))
    assert "different matrix run (search)" in line
    assert "--out" in assert_bad_input(*cli(capsys, *base, "--shard", "0/2"))


@pytest.mark.parametrize("jobs", [1, 2])
def test_matrix_time_budget_marks_the_cells_it_did_not_start(jobs: int) -> None:
    from pcptrio._explore import run_matrix

    res = run_matrix(None, None, jobs=jobs, shrink_failures=False, time_budget_s=2.0)
    run = [c for c in res.cells if c.why != "not run: the time budget ran out"]
    skipped = [c for c in res.cells if c.why == "not run: the time budget ran out"]
    assert run and skipped and len(res.cells) == len(res.designs) * len(res.hazards)
    assert all(c.verdict == "inconclusive" and c.schedules == 0 for c in skipped)
