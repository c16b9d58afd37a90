"""The ``pcptrio`` command: every command and exit code through ``main(argv)``.

Exit codes: 0 = no violation, 1 = violation found, 2 = bad input (exactly one line on stderr,
nothing on stdout, never a traceback).  The CLI runs its own ``trio.run``, so these tests are
plain synchronous functions; budgets are kept small (a few schedules, one process).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
from typing import Any

import pytest

import pcptrio
from pcptrio._core import decode_token, encode_token
from pcptrio._scenarios import hazard_scenarios
from pcptrio._version import __version__
from pcptrio.cli import main

HEX64 = re.compile(r"^[0-9a-f]{64}$")
ERROR_LINE = re.compile(r"^pcptrio( [a-z]+)?: error: \S")

CLEAN_RUN = ["run", "count-race", "--design", "remote-6.11", "--seed", "1"]
FAILING_RUN = ["run", "drain-from-kworker", "--design", "wq-4.11", "--cpus", "2"]
MATRIX = ["matrix", "--hazards", "H3,H11", "--designs", "ipi,wq-4.11", "--budget", "3"]
MATRIX += ["--jobs", "1", "--json"]
BENCH = ["bench", "--designs", "ipi,remote-6.11", "--cpus-list", "2,4", "--seeds", "1"]

HOT_REMOVE_TOML = """\
name = "my-hot-remove"
oracles = ["drain-completeness"]

[params]
cpus = 2
fill = 20
high = 42

[machine]
zones = [{ name = "Normal", pages = 16384, high = "$high", batch = 7 }]

[[phases]]
actors = [{ kind = "fill", cpus = "all", pages = "$fill" }]

[[phases]]
actors = [{ kind = "kworker-drain", cpu = 0, zone = "Normal" }]
"""


# ---------------------------------------------------------------------------- helpers


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``main(argv)`` with stdout and stderr captured (and emptied for the next call)."""
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    rc, out, err = cli(capsys, *argv)
    assert "Traceback" not in out + err
    return rc, json.loads(out)


def assert_bad_input(rc: int, out: str, err: str) -> str:
    """Exit 2, nothing on stdout, exactly one ``pcptrio: error:`` line on stderr."""
    assert "Traceback" not in out + err
    assert rc == 2, (rc, out[-2000:], err[-2000:])
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert ERROR_LINE.match(lines[0]), lines[0]
    return lines[0]


def sha256_file(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- list


def test_list_text(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, "list")
    assert rc == 0 and err == ""
    for heading in ("Designs:", "Scenarios:", "Oracles:", "Schedulers:"):
        assert heading in out
    for name in ("ipi", "wq-rfc", "wq-hotplug", "wq-4.11", "wq-5.0", "remote-6.0", "remote-6.11"):
        assert re.search(rf"^{re.escape(name)}\s", out, re.M), name
    # every hazard scenario on its own row with its id and its parameters
    for s in hazard_scenarios():
        row = next(line for line in out.splitlines() if line.startswith(s.name + " "))
        assert s.hazard is not None and s.hazard in row
        assert f"cpus={s.defaults['cpus']}" in row
        for k, v in s.defaults.items():
            assert f"{k}={v}" in row, (s.name, k)
    assert "drain-completeness" in out
    assert "random, pct, portfolio, dfs" in out


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, data = cli_json(capsys, "list", "--json")
    assert rc == 0
    assert set(data) == {"designs", "scenarios", "oracles", "schedulers"}
    assert len(data["designs"]) == 9
    assert [d["name"] for d in data["designs"]] == [
        "ipi",
        "wq-rfc",
        "wq-hotplug",
        "wq-4.11-rc1",
        "wq-4.11-next",
        "wq-4.11",
        "wq-5.0",
        "remote-6.0",
        "remote-6.11",
    ]
    for d in data["designs"]:
        assert d["kernel"] and d["summary"] and d["eras"]
    by_name = {s["name"]: s for s in data["scenarios"]}
    hazards = hazard_scenarios()
    assert len(hazards) >= 9
    for s in hazards:
        listed = by_name[s.name]
        assert listed["hazard"] == s.hazard
        assert listed["params"] == s.defaults
        assert listed["params"]["cpus"] >= listed["min_cpus"] >= 1
        assert listed["oracles"] == list(s.oracles)
    assert by_name["shared-mask-race"]["hazard"] == "H3"
    assert by_name["drain-from-kworker"]["params"]["fill"] == 20
    assert {o["name"] for o in data["oracles"]} >= {"drain-completeness", "deadlock", "liveness"}
    assert all(o["description"] for o in data["oracles"])
    assert data["schedulers"] == ["random", "pct", "portfolio", "dfs"]


# ---------------------------------------------------------------------------- run


def check_run_json(data: dict[str, Any]) -> None:
    for key in ("outcome", "violations", "trace_sha256", "token", "steps", "stats"):
        assert key in data, key
    assert HEX64.match(data["trace_sha256"])
    assert data["token"].startswith("pcptrio1:")
    assert isinstance(data["steps"], int) and data["steps"] > 0
    stats = data["stats"]
    for key in ("steps", "switches", "page_ops", "virtual_ns"):
        assert isinstance(stats[key], int) and stats[key] >= 0, key
    assert stats["steps"] == data["steps"]
    for v in data["violations"]:
        assert isinstance(v["oracle"], str) and v["oracle"]
        assert isinstance(v["step"], int) and 0 < v["step"] <= data["steps"]
        assert isinstance(v["t_ns"], int) and v["t_ns"] >= 0
        assert isinstance(v["message"], str) and v["message"]


def test_run_clean_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    rc, data = cli_json(capsys, *CLEAN_RUN, "--json")
    assert rc == 0
    check_run_json(data)
    assert data["outcome"] == "ok" and data["violations"] == []
    assert data["scenario"] == "count-race" and data["design"] == "remote-6.11"
    assert data["stats"]["page_ops"] > 0 and data["stats"]["virtual_ns"] > 0

    rc, out, err = cli(capsys, *CLEAN_RUN)
    assert rc == 0 and err == ""
    assert "count-race × remote-6.11" in out and ": ok:" in out
    assert f"trace sha256 {data['trace_sha256']}" in out
    assert f"replay: pcptrio replay {data['token']}" in out
    assert "interleaving" not in out  # no failure report for a clean run


def test_run_failing_exits_1_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, data = cli_json(capsys, *FAILING_RUN, "--json")
    assert rc == 1
    check_run_json(data)
    assert data["outcome"] == "violation"
    assert len(data["violations"]) == 1
    v = data["violations"][0]
    assert v["oracle"] == "drain-completeness"
    assert "drain_all_pages(Normal)" in v["message"]
    assert data["params"]["cpus"] == 2


def test_run_failing_text_report_and_replay_command(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, *FAILING_RUN)
    assert rc == 1 and err == "" and "Traceback" not in out
    sha = re.search(r"trace sha256 ([0-9a-f]{64})", out)
    assert sha is not None
    # the failure report: headline, the interleaving table with its header, the token
    assert "pcptrio: violation in drain-from-kworker × wq-4.11" in out
    assert "oracle   drain-completeness" in out
    assert "\ninterleaving (one row per step" in out
    header = next(line for line in out.splitlines() if re.search(r"\bstep\s+t \(µs\)", line))
    assert re.search(r"\bactor\b.*\bcpu0\b.*\bcpu1\b.*\bevent\b", header)
    assert "▶" in out  # the violation's row is marked
    token = re.search(r"replay token:\n\s+(pcptrio1:\S+)\n", out)
    assert token is not None
    cmd = re.search(r"replay command \(byte-identical rerun\):\n\s+(pcptrio replay \S+)\n", out)
    assert cmd is not None
    argv = cmd.group(1).split()
    assert argv[:2] == ["pcptrio", "replay"] and argv[2] == token.group(1)

    rc2, data = cli_json(capsys, *argv[1:], "--json")
    assert rc2 == 1
    assert data["trace_sha256"] == sha.group(1)
    assert data["violations"][0]["oracle"] == "drain-completeness"


def test_run_trace_and_perfetto_files(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    trace, perf = tmp_path / "out.jsonl", tmp_path / "out.json"
    rc, data = cli_json(
        capsys, *FAILING_RUN, "--trace", str(trace), "--perfetto", str(perf), "--json"
    )
    assert rc == 1
    # canonical JSONL: every line parses, keys sorted, compact, same sha256 as reported
    text = trace.read_text(encoding="utf-8")
    assert text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) > data["steps"]
    for line in lines:
        rec = json.loads(line)
        assert list(rec) == sorted(rec)
        canon = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert line == canon
        assert {"step", "t_ns", "actor", "event"} <= set(rec)
    assert json.loads(lines[-1])["step"] == data["steps"]
    assert sha256_file(trace) == data["trace_sha256"]
    # a well-formed Chrome trace
    chrome = json.loads(perf.read_text(encoding="utf-8"))
    events = chrome["traceEvents"]
    assert isinstance(events, list) and events
    for ev in events:
        assert {"ph", "pid", "tid", "name"} <= set(ev), ev
    phases = {ev["ph"] for ev in events}
    assert "M" in phases and "X" in phases
    names = {ev["args"]["name"] for ev in events if ev["name"] == "thread_name"}
    assert any("kworker" in n for n in names)


def test_outputs_never_replace_a_file_without_force(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    trace, perf = tmp_path / "t.jsonl", tmp_path / "p.json"
    trace.write_text("keep me\n")
    perf.write_text("keep me too\n")
    line = assert_bad_input(*cli(capsys, *CLEAN_RUN, "--trace", str(trace)))
    assert str(trace) in line and "--force" in line
    assert trace.read_text() == "keep me\n"
    line = assert_bad_input(*cli(capsys, *CLEAN_RUN, "--perfetto", str(perf)))
    assert str(perf) in line
    assert perf.read_text() == "keep me too\n"

    rc, data = cli_json(capsys, *CLEAN_RUN, "--trace", str(trace), "--force", "--json")
    assert rc == 0
    assert sha256_file(trace) == data["trace_sha256"]
    rc, _ = cli_json(capsys, *CLEAN_RUN, "--perfetto", str(perf), "--force", "--json")
    assert rc == 0
    assert "traceEvents" in json.loads(perf.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json", "t.jsonl"]  # no temp files


def test_run_user_toml_scenario(capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path) -> None:
    path = tmp_path / "hot-remove.toml"
    path.write_text(HOT_REMOVE_TOML)
    rc, data = cli_json(capsys, "run", str(path), "--design", "wq-4.11", "--json")
    assert rc == 1
    assert data["scenario"] == "my-hot-remove"
    assert data["violations"][0]["oracle"] == "drain-completeness"
    rc, data5 = cli_json(capsys, "run", str(path), "--design", "wq-5.0", "--json")
    assert rc == 0 and data5["outcome"] == "ok"
    # the token carries the scenario itself: it replays without the file
    path.unlink()
    rc, again = cli_json(capsys, "replay", data["token"], "--json")
    assert rc == 1 and again["trace_sha256"] == data["trace_sha256"]


def test_run_debug_log_mirrors_the_trace(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """--log-level debug logs every trace record on stderr (JSON with --log-format json);
    stdout keeps the --json result."""
    trace = tmp_path / "t.jsonl"
    argv = ["run", "drain-from-kworker", "--design", "wq-4.11", "--cpus", "1"]
    rc, out, err = cli(
        capsys,
        *argv,
        *["--log-level", "debug", "--log-format", "json", "--trace", str(trace), "--json"],
    )
    assert rc == 1
    assert json.loads(out)["outcome"] == "violation"
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    logged = [json.loads(line) for line in err.splitlines()]
    assert len(logged) == len(records) > 0
    for log, rec in zip(logged, records, strict=True):
        assert log.pop("level") == "debug" and log.pop("logger") == "pcptrio.trace"
        assert log == rec
    # at the default level nothing is logged
    rc, _, err = cli(capsys, *argv, "--json")
    assert rc == 1 and err == ""


# ---------------------------------------------------------------------------- replay


def test_replay_is_byte_identical(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    rc, first = cli_json(capsys, *CLEAN_RUN, "--json")
    assert rc == 0
    rc, again = cli_json(capsys, "replay", first["token"], "--json")
    assert rc == 0
    assert again["trace_sha256"] == first["trace_sha256"]
    assert again["stats"] == first["stats"]
    assert again["token"] == first["token"]
    # the replayed trace file hashes to the same sha256
    trace = tmp_path / "again.jsonl"
    rc, _ = cli_json(capsys, "replay", first["token"], "--trace", str(trace), "--json")
    assert rc == 0
    assert sha256_file(trace) == first["trace_sha256"]


def test_replay_token_from_file(capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path) -> None:
    rc, first = cli_json(capsys, *FAILING_RUN, "--json")
    assert rc == 1
    f = tmp_path / "token.txt"
    f.write_text(first["token"] + "\n")
    rc, again = cli_json(capsys, "replay", f"@{f}", "--json")
    assert rc == 1
    assert again["trace_sha256"] == first["trace_sha256"]
    rc, out, _ = cli(capsys, "replay", f"@{f}")
    assert rc == 1 and "interleaving" in out and first["token"] in out
    line = assert_bad_input(*cli(capsys, "replay", f"@{tmp_path / 'missing.txt'}"))
    assert "missing.txt" in line


def _good_token(capsys: pytest.CaptureFixture[str]) -> str:
    rc, data = cli_json(capsys, *FAILING_RUN, "--json")
    assert rc == 1
    return str(data["token"])


def _corrupt(token: str) -> str:
    i = len(token) // 2
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]


@pytest.mark.parametrize(
    ("make", "expect"),
    [
        (_corrupt, "corrupted"),
        (lambda t: t[: len(t) // 2], "corrupted"),
        (lambda t: t[:-3], "corrupted"),
        (lambda t: "shuttle:abcd", "not a pcptrio replay token"),
        (lambda t: "pcptrio1:", "corrupted"),
        (lambda t: "", "not a pcptrio replay token"),
    ],
    ids=["one-char-changed", "truncated-half", "truncated-end", "foreign", "empty", "blank"],
)
def test_replay_bad_tokens_exit_2(
    capsys: pytest.CaptureFixture[str], make: Any, expect: str
) -> None:
    token = make(_good_token(capsys))
    line = assert_bad_input(*cli(capsys, "replay", token))
    assert line.startswith("pcptrio: error:")
    assert expect in line


def test_replay_token_with_foreign_spec_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Tokens that decode but carry a spec pcptrio cannot use are bad input, not crashes."""
    base = {"pcptrio": __version__, "scenario": "count-race", "design": "ipi", "params": {}}
    for spec, expect in [
        ({**base, "scenario": "nosuch"}, "unknown scenario"),
        ({k: v for k, v in base.items() if k != "pcptrio"}, "version"),
        ({k: v for k, v in base.items() if k != "design"}, "design"),
        ({**base, "scenario": {"def": {"name": "x"}}}, "phases"),
    ]:
        line = assert_bad_input(*cli(capsys, "replay", encode_token(spec, [])))
        assert expect in line


def test_replay_token_with_non_dict_params_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    spec = {"pcptrio": __version__, "scenario": "count-race", "design": "ipi", "params": "ab"}
    line = assert_bad_input(*cli(capsys, "replay", encode_token(spec, [])))
    assert "run spec" in line


def _stale_token(capsys: pytest.CaptureFixture[str], design: str, seed: str) -> str:
    """A token whose decisions no longer fit the code (as after a model change): the
    decisions of drain-from-kworker × wq-4.11 under another design's name."""
    rc, data = cli_json(capsys, *FAILING_RUN, "--seed", seed, "--json")
    assert rc == 1
    spec, decisions = decode_token(data["token"])
    return encode_token({**spec, "design": design}, decisions)


@pytest.mark.parametrize(
    ("design", "seed"),
    [
        ("ipi", "0"),
        ("wq-5.0", "1"),
    ],
)
def test_replay_drift_exits_2_without_traceback(
    capsys: pytest.CaptureFixture[str], design: str, seed: str
) -> None:
    token = _stale_token(capsys, design, seed)
    rc, out, err = cli(capsys, "replay", token)
    assert "Traceback" not in out + err
    assert "replay drift at step" in out + err
    assert rc == 2
    # --lenient follows the recording where it fits and runs to the end
    rc, data = cli_json(capsys, "replay", token, "--lenient", "--json")
    assert rc in (0, 1) and data["outcome"] in ("ok", "violation")


def test_replay_drift_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = assert_bad_input(*cli(capsys, "replay", _stale_token(capsys, "ipi", "0")))
    assert "replay drift" in line


def test_replay_names_the_code_a_token_was_recorded_by(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A token carries the code fingerprint that made it; replaying it under other code says
    so (a note beside the result, or inside the drift error), and the same code says nothing."""
    rc, data = cli_json(capsys, *FAILING_RUN, "--json")
    spec, decisions = decode_token(data["token"])
    assert spec["code"] == pcptrio.code_fingerprint() and spec["code"].startswith(__version__)
    rc, out, err = cli(capsys, "replay", data["token"])
    assert rc == 1 and err == ""
    older = encode_token({**spec, "code": "0.0.9+0123456789abcdef"}, decisions)
    rc2, out2, err2 = cli(capsys, "replay", older)
    assert rc2 == 1 and out2.replace(older, data["token"]) == out  # the same run, the note
    assert err2.startswith("pcptrio: note: the token was recorded by other pcptrio code")
    assert "0.0.9+0123456789abcdef" in err2 and pcptrio.code_fingerprint() in err2
    stale = _stale_token(capsys, "ipi", "0")
    s2, d2 = decode_token(stale)
    line = assert_bad_input(*cli(capsys, "replay", encode_token({**s2, "code": "x"}, d2)))
    assert "replay drift" in line and "(recorded by x, this is" in line


# ---------------------------------------------------------------------------- explore


EXPLORE_CLEAN = ["explore", "count-race", "--design", "remote-6.11", "--jobs", "1", "--quiet"]


def test_explore_failing_cell_exits_1_and_token_replays(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, data = cli_json(
        capsys,
        *["explore", "shared-mask-race", "--design", "wq-rfc"],
        *["--schedules", "5", "--jobs", "1", "--quiet", "--json"],
    )
    assert rc == 1
    assert data["verdict"] == "found"
    assert 1 <= data["schedules_run"] <= 5
    f = data["failure"]
    assert f["oracle"] == "drain-completeness"
    assert f["token"].startswith("pcptrio1:")
    assert isinstance(f["steps"], int) and f["steps"] > 0
    assert f["shrink"]["steps_after"] == f["steps"] <= f["shrink"]["steps_before"]

    rc, again = cli_json(capsys, "replay", f["token"], "--json")
    assert rc == 1
    assert again["outcome"] == "violation"
    assert again["violations"][0]["oracle"] == f["oracle"]
    assert again["steps"] == f["steps"]


def test_explore_failing_text(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(
        capsys,
        *["explore", "shared-mask-race", "--design", "wq-rfc"],
        *["--schedules", "5", "--jobs", "1", "--quiet"],
    )
    assert rc == 1 and err == "" and "Traceback" not in out
    assert "FOUND [drain-completeness]" in out
    assert "shrunk:" in out
    assert "interleaving" in out
    assert re.search(r"pcptrio replay pcptrio1:\S+", out)
    assert "A pytest-trio test that replays it:" in out


def test_explore_clean_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    rc, data = cli_json(capsys, *EXPLORE_CLEAN, "--schedules", "3", "--json")
    assert rc == 0
    assert data["verdict"] == "not-found"
    assert data["schedules_run"] == 3
    assert data["failure"] is None
    rc, out, _ = cli(capsys, *EXPLORE_CLEAN, "--schedules", "3")
    assert rc == 0 and "not found: 3 pct-3 schedules, 0 failures" in out


def test_explore_out_and_resume(capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path) -> None:
    f = tmp_path / "f.jsonl"
    rc, first = cli_json(capsys, *EXPLORE_CLEAN, "--schedules", "5", "--out", str(f), "--json")
    assert rc == 0 and first["schedules_run"] == 5
    lines = f.read_text().splitlines()
    assert len(lines) == 5 + 1  # header + one line per schedule
    assert "campaign" in json.loads(lines[0])

    # resuming a finished campaign redoes nothing and answers the same
    rc, second = cli_json(capsys, *EXPLORE_CLEAN, "--schedules", "5", "--resume", str(f), "--json")
    assert rc == 0
    assert second == first
    assert f.read_text().splitlines() == lines

    # an interrupted one (header + 2 schedules) runs only the 3 missing schedules
    g = tmp_path / "g.jsonl"
    g.write_text("\n".join(lines[:3]) + "\n")
    rc, third = cli_json(capsys, *EXPLORE_CLEAN, "--schedules", "5", "--resume", str(g), "--json")
    assert rc == 0 and third == first
    got = g.read_text().splitlines()
    assert len(got) == 5 + 1
    assert got[:3] == lines[:3]
    assert sorted(json.loads(x)["index"] for x in got[1:]) == [0, 1, 2, 3, 4]

    # --out on an existing file needs --resume or --force
    line = assert_bad_input(*cli(capsys, *EXPLORE_CLEAN, "--schedules", "5", "--out", str(f)))
    assert str(f) in line and "--resume" in line
    assert f.read_text().splitlines() == lines
    # --force with a refused setting keeps the file
    assert_bad_input(*cli(capsys, *EXPLORE_CLEAN, "--switch-p", "2", "--out", str(f), "--force"))
    assert f.read_text().splitlines() == lines
    rc, forced = cli_json(
        capsys, *EXPLORE_CLEAN, "--schedules", "5", "--out", str(f), "--force", "--json"
    )
    assert rc == 0 and forced == first
    assert len(f.read_text().splitlines()) == 5 + 1


def test_explore_resume_extends_the_budget(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """A campaign resumed with a larger budget runs only the new schedules and says so."""
    f = tmp_path / "f.jsonl"
    rc, _ = cli_json(capsys, *EXPLORE_CLEAN, "--schedules", "3", "--out", str(f), "--json")
    rc, out, err = cli(capsys, *EXPLORE_CLEAN, "--schedules", "5", "--resume", str(f))
    assert rc == 0 and "5 pct-3 schedules" in out
    assert "2 run at" in out and "3 loaded from" in out
    assert "budget of 5 schedules (it was 3)" in err
    lines = f.read_text().splitlines()
    assert json.loads(lines[0])["campaign"]["schedules"] == 5 and len(lines) == 6


def test_explore_resume_refuses_another_campaign(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    f = tmp_path / "f.jsonl"
    rc, _ = cli_json(capsys, *EXPLORE_CLEAN, "--schedules", "3", "--out", str(f), "--json")
    assert rc == 0
    before = f.read_text()
    args = ("--schedules", "3", "--seed", "5", "--resume", str(f))
    line = assert_bad_input(*cli(capsys, *EXPLORE_CLEAN, *args))
    assert "different campaign (seed: file 0, now 5)" in line
    assert f.read_text() == before
    junk = tmp_path / "junk.jsonl"
    junk.write_text("garbage\n")
    line = assert_bad_input(*cli(capsys, *EXPLORE_CLEAN, "--schedules", "3", "--resume", str(junk)))
    assert "junk.jsonl" in line


# ---------------------------------------------------------------------------- matrix


def test_matrix_json(capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path) -> None:
    rc, out, err = cli(capsys, *MATRIX)
    assert rc == 1 and "Traceback" not in out + err
    data = json.loads(out)
    assert {"designs", "hazards", "cells"} <= set(data)
    assert data["designs"] == ["ipi", "wq-4.11"]
    assert [h["hazard"] for h in data["hazards"]] == ["H3", "H11"]
    assert [h["scenario"] for h in data["hazards"]] == ["shared-mask-race", "drain-from-kworker"]
    assert len(data["cells"]) == 4
    for c in data["cells"]:
        for key in ("hazard", "scenario", "design", "verdict", "schedules", "oracle", "token"):
            assert key in c, key
        assert c["verdict"] in ("found", "not-found", "n/a")
        if c["verdict"] == "found":
            assert 1 <= c["schedules"] <= 3
            assert c["oracle"] == "drain-completeness"
            assert c["token"].startswith("pcptrio1:")
        else:
            assert c["schedules"] == 3 and c["oracle"] is None and c["token"] is None
    cells = {(c["hazard"], c["design"]): c["verdict"] for c in data["cells"]}
    assert cells[("H11", "wq-4.11")] == "found"  # PF_WQ_WORKER return in a kworker
    assert cells[("H11", "ipi")] == "not-found"

    # same seed -> identical JSON; hazard ids and scenario names are interchangeable
    rc2, out2, _ = cli(capsys, *MATRIX)
    assert rc2 == 1 and out2 == out
    by_name = [
        "matrix",
        *["--hazards", "shared-mask-race,h11", "--designs", "ipi,wq-4.11"],
        *["--budget", "3", "--jobs", "1", "--json"],
    ]
    rc3, out3, _ = cli(capsys, *by_name)
    assert rc3 == 1 and out3 == out

    # --out writes the same JSON
    m = tmp_path / "m.json"
    rc4, out4, _ = cli(capsys, *MATRIX, "--out", str(m))
    assert rc4 == 1 and out4 == out
    assert json.loads(m.read_text()) == data
    assert m.read_text().strip() == out.strip()
    line = assert_bad_input(*cli(capsys, *MATRIX, "--out", str(m)))
    assert "--force" in line


def test_matrix_clean_and_not_applicable(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(
        capsys,
        *["matrix", "--hazards", "H11,H1", "--designs", "wq-5.0,remote-6.11"],
        *["--budget", "2", "--jobs", "1"],
    )
    assert rc == 0 and err == ""
    row = next(line for line in out.splitlines() if line.startswith("H1 ipi-vs-preempt-pcp"))
    assert row.split()[-2:] == [".", "n/a"]
    assert "H1 ipi-vs-preempt-pcp × remote-6.11: n/a (" in out
    assert "F = found" in out


def test_matrix_bad_names_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    line = assert_bad_input(*cli(capsys, "matrix", "--hazards", "H99", "--designs", "ipi"))
    assert "H99" in line
    line = assert_bad_input(*cli(capsys, "matrix", "--hazards", "H3", "--designs", "wq-4.1"))
    assert "did you mean 'wq-4.11'" in line
    assert_bad_input(*cli(capsys, "matrix", "--hazards", "H3", "--budget", "0"))


# ---------------------------------------------------------------------------- bench


def test_bench_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, data = cli_json(capsys, *BENCH, "--json")
    assert rc == 0
    cells = data["cells"]
    assert {(c["design"], c["cpus"]) for c in cells} == {
        (d, n) for d in ("ipi", "remote-6.11") for n in (2, 4)
    }
    for c in cells:
        for key in (
            "latency_p50_us",
            "latency_p90_us",
            "latency_max_us",
            "ipis_per_call",
            "works_per_call",
            "pages_per_call",
        ):
            assert isinstance(c[key], int | float) and c[key] >= 0, key
        assert c["latency_max_us"] >= c["latency_p90_us"] >= c["latency_p50_us"] > 0
        assert c["latency_p99_us"] is None  # 3 samples: no p99
        assert c["calls"] == c["samples"] == len(c["latencies_ns"]) + c["returned_at_once"] >= 1
    ipi = {c["cpus"]: c for c in cells if c["design"] == "ipi"}
    assert ipi[4]["ipis_per_call"] > ipi[2]["ipis_per_call"] > 0  # one IPI per other CPU
    assert all(c["ipis_per_call"] == 0 for c in cells if c["design"] == "remote-6.11")
    tp = data["throughput"]
    assert tp["steps_per_s"] > 0 and tp["page_ops_per_s"] > 0 and tp["wall_s"] > 0

    # latencies are virtual time: the same on every run
    rc, again = cli_json(capsys, *BENCH, "--json")
    virtual = ("design", "cpus", "latencies_ns", "pages_per_call", "steps")
    assert [[c[k] for k in virtual] for c in again["cells"]] == [
        [c[k] for k in virtual] for c in cells
    ]


def test_bench_text(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, *BENCH)
    assert rc == 0 and err == ""
    assert re.search(r"design\s+cpus\s+calls\s+at once\s+p50 µs\s+p90 µs\s+p99 µs\s+max µs", out)
    assert "emulator throughput" in out


def test_bench_plot(capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path) -> None:
    png = tmp_path / "x.png"
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        line = assert_bad_input(*cli(capsys, *BENCH, "--plot", str(png)))
        assert "pcptrio[plot]" in line and "matplotlib" in line
        assert not png.exists()
    else:
        rc, out, _ = cli(capsys, *BENCH, "--plot", str(png))
        assert rc == 0 and f"plot written to {png}" in out
        assert png.read_bytes().startswith(b"\x89PNG")
        assert_bad_input(*cli(capsys, *BENCH, "--plot", str(png)))  # exists, no --force


def test_bench_bad_cpus_list(capsys: pytest.CaptureFixture[str]) -> None:
    line = assert_bad_input(*cli(capsys, "bench", "--designs", "ipi", "--cpus-list", "0"))
    assert "--cpus-list" in line
    line = assert_bad_input(*cli(capsys, "bench", "--designs", "ipi", "--cpus-list", "2,1025"))
    assert "1024" in line
    line = assert_bad_input(*cli(capsys, "bench", "--designs", "nope", "--cpus-list", "2"))
    assert "unknown design" in line


def test_bench_non_integer_cpus_list(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        result = cli(capsys, "bench", "--designs", "ipi", "--cpus-list", "2,four")
    except ValueError as exc:  # escapes main(): the console script prints a traceback
        pytest.fail(f"main() raised {exc!r}")
    line = assert_bad_input(*result)
    assert "--cpus-list" in line


# ---------------------------------------------------------------------------- demo


def test_demo(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, "demo")
    assert rc == 1 and err == ""
    assert re.search(r"^found after \d+ schedule\(s\): violation: \[lost-update\]", out, re.M)
    assert re.search(r"^replay token: pcptrio1:\S+$", out, re.M)
    assert "trace identical: True" in out
    assert_bad_input(*cli(capsys, "demo", "--schedules", "0"))


# ---------------------------------------------------------------------------- bad input


@pytest.fixture
def toml_files(tmp_path: pathlib.Path) -> dict[str, str]:
    bad = tmp_path / "broken.toml"
    bad.write_text('name = "x"\nphases = [ { actors = [ { kind = "fill" } ]\n')
    batch_high = tmp_path / "batch-high.toml"
    batch_high.write_text(
        'name = "bh"\n[machine]\n'
        'zones = [{ name = "Normal", pages = 16384, high = 5, batch = 7 }]\n'
        '[[phases]]\nactors = [{ kind = "fill", cpus = "all", pages = 4 }]\n'
    )
    return {
        "bad": str(bad),
        "batch_high": str(batch_high),
        "missing": str(tmp_path / "nowhere.toml"),
    }


RUN_CR = ["run", "count-race", "--design", "remote-6.11"]


BAD_INPUT = [
    (["nosuchcmd"], ["invalid choice", "nosuchcmd"]),
    (["run", "count-rac", "--design", "remote-6.11"], ["did you mean 'count-race'"]),
    (["run", "count-race", "--design", "wq-4.1"], ["did you mean 'wq-4.11'"]),
    ([*RUN_CR, "--cpus", "0"], ["--cpus"]),
    ([*RUN_CR, "--cpus", "9999"], ["1024", "9999"]),
    (["run", "drain-storm", "--design", "remote-6.11", "--cpus", "2"], ["at least 3 CPUs"]),
    ([*RUN_CR, "--param", "nosuch=1"], ["nosuch", "parameters:"]),
    ([*RUN_CR, "--param", "ops=abc"], ["'ops'", "integer", "'abc'"]),
    ([*RUN_CR, "--param", "ops"], ["name=value"]),
    ([*RUN_CR, "--param", "protection=bogus"], ["protection"]),
    ([*RUN_CR, "--depth", "0"], ["--depth"]),
    (["explore", "count-race", "--design", "ipi", "--depth", "0"], ["--depth"]),
    ([*RUN_CR, "--switch-p", "2"], ["--switch-p"]),
    ([*RUN_CR, "--scheduler", "nope"], ["--scheduler", "nope"]),
    ([*RUN_CR, "--seed", "x"], ["--seed"]),
    (["run", "count-race"], ["--design"]),
    (["run", "ipi-vs-preempt-pcp", "--design", "remote-6.11"], ["not applicable"]),
    (["run", "{batch_high}", "--design", "wq-4.11"], ["batch (7)", "high (5)"]),
    (["explore", "{batch_high}", "--design", "wq-4.11", "--jobs", "1"], ["batch", "high"]),
    (["explore", "count-race", "--design", "ipi", "--schedules", "0"], ["--schedules"]),
    (["explore", "count-race", "--design", "ipi", "--jobs", "0"], ["--jobs"]),
    (["run", "{bad}", "--design", "wq-4.11"], ["broken.toml", "malformed TOML"]),
    (["run", "{missing}", "--design", "wq-4.11"], ["nowhere.toml", "no such scenario file"]),
    ([*RUN_CR, "--trace", "/nonexistent-dir/x.jsonl"], ["does not exist"]),
]


@pytest.mark.parametrize(("argv", "expect"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str],
    toml_files: dict[str, str],
    argv: list[str],
    expect: list[str],
) -> None:
    args = [a.format(**toml_files) for a in argv]
    line = assert_bad_input(*cli(capsys, *args))
    for text in expect:
        assert text in line, (text, line)


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Bare ``pcptrio`` is bad input (exit 2) that lists the commands; --help exits 0."""
    line = assert_bad_input(*cli(capsys))
    assert "a command is required" in line and "explore" in line
    rc, out, err = cli(capsys, "--help")
    assert rc == 0 and err == ""
    assert "usage: pcptrio" in out and "exit codes" in out


# ---------------------------------------------------------------------------- the entry point


def _python_m(*args: str) -> subprocess.CompletedProcess[str]:
    root = str(pathlib.Path(pcptrio.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "pcptrio", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_version_and_help_via_python_m() -> None:
    p = _python_m("--version")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"pcptrio {__version__}"
    p = _python_m("--help")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("usage: pcptrio")
    for cmd in ("list", "run", "explore", "replay", "matrix", "bench", "demo"):
        assert cmd in p.stdout
    p = _python_m("run", "count-rac", "--design", "ipi")
    assert p.returncode == 2
    assert p.stdout == "" and len(p.stderr.splitlines()) == 1
    assert "did you mean 'count-race'" in p.stderr


def test_help_and_version_in_process_return_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "usage: pcptrio" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_output_files_are_refused_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """An existing output file is refused up front: no other file is written meanwhile."""
    taken = tmp_path / "b.json"
    taken.write_text("mine")
    fresh = tmp_path / "a.jsonl"
    args = ["run", "count-race", "--design", "ipi", "--trace", str(fresh)]
    line = assert_bad_input(*cli(capsys, *args, "--perfetto", str(taken)))
    assert "exists" in line
    assert not fresh.exists() and taken.read_text() == "mine"
    out = tmp_path / "m.json"
    out.write_text("mine")
    matrix = ["matrix", "--designs", "ipi", "--hazards", "H1", "--out", str(out)]
    assert_bad_input(*cli(capsys, *matrix))
    assert out.read_text() == "mine"


def test_negative_counts_are_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    line = assert_bad_input(*cli(capsys, "run", "steady", "--design", "ipi", "--param", "ops=-5"))
    assert "parameter 'ops' of 'steady' must be within [0, 10000000], got -5" in line
    assert_bad_input(*cli(capsys, "demo", "--incs", "-1"))


def test_dfs_refuses_the_flags_it_cannot_honour(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """--out, --resume and --jobs N > 1 with the dfs scheduler are refused up front (exit 2),
    not silently ignored; no file is written."""
    base = ["explore", "shared-mask-race", "--design", "wq-4.11", "--scheduler", "dfs",
            "--max-preemptions", "1", "--cpus", "2", "--quiet"]  # fmt: skip
    out = tmp_path / "dfs.jsonl"
    line = assert_bad_input(*cli(capsys, *base, "--out", str(out)))
    assert "--scheduler dfs does not support --out" in line
    assert not out.exists()
    line = assert_bad_input(*cli(capsys, *base, "--jobs", "2"))
    assert "--jobs" in line
    rc, _ = cli(capsys, *base, "--jobs", "1")[:2]
    assert rc == 0


def test_progress_bars_start_no_thread_and_show_rate_and_failures() -> None:
    """The terminal display draws from the callbacks: no thread of its own is running when
    the pool forks its workers; it shows the rate and the failures so far."""
    import threading

    from pcptrio.cli import _Bars

    before = threading.active_count()
    bars = _Bars(True, "count-race × ipi")
    try:
        assert threading.active_count() == before
        bars.update(0, 100)
        bars.update(40, 100)
        bars.failure(39)
        bars.update(41, 100)
        assert threading.active_count() == before
        assert bars._prog is not None
        extra = bars._prog.tasks[0].fields["extra"]
        assert extra.endswith("schedules/s, 1 failed"), extra
    finally:
        bars.stop()
