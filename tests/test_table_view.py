"""The interleaving table's view (``--rows``, ``--show-cpus``, ``--actors``): the rows that
explain the failure (hotplug, drain calls, the violation, needed preemptions) are always
shown, whatever is cut or filtered."""

from __future__ import annotations

import fnmatch
import re

import pytest

from tests.test_cli import assert_bad_input, cli, cli_json

_ROW = re.compile(r"^\s{2}(▶|P|▶P)?\s+(\d+)\s+[\d.]+\s+(\S+)")


@pytest.fixture(scope="module")
def h5_token() -> str:
    """The shrunk token of offline-during-drain × wq-rfc (a CPU goes down mid-drain)."""
    import io
    import json
    from contextlib import redirect_stdout

    from pcptrio.cli import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["explore", "offline-during-drain", "--design", "wq-rfc", "--json"])
    assert rc == 1
    token = json.loads(buf.getvalue())["failure"]["token"]
    assert isinstance(token, str)
    return token


def _table(out: str) -> list[str]:
    lines = out.split("interleaving (", 1)[1].split("\n\n", 1)[0].splitlines()
    return lines[3:]  # legend, header, rule


def _steps(table: list[str]) -> list[tuple[str, int, str]]:
    out = []
    for ln in table:
        m = _ROW.match(ln)
        if m:
            out.append((m.group(1) or "", int(m.group(2)), m.group(3)))
    return out


def test_default_view_keeps_the_rows_that_explain_the_failure(
    capsys: pytest.CaptureFixture[str], h5_token: str
) -> None:
    rc, out, _ = cli(capsys, "replay", h5_token)
    assert rc == 1
    table = _table(out)
    assert any("steps not shown" in ln for ln in table)  # a long run is cut ...
    text = "\n".join(table)
    for event in ("drain_all_pages call=", "cpu_down_begin", "cpu_down_end"):
        assert event in text  # ... but never where it explains the failure
    assert any(mark.startswith("▶") for mark, _, _ in _steps(table))


def test_rows_all_and_rows_n(capsys: pytest.CaptureFixture[str], h5_token: str) -> None:
    rc, out, _ = cli(capsys, "replay", h5_token, "--rows", "all")
    table = _table(out)
    assert rc == 1 and not any("not shown" in ln for ln in table)
    full = _steps(table)
    rc, out, _ = cli(capsys, "replay", h5_token, "--rows", "5")
    few = _steps(_table(out))
    assert 5 < len(few) < len(full)
    # the last 5 steps, then only rows that explain the failure
    assert [s for _, s, _ in full[-5:]] == [s for _, s, _ in few[-5:]]
    assert "cpu_down_begin" in out and "drain_all_pages call=" in out
    # the other party of the violation: its last steps before it, however few rows
    v_actors = re.search(r"  actors   (.*)", out).group(1).split(", ")  # type: ignore[union-attr]
    shown = {a for _, _, a in few}
    assert set(v_actors) <= shown
    # a replay marks the schedule's preemptions, as explore marks the needed ones
    assert any(mark.startswith("P") or mark == "▶P" for mark, _, _ in few)
    assert "P: a preemption here" in out


def test_show_cpus_and_actors(capsys: pytest.CaptureFixture[str], h5_token: str) -> None:
    rc, out, _ = cli(capsys, "replay", h5_token, "--show-cpus", "1", "--rows", "all")
    header = out.split("interleaving (", 1)[1].splitlines()[1]
    assert rc == 1 and "cpu1" in header and "cpu0" not in header and "cpu2" not in header
    rc, out, _ = cli(capsys, "replay", h5_token, "--actors", "kworker/*", "--rows", "all")
    rows = _steps(_table(out))
    others = [(m, s, a) for m, s, a in rows if not fnmatch.fnmatchcase(a, "kworker/*")]
    assert rc == 1 and rows and 2 * len(others) < len(rows)
    text = out.split("interleaving (", 1)[1].split("\n\n", 1)[0]
    assert "cpu_down_begin" in text  # taken by the hotplug thread, shown anyway
    assert "only the steps of kworker/*" in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rows", "0"], "--rows expects a positive number or 'all'"),
        (["--rows", "many"], "--rows expects a positive number or 'all'"),
        (["--show-cpus", "7"], "the machine has CPUs 0..2"),
        (["--show-cpus", "a,b"], "--show-cpus expects comma-separated CPU numbers"),
        (["--rows", "10", "--json"], "--json prints no table"),
    ],
)
def test_view_flags_refuse_what_they_cannot_do(
    capsys: pytest.CaptureFixture[str], h5_token: str, extra: list[str], message: str
) -> None:
    assert message in assert_bad_input(*cli(capsys, "replay", h5_token, *extra))


def test_run_accepts_the_view_flags(capsys: pytest.CaptureFixture[str]) -> None:
    rc, data = cli_json(capsys, "run", "shared-mask-race", "--design", "wq-rfc", "--json")
    assert rc in (0, 1) and data["scenario"] == "shared-mask-race"
    rc, out, _ = cli(
        capsys, "run", "shared-mask-race", "--design", "wq-rfc", "--cpus", "2", "--show-cpus", "0,1"
    )
    assert rc in (0, 1) and "Traceback" not in out
